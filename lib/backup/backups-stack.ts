import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { BackupAlarms } from './backup-alarms.js';
import { BackupDashboard } from './backup-dashboard.js';
import { BackupFunction } from './backup-function.js';
import { BackupNetwork } from './backup-network.js';
import { BackupSchedules, type ScheduledBackup } from './backup-schedules.js';
import { backupFunctionName } from '../config/naming.js';
import { clientMajorFor } from '../config/postgres-clients.js';
import type { DatabaseConfig, LifelineConfig } from '../config/schema.js';
import type { VaultStack } from '../vault/vault-stack.js';

export interface BackupsStackProps extends StackProps {
  readonly config: LifelineConfig;
  /** The databases this stack backs up. */
  readonly databases: readonly DatabaseConfig[];
  readonly vaultStack: VaultStack;
  readonly dashboardName: string;
}

/** Backups of a group of databases: a function, alarms and a schedule for each, a dashboard for all. */
export class BackupsStack extends Stack {
  readonly functions: ReadonlyMap<string, BackupFunction>;

  constructor(scope: Construct, id: string, props: BackupsStackProps) {
    super(scope, id, props);
    const { config, vaultStack } = props;
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const networks = new Map(
      config.networks
        .filter((network) => props.databases.some((db) => db.network === network.name))
        .map((network) => [
          network.name,
          {
            network,
            access: new BackupNetwork(this, `Network-${network.name}`, {
              vpcId: network.vpcId,
              databases: props.databases.filter((db) => db.network === network.name),
              endpointSecurityGroupId: vaultStack.endpointSecurityGroupIds.get(network.name),
            }),
          },
        ]),
    );

    const functions = new Map<string, BackupFunction>();
    const scheduled: ScheduledBackup[] = [];
    const staleness: cloudwatch.IAlarm[] = [];
    for (const db of props.databases) {
      const { network, access } = networks.get(db.network)!;
      const functionName = backupFunctionName(config.name, db.name);
      const backup = new BackupFunction(this, `Backup-${db.name}`, {
        functionName,
        target: {
          database: db.name,
          secretArn: db.secretArn,
          host: db.host,
          port: db.port,
          databaseName: db.databaseName,
          rds: db.rds,
          timeZone: db.schedule.timeZone,
        },
        secretKmsKeyArn: db.secretKmsKeyArn,
        vault: vaultStack.vault,
        image: vaultStack.images.get(clientMajorFor(db.postgresVersion))!,
        subnetIds: network.subnetIds,
        securityGroup: access.securityGroup,
        deadLetterQueue: vaultStack.deadLetters.queue,
        logGroup,
      });
      functions.set(db.name, backup);
      const alarms = new BackupAlarms(this, `Alarms-${db.name}`, {
        alarmNamePrefix: `${config.name}-${db.name}`,
        database: db.name,
        function: backup.function,
        topic: vaultStack.notifications.topic,
        rpoHours: db.runMode === 'scheduled' ? db.rpoHours : undefined,
        shrinkAlarmPercent: db.shrinkAlarmPercent,
      });
      if (alarms.stale) staleness.push(alarms.stale);
      if (db.runMode === 'scheduled') {
        scheduled.push({
          scheduleName: functionName,
          database: db.name,
          function: backup.function,
          cron: db.schedule.cron,
          timeZone: db.schedule.timeZone,
          request: { trigger: 'schedule' },
        });
      }
    }
    this.functions = functions;

    if (scheduled.length > 0) {
      new BackupSchedules(this, 'Schedules', { backups: scheduled, deadLetterQueue: vaultStack.deadLetters.queue });
    }
    new BackupDashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      databases: props.databases.map((db) => db.name),
      alarms: staleness,
    });
  }
}
