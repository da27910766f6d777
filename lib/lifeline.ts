import { Tags, type App } from 'aws-cdk-lib';
import { BackupsStack } from './backup/backups-stack.js';
import { CutoverStack } from './cutover/cutover-stack.js';
import type { LifelineConfig } from './config/schema.js';
import { groupDatabases } from './backup/database-groups.js';
import { RestoreStack } from './restore/restore-stack.js';
import { VaultStack } from './vault/vault-stack.js';

export interface LifelineStacks {
  readonly vault: VaultStack;
  readonly backups: readonly BackupsStack[];
  /** Only when the config has a `restore` section. */
  readonly restore?: RestoreStack;
  /** Only when the config has applications. */
  readonly cutover?: CutoverStack;
}

/**
 * Lifeline's stacks for a validated config: `<name>-vault` with what all databases share, and
 * `<name>-backups-<n>` with the databases that hash to stack n (stacks no database hashes to are left out), and,
 * when the config has a `restore` section, `<name>-restore` with the restore workflow, and, when it has applications,
 * `<name>-cutover` with the cutover workflow.
 */
export function addLifelineStacks(app: App, config: LifelineConfig): LifelineStacks {
  const env = config.aws === undefined ? undefined : { account: config.aws.account, region: config.aws.region };
  const vault = new VaultStack(app, `${config.name}-vault`, {
    env,
    config,
    description: 'Lifeline: backup vault, alarm topic, dead-letter queue and backup images',
  });
  const backups = groupDatabases(config.databases, config.backupStacks).flatMap((databases, i) => {
    if (databases.length === 0) return [];
    const name = `${config.name}-backups-${i + 1}`;
    const stack = new BackupsStack(app, name, {
      env,
      config,
      databases,
      vaultStack: vault,
      dashboardName: name,
      description: `Lifeline: scheduled backups of ${databases.length} database(s)`,
    });
    stack.addStackDependency(vault);
    return [stack];
  });
  // Opt-in: its settings hold a few databases for now (lib/README.md, "The restore workflow's size").
  const restore =
    config.restore === undefined
      ? undefined
      : new RestoreStack(app, `${config.name}-restore`, {
          env,
          config,
          restore: config.restore,
          vaultStack: vault,
          description: 'Lifeline: the restore workflow (state machine, Fargate runner, steps functions, approvals topic)',
        });
  restore?.addStackDependency(vault);
  // Restore starts it by name: neither stack needs the other deployed first.
  const cutover =
    config.applications.length === 0
      ? undefined
      : new CutoverStack(app, `${config.name}-cutover`, {
          env,
          config,
          vaultStack: vault,
          description: 'Lifeline: the cutover workflow (state machine, lock table, steps function)',
        });
  cutover?.addStackDependency(vault);
  for (const stack of [vault, ...backups, ...(restore ? [restore] : []), ...(cutover ? [cutover] : [])]) {
    Tags.of(stack).add('lifeline', config.name);
  }
  return { vault, backups, restore, cutover };
}
