import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { backupSummary, type BackupSummary } from '../core/backup/pipeline.js';
import { BackupRequest } from '../core/backup/request.js';
import { backupTargetFromEnvironment, backUpTarget } from '../core/backup/target.js';
import { lambdaDeadline, type LambdaContext } from '../core/deadline.js';
import { createRdsClient } from '../core/postgres/rds.js';
import { createS3Client } from '../core/vault/s3.js';
import {
  BACKUP_METRICS,
  backupSucceededMetrics,
  DATABASE_DIMENSION,
  METRICS_NAMESPACE,
  SERVICE_NAMES,
  type BackupMetricName,
} from '../core/telemetry.js';
import { parseInput } from '../core/validation.js';

const logger = new Logger({ serviceName: SERVICE_NAMES.backup });
const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAMES.backup });
const addMetric = (name: BackupMetricName, value: number) => metrics.addMetric(name, BACKUP_METRICS[name], value);
const s3 = createS3Client();
const secrets = new SecretsManagerClient({});
const rds = createRdsClient();

/** What a scheduled run that must not be retried returns instead of throwing. */
export interface BackupFailure {
  error: { name: string; message: string };
}

/**
 * Backs up the function's database; started by EventBridge Scheduler, the console, the CLI or a pipeline.
 * A backup that cannot finish in time fails with DatabaseTooLargeForLambda: thrown to a synchronous caller,
 * returned by a scheduled or alarm-started run, whose retries would only repeat the same dump.
 */
export async function handler(event: unknown, context: LambdaContext): Promise<BackupSummary | BackupFailure> {
  const request = parseInput(BackupRequest, event, 'backup request');
  const target = backupTargetFromEnvironment(process.env);
  const deadline = lambdaDeadline(target.label, context.getRemainingTimeInMillis());
  logger.appendKeys({ database: target.label, trigger: request.trigger });
  metrics.addDimension(DATABASE_DIMENSION, target.label);
  try {
    const result = await backUpTarget(target, request, { secrets, rds, s3, signal: deadline.signal });
    const timeLimitUsed = deadline.usedPercent();
    for (const [name, value] of Object.entries(backupSucceededMetrics(result))) addMetric(name as BackupMetricName, value);
    addMetric('BackupTimeLimitUsed', timeLimitUsed);
    logger.info('backup stored', { key: result.key, tier: result.tier, bytes: result.bytes, sha256: result.sha256, timeLimitUsed });
    return backupSummary(result);
  } catch (error) {
    const { name, message } = error as Error;
    addMetric('BackupFailed', 1);
    logger.error('backup failed', { errorName: name, reason: message });
    if (name === 'DatabaseTooLargeForLambda') {
      addMetric('BackupTooLargeForLambda', 1);
      // Lambda retries an asynchronous run that throws, whatever the error: a scheduled run, and one an alarm asked
      // for (invoked asynchronously by the alarm starter), report it instead.
      if (request.trigger === 'schedule' || request.trigger === 'alarm') return { error: { name, message } };
    }
    throw error;
  } finally {
    deadline.clear();
    metrics.publishStoredMetrics();
    logger.removeKeys(['database', 'trigger']);
  }
}
