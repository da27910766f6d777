/**
 * The metrics contract: the handlers emit these (Powertools EMF), the alarms and dashboards read them. Units
 * are CloudWatch's unit names, which Powertools' MetricUnit and CDK's cloudwatch.Unit both use.
 */
export const METRICS_NAMESPACE = 'Lifeline';

/** Powertools' service name per Lambda function kind; it becomes the `service` dimension. */
export const SERVICE_NAMES = { backup: 'lifeline-backup', restore: 'lifeline-restore' } as const;

/** The dimension that says which database a metric is about. */
export const DATABASE_DIMENSION = 'Database';

export const BACKUP_METRICS = {
  BackupSucceeded: 'Count',
  BackupFailed: 'Count',
  BackupBytes: 'Bytes',
  BackupDuration: 'Seconds',
  /** How much of its time limit (the function's, less the cleanup margin) a successful backup used. */
  BackupTimeLimitUsed: 'Percent',
  /** A backup stopped at the time limit (DatabaseTooLargeForLambda): the database's backups need a runner without one. */
  BackupTooLargeForLambda: 'Count',
  /** The largest drop from the previous backup of the database, in bytes, total rows or a table's rows. */
  BackupShrinkPercent: 'Percent',
} as const;
export type BackupMetricName = keyof typeof BACKUP_METRICS;

/** The restore workflow's outcome per database, emitted by its steps function when it summarizes or cleans up. */
export const RESTORE_METRICS = {
  RestoreSucceeded: 'Count',
  RestoreFailed: 'Count',
  /** From the execution's start to a validated restore: the recovery time of that path. */
  RestoreSeconds: 'Seconds',
} as const;
export type RestoreMetricName = keyof typeof RESTORE_METRICS;
