import { Tags, type App } from 'aws-cdk-lib';
import { DEPLOYMENT_TAG } from '../lambdas/core/names.js';
import { AlarmRunsStack, alarmRoutes, backupStalenessAlarms } from './alarms/alarm-runs-stack.js';
import { ApprovalsStack } from './approvals/approvals-stack.js';
import { BackupsStack } from './backup/backups-stack.js';
import { CutoverStack } from './cutover/cutover-stack.js';
import { PitrStack } from './pitr/pitr-stack.js';
import { DrillStack } from './drill/drill-stack.js';
import type { LifelineConfig } from './config/schema.js';
import { groupDatabases } from '../lambdas/core/database-groups.js';
import { RestoreGroupStack } from './restore/restore-group-stack.js';
import { RestoreStack } from './restore/restore-stack.js';
import { VaultStack } from './vault/vault-stack.js';

export interface LifelineStacks {
  readonly vault: VaultStack;
  readonly backups: readonly BackupsStack[];
  /** Only when the config has a `restore` section. */
  readonly restore?: RestoreStack;
  /** With `restore`: one beside each backups stack, numbered as it is. */
  readonly restoreGroups: readonly RestoreGroupStack[];
  /** Only when the config has applications. */
  readonly cutover?: CutoverStack;
  /** Only when the config has `pitr` (which needs `restore`). */
  readonly pitr?: PitrStack;
  /** Only when the config has `drill` (which needs `restore`). */
  readonly drill?: DrillStack;
  /** Only when a database configures alarms or has a staleness alarm that starts a backup. */
  readonly alarms?: AlarmRunsStack;
  /** With any workflow that asks approvals (restore, cutover, PITR): the approve and verify functions, the approvers policy. */
  readonly approvals?: ApprovalsStack;
}

/**
 * Lifeline's stacks for a validated config: `<name>-vault` with what all databases share, and
 * `<name>-backups-<n>` with the databases that hash to stack n (stacks no database hashes to are left out), and,
 * when the config has a `restore` section, `<name>-restore` with the restore workflow and `<name>-restore-<n>` with
 * what restores of backups stack n's databases run on, and, when it has applications, `<name>-cutover` with the
 * cutover workflow, and, when it has `pitr` (beside `restore`), `<name>-pitr` with the point-in-time recovery workflow,
 * and `<name>-alarms` with the runs alarms start (configured alarms, and the staleness alarms that start a backup).
 */
export function addLifelineStacks(app: App, config: LifelineConfig): LifelineStacks {
  const env = config.aws === undefined ? undefined : { account: config.aws.account, region: config.aws.region };
  const vault = new VaultStack(app, `${config.name}-vault`, {
    env,
    config,
    description: 'Lifeline: backup vault, alarm topic, dead-letter queue and backup images',
  });
  const groups = groupDatabases(config.databases, config.backupStacks);
  // By backups stack number (0-based), undefined where no database hashes to it.
  const backupsByStack = groups.map((databases, i) => {
    if (databases.length === 0) return undefined;
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
    return stack;
  });
  const backups = backupsByStack.filter((stack) => stack !== undefined);
  let restore: RestoreStack | undefined;
  let restoreGroups: RestoreGroupStack[] = [];
  if (config.restore !== undefined) {
    const restoreConfig = config.restore;
    const workflow = new RestoreStack(app, `${config.name}-restore`, {
      env,
      config,
      restore: restoreConfig,
      vaultStack: vault,
      description: 'Lifeline: the restore workflow (state machine, runner cluster, steps function, approvals topic)',
    });
    workflow.addStackDependency(vault);
    restoreGroups = groups.flatMap((databases, i) => {
      const backupsStack = backupsByStack[i];
      if (backupsStack === undefined) return [];
      const stack = new RestoreGroupStack(app, `${config.name}-restore-${i + 1}`, {
        env,
        config,
        restore: restoreConfig,
        vaultStack: vault,
        backups: backupsStack,
        stack: i + 1,
        databases,
        description: `Lifeline: restore runner, steps functions and catalog of backups stack ${i + 1}'s ${databases.length} database(s)`,
      });
      stack.addStackDependency(vault);
      stack.addStackDependency(backupsStack);
      // The workflow finds a group by name: deploy the groups first.
      workflow.addStackDependency(stack);
      return [stack];
    });
    restore = workflow;
  }
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
  // PITR reads the restore catalog and starts cutover by name, as restore does.
  let pitr: PitrStack | undefined;
  if (config.pitr !== undefined && restore !== undefined) {
    pitr = new PitrStack(app, `${config.name}-pitr`, {
      env,
      config,
      pitr: config.pitr,
      vaultStack: vault,
      restore: { cluster: restore.cluster, groups: restoreGroups },
      description: 'Lifeline: the point-in-time recovery workflow (state machine, steps functions, approvals topic)',
    });
    pitr.addStackDependency(vault);
    for (const group of restoreGroups) pitr.addStackDependency(group);
  }
  // Drills read the restore catalog for each database's network, as PITR does.
  let drill: DrillStack | undefined;
  if (config.drill !== undefined && config.restore !== undefined) {
    drill = new DrillStack(app, `${config.name}-drill`, {
      env,
      config,
      drill: config.drill,
      restore: config.restore,
      vaultStack: vault,
      description: 'Lifeline: restore drills (state machine, runner, steps function, schedules, alarms)',
    });
    drill.addStackDependency(vault);
    for (const group of restoreGroups) drill.addStackDependency(group);
  }
  // It starts workflows and backup functions by name, as restore starts cutover: no stack needs another first.
  let alarms: AlarmRunsStack | undefined;
  if (alarmRoutes(config).length > 0 || backupStalenessAlarms(config).length > 0) {
    alarms = new AlarmRunsStack(app, `${config.name}-alarms`, {
      env,
      config,
      vaultStack: vault,
      description: 'Lifeline: runs started by alarms (rules, starter function, cool-downs, dead letters)',
    });
    alarms.addStackDependency(vault);
  }
  // Who may approve, for every workflow that asks: the workflows name its verify function, so it is deployed first.
  const workflows = [restore, cutover, pitr].filter((stack) => stack !== undefined);
  const approvals =
    workflows.length === 0
      ? undefined
      : new ApprovalsStack(app, `${config.name}-approvals`, {
          env,
          config,
          vaultStack: vault,
          description: 'Lifeline: who may approve (the <name>-approvers policy), the approve function URL and the approval key',
        });
  approvals?.addStackDependency(vault);
  for (const workflow of workflows) if (approvals) workflow.addStackDependency(approvals);
  for (const stack of [
    vault,
    ...backups,
    ...(restore ? [restore] : []),
    ...restoreGroups,
    ...(cutover ? [cutover] : []),
    ...(pitr ? [pitr] : []),
    ...(drill ? [drill] : []),
    ...(alarms ? [alarms] : []),
    ...(approvals ? [approvals] : []),
  ]) {
    Tags.of(stack).add(DEPLOYMENT_TAG, config.name);
  }
  return { vault, backups, restore, restoreGroups, cutover, pitr, drill, alarms, approvals };
}
