import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import type { BackupMetricName } from '../../lambdas/core/telemetry.js';
import { backupMetric } from './backup-alarms.js';

export interface BackupDashboardProps {
  readonly dashboardName: string;
  readonly databases: readonly string[];
  /** Staleness alarms, shown as a status row. */
  readonly alarms: readonly cloudwatch.IAlarm[];
}

/** Per-database backup age, size and duration, one line per database. */
export class BackupDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: BackupDashboardProps) {
    super(scope, id);
    const hour = Duration.hours(1);
    const day = Duration.days(1);
    // Age = now minus the time of the latest success: EPOCH of a gap-free series gives "now" at every point,
    // and the success times, carried forward with FILL(..., REPEAT), give "latest success".
    const age = props.databases.map(
      (database, i) =>
        new cloudwatch.MathExpression({
          expression: `(EPOCH(FILL(ok${i}, 0)) - FILL(IF(ok${i} > 0, EPOCH(ok${i})), REPEAT)) / 3600`,
          usingMetrics: { [`ok${i}`]: backupMetric('BackupSucceeded', database, { statistic: 'Sum', period: hour }) },
          label: database,
          period: hour,
        }),
    );
    const perDatabase = (metricName: Extract<BackupMetricName, 'BackupBytes' | 'BackupDuration'>) =>
      props.databases.map((database) => backupMetric(metricName, database, { statistic: 'Maximum', period: day, label: database }));

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.days(14),
      widgets: [
        props.alarms.length === 0
          ? []
          : [new cloudwatch.AlarmStatusWidget({ title: 'Backup staleness (RPO)', alarms: [...props.alarms], width: 24 })],
        [
          new cloudwatch.GraphWidget({
            title: 'Backup age (hours since the last successful backup)',
            left: age,
            leftYAxis: { min: 0, label: 'hours', showUnits: false },
            width: 24,
            height: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Backup size',
            left: perDatabase('BackupBytes'),
            leftYAxis: { min: 0 },
            width: 12,
            height: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Backup duration',
            left: perDatabase('BackupDuration'),
            leftYAxis: { min: 0 },
            width: 12,
            height: 8,
          }),
        ],
      ],
    });
  }
}
