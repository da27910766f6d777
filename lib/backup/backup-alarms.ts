import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import {
  BACKUP_METRICS,
  DATABASE_DIMENSION,
  METRICS_NAMESPACE,
  SERVICE_DIMENSION,
  SERVICE_NAMES,
  type BackupMetricName,
} from '../../lambdas/core/telemetry.js';

/** A metric the backup handler or the backup task reports for one database (Powertools adds the `service` dimension). */
export function backupMetric(metricName: BackupMetricName, database: string, options: cloudwatch.MetricOptions): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { [SERVICE_DIMENSION]: SERVICE_NAMES.backup, [DATABASE_DIMENSION]: database },
    unit: BACKUP_METRICS[metricName] as cloudwatch.Unit,
    ...options,
  });
}

export interface BackupAlarmsProps {
  readonly alarmNamePrefix: string;
  readonly database: string;
  /**
   * The backup function, for a database backed up in Lambda: its errors count as failed backups, and its time limit is
   * watched. A Fargate backup has no time limit, and what its runner cannot report the cluster's rule does (BackupCluster).
   */
  readonly function?: lambda.IFunction;
  readonly topic: sns.ITopic;
  /** Hours without a successful backup before the staleness alarm fires; undefined for on-demand databases. */
  readonly rpoHours?: number;
  /** A backup that shrank by more than this percent from the previous one raises the shrink alarm. */
  readonly shrinkAlarmPercent: number;
}

/** Percent of its time limit beyond which a backup is close to outgrowing Lambda. */
export const NEAR_TIME_LIMIT_PERCENT = 50;

/**
 * A database's backup alarms: a failed run, a run close to Lambda's time limit (for a function), a backup much smaller
 * than the one before, and no success within its RPO.
 */
export class BackupAlarms extends Construct {
  readonly failed: cloudwatch.Alarm;
  readonly nearTimeLimit?: cloudwatch.Alarm;
  readonly shrunk: cloudwatch.Alarm;
  readonly stale?: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: BackupAlarmsProps) {
    super(scope, id);
    const notify = (alarm: cloudwatch.Alarm) => {
      alarm.addAlarmAction(new actions.SnsAction(props.topic));
      alarm.addOkAction(new actions.SnsAction(props.topic));
      return alarm;
    };
    const period = Duration.minutes(5);

    const failed = backupMetric('BackupFailed', props.database, { statistic: 'Sum', period });
    this.failed = notify(
      new cloudwatch.Alarm(this, 'Failed', {
        alarmName: `${props.alarmNamePrefix}-backup-failed`,
        alarmDescription:
          props.function === undefined
            ? `A backup of ${props.database} failed. Its logs name the cause; the task tries twice more, and a request given up is in the dead-letter queue.`
            : `A backup of ${props.database} failed or was given up. Its logs name the cause; a retry may already be running, and a request given up is in the dead-letter queue.`,
        // The handler counts the failures it sees; Lambda's Errors also counts the ones it cannot (timeout, out of
        // memory); AsyncEventsDropped counts the requests Lambda dead-lettered after the last retry or at their
        // maximum age, including those that never ran (throttled), which the shared queue's alarm cannot name.
        // The backup task counts every failed attempt itself.
        metric:
          props.function === undefined
            ? failed
            : new cloudwatch.MathExpression({
                expression: 'FILL(failed, 0) + FILL(errors, 0) + FILL(dropped, 0)',
                usingMetrics: {
                  failed,
                  errors: props.function.metricErrors({ statistic: 'Sum', period }),
                  dropped: props.function.metric('AsyncEventsDropped', { statistic: 'Sum', period }),
                },
                period,
              }),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        threshold: 1,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    // A warning while there is still time: past the limit the backup fails with DatabaseTooLargeForLambda.
    if (props.function !== undefined) {
      this.nearTimeLimit = notify(
        new cloudwatch.Alarm(this, 'NearTimeLimit', {
          alarmName: `${props.alarmNamePrefix}-backup-near-time-limit`,
          alarmDescription: `A backup of ${props.database} used more than ${NEAR_TIME_LIMIT_PERCENT}% of the time Lambda allows it. Once it needs more, it stops and fails with DatabaseTooLargeForLambda: move its backups to the Fargate runner, which has no time limit, with "runner": "fargate" for this database in the config.`,
          metric: backupMetric('BackupTimeLimitUsed', props.database, { statistic: 'Maximum', period: Duration.hours(1) }),
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          threshold: NEAR_TIME_LIMIT_PERCENT,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    // A wiped or dropped table still makes a "successful" backup. One data point per backup; missing data keeps
    // the state, so the alarm stays raised until a later backup shows no large drop.
    this.shrunk = notify(
      new cloudwatch.Alarm(this, 'Shrunk', {
        alarmName: `${props.alarmNamePrefix}-backup-shrunk`,
        alarmDescription: `A backup of ${props.database} shrank by over ${props.shrinkAlarmPercent}% (bytes, rows or a table's rows). Its manifest's "comparison" says what fell.`,
        metric: backupMetric('BackupShrinkPercent', props.database, { statistic: 'Maximum', period }),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        threshold: props.shrinkAlarmPercent,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.IGNORE,
      }),
    );

    if (props.rpoHours !== undefined) {
      // Hourly periods, all of the last rpoHours without a success: "no backup for rpoHours hours". Periods of
      // an hour allow an evaluation range of up to 7 days.
      this.stale = notify(
        new cloudwatch.Alarm(this, 'Stale', {
          alarmName: `${props.alarmNamePrefix}-backup-stale`,
          alarmDescription: `No successful backup of ${props.database} in the last ${props.rpoHours} hours (its RPO).`,
          metric: backupMetric('BackupSucceeded', props.database, { statistic: 'Sum', period: Duration.hours(1) }),
          comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
          threshold: 1,
          evaluationPeriods: props.rpoHours,
          datapointsToAlarm: props.rpoHours,
          // No data is exactly what a missing backup looks like.
          treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        }),
      );
    }
  }
}
