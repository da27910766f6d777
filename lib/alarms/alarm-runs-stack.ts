import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { alarmCutover, type AlarmRoute } from '../../lambdas/core/alarms/routes.js';
import { pitrWorkflowName, restoreWorkflowName, stalenessAlarmName } from '../../lambdas/core/names.js';
import type { LifelineConfig } from '../config/schema.js';
import type { VaultStack } from '../vault/vault-stack.js';
import { AlarmStarter } from './alarm-starter.js';

/**
 * The configured alarms as the starter reads them: each with its database and, for a `prepare-*` run, the
 * application to cut over (alarmCutover; the schema refuses a choice left open between several).
 */
export function alarmRoutes(config: LifelineConfig): AlarmRoute[] {
  return config.databases.flatMap((db) =>
    db.alarms.map(({ alarmName, action, lookbackMinutes, cutover }) => {
      const applications = config.applications.filter((app) => app.database === db.name).map((app) => app.name);
      const switched = action === 'backup' ? undefined : alarmCutover(cutover, applications);
      return { alarmName, database: db.name, action, lookbackMinutes, ...(switched && { cutover: switched }) };
    }),
  );
}

/** The staleness alarms that start a backup: those of the scheduled databases backed up by a function. */
export function backupStalenessAlarms(config: LifelineConfig): string[] {
  return config.databases
    .filter((db) => db.runMode === 'scheduled' && db.runner === 'lambda')
    .map((db) => stalenessAlarmName(config.name, db.name));
}

export interface AlarmRunsStackProps extends StackProps {
  readonly config: LifelineConfig;
  readonly vaultStack: VaultStack;
}

/**
 * `<name>-alarms`: runs started by alarms. The configured alarms' transitions into ALARM back a database up or
 * prepare its restore or PITR up to the approval; a scheduled database's staleness alarm starts one backup. It names
 * the workflows and backup functions it starts, so it needs none of their stacks deployed first.
 */
export class AlarmRunsStack extends Stack {
  readonly starter: AlarmStarter;

  constructor(scope: Construct, id: string, props: AlarmRunsStackProps) {
    super(scope, id, props);
    const { config, vaultStack } = props;
    this.starter = new AlarmStarter(this, 'Starter', {
      deployment: config.name,
      routes: alarmRoutes(config),
      stalenessAlarms: backupStalenessAlarms(config),
      restoreStateMachineName: config.restore === undefined ? undefined : restoreWorkflowName(config.name),
      pitrStateMachineName: config.pitr === undefined ? undefined : pitrWorkflowName(config.name),
      // The starter runs no PostgreSQL client: any image will do.
      image: vaultStack.newestImage,
      rolePath: vaultStack.vault.runtimeRolePath,
      alarmTopic: vaultStack.notifications.topic,
    });
  }
}
