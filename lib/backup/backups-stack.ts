import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { BackupAlarms } from './backup-alarms.js';
import { BackupCluster } from './backup-cluster.js';
import { BackupDashboard } from './backup-dashboard.js';
import { BackupFunction } from './backup-function.js';
import { BackupSchedules, type ScheduledBackup } from './backup-schedules.js';
import { BackupTask } from './backup-task.js';
import { backupFunctionName } from '../../lambdas/core/names.js';
import { clientMajorFor } from '../config/postgres-clients.js';
import { RuntimeNetwork } from '../runtime/runtime-network.js';
import type { DatabaseConfig, LifelineConfig } from '../config/schema.js';
import type { VaultStack } from '../vault/vault-stack.js';

export interface BackupsStackProps extends StackProps {
  readonly config: LifelineConfig;
  /** The databases this stack backs up. */
  readonly databases: readonly DatabaseConfig[];
  readonly vaultStack: VaultStack;
  readonly dashboardName: string;
}

/**
 * Backups of a group of databases: a function (or, for `runner: "fargate"`, a Fargate task in the stack's cluster),
 * alarms and a schedule for each, a dashboard for all.
 */
export class BackupsStack extends Stack {
  readonly functions: ReadonlyMap<string, BackupFunction>;
  readonly tasks: ReadonlyMap<string, BackupTask>;
  /** Only when a database of the stack is backed up on Fargate. */
  readonly cluster?: BackupCluster;
  /** By network name: the security group the stack's backups, and the restores beside them, reach their databases through. */
  readonly networks: ReadonlyMap<string, RuntimeNetwork>;

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
            access: new RuntimeNetwork(this, `Network-${network.name}`, {
              vpcId: network.vpcId,
              databases: props.databases.filter((db) => db.network === network.name),
              endpointSecurityGroupId: vaultStack.endpointSecurityGroupIds.get(network.name),
              usedBy: { group: 'Lifeline backup functions', rules: 'Lifeline backups' },
            }),
          },
        ]),
    );

    this.networks = new Map([...networks].map(([name, { access }]) => [name, access]));

    const cluster = props.databases.some((db) => db.runner === 'fargate')
      ? new BackupCluster(this, 'Cluster', { topic: vaultStack.notifications.topic, logGroup })
      : undefined;
    const functions = new Map<string, BackupFunction>();
    const tasks = new Map<string, BackupTask>();
    const scheduled: ScheduledBackup[] = [];
    const staleness: cloudwatch.IAlarm[] = [];
    for (const db of props.databases) {
      const { network, access } = networks.get(db.network)!;
      const name = backupFunctionName(config.name, db.name);
      const runtime = {
        target: {
          label: db.name,
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
      };
      const schedule = { scheduleName: name, database: db.name, cron: db.schedule.cron, timeZone: db.schedule.timeZone };
      const request = db.runMode === 'scheduled' ? ({ trigger: 'schedule' } as const) : {};
      let backupFunction: BackupFunction | undefined;
      if (db.runner === 'fargate') {
        const task = new BackupTask(this, `Backup-${db.name}`, {
          ...runtime,
          family: name,
          size: db.fargate,
          request,
          cluster: cluster!.cluster,
        });
        tasks.set(db.name, task);
        if (db.runMode === 'scheduled') scheduled.push({ ...schedule, task });
      } else {
        backupFunction = new BackupFunction(this, `Backup-${db.name}`, { ...runtime, functionName: name });
        functions.set(db.name, backupFunction);
        if (db.runMode === 'scheduled') scheduled.push({ ...schedule, function: backupFunction.function, request });
      }
      const alarms = new BackupAlarms(this, `Alarms-${db.name}`, {
        alarmNamePrefix: `${config.name}-${db.name}`,
        database: db.name,
        function: backupFunction?.function,
        topic: vaultStack.notifications.topic,
        rpoHours: db.runMode === 'scheduled' ? db.rpoHours : undefined,
        shrinkAlarmPercent: db.shrinkAlarmPercent,
      });
      if (alarms.stale) staleness.push(alarms.stale);
    }
    this.functions = functions;
    this.tasks = tasks;
    this.cluster = cluster;

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
