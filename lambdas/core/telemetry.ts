import type { BackupResult } from './backup/pipeline.js';

/**
 * The metrics contract: the handlers emit these (Powertools EMF) and the backup runner publishes them (PutMetricData),
 * the alarms and dashboards read them. Units are CloudWatch's unit names, which Powertools' MetricUnit, the SDK's
 * StandardUnit and CDK's cloudwatch.Unit all use.
 */
export const METRICS_NAMESPACE = 'Lifeline';

/** Powertools' service name per Lambda function kind; it becomes the `service` dimension. */
export const SERVICE_NAMES = { backup: 'lifeline-backup', restore: 'lifeline-restore', drill: 'lifeline-drill' } as const;

/** The dimension Powertools names after the service; the backup runner sets it the same way. */
export const SERVICE_DIMENSION = 'service';

/** The dimension that says which database a metric is about. */
export const DATABASE_DIMENSION = 'Database';

export const BACKUP_METRICS = {
  BackupSucceeded: 'Count',
  BackupFailed: 'Count',
  BackupBytes: 'Bytes',
  BackupDuration: 'Seconds',
  /** How much of its time limit (the function's, less the cleanup margin) a successful backup used. */
  BackupTimeLimitUsed: 'Percent',
  /** A backup stopped at the time limit (DatabaseTooLargeForLambda): the database's backups belong on Fargate (`runner: fargate`). */
  BackupTooLargeForLambda: 'Count',
  /** The largest drop from the previous backup of the database, in bytes, total rows or a table's rows. */
  BackupShrinkPercent: 'Percent',
} as const;
export type BackupMetricName = keyof typeof BACKUP_METRICS;

/** What the Fargate backup runner reports: all but the two about Lambda's time limit, which it does not have. */
export type RunnerBackupMetricName = Exclude<BackupMetricName, 'BackupTimeLimitUsed' | 'BackupTooLargeForLambda'>;

/** Values of the runner's metrics, by name. */
export type RunnerBackupMetrics = Partial<Record<RunnerBackupMetricName, number>>;

/** What every successful backup reports, in Lambda and on Fargate. */
export function backupSucceededMetrics(result: BackupResult): RunnerBackupMetrics {
  return {
    BackupSucceeded: 1,
    BackupBytes: result.bytes,
    BackupDuration: result.durationMs / 1000,
    ...(result.manifest.comparison && { BackupShrinkPercent: result.manifest.comparison.shrinkPercent }),
  };
}

/** The restore workflow's outcome per database, emitted by its steps function when it summarizes or cleans up. */
export const RESTORE_METRICS = {
  RestoreSucceeded: 'Count',
  RestoreFailed: 'Count',
  /** From the execution's start to a validated restore: the recovery time of that path. */
  RestoreSeconds: 'Seconds',
} as const;
export type RestoreMetricName = keyof typeof RESTORE_METRICS;

/** A restore drill's outcome per database, emitted by the drill steps function when it concludes, and by its daily check. */
export const DRILL_METRICS = {
  DrillSucceeded: 'Count',
  /** A drill that failed or timed out. */
  DrillFailed: 'Count',
  /** The drill's restore: download, checksum and pg_restore into the throwaway server. */
  RestoreSeconds: 'Seconds',
  /** RestoreSeconds per GiB of the stored archive: the restore time to expect for this database's size. */
  RestoreSecondsPerGiB: 'Seconds',
  /** 1 when no drill of the database passed within its configured days, else 0: the "untested backups" alarm's metric. */
  DrillOverdue: 'Count',
} as const;
export type DrillMetricName = keyof typeof DRILL_METRICS;
