import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { runBackup } from '../core/backup.js';
import { BackupRequest } from '../core/backup-request.js';
import { fromUrl } from '../core/connection.js';
import { LifelineError } from '../core/errors.js';
import { createS3Client } from '../core/s3.js';
import { connectionFromSecret } from '../core/secrets.js';
import { BACKUP_METRICS, DATABASE_DIMENSION, METRICS_NAMESPACE, SERVICE_NAMES, type BackupMetricName } from '../core/telemetry.js';
import { parseInput } from '../core/validation.js';

const logger = new Logger({ serviceName: SERVICE_NAMES.backup });
const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAMES.backup });
const addMetric = (name: BackupMetricName, value: number) => metrics.addMetric(name, BACKUP_METRICS[name], value);
const s3 = createS3Client();
const secrets = new SecretsManagerClient({});

export interface BackupResponse {
  key: string;
  manifestKey: string;
  bytes: number;
  sha256: string;
  tier: string;
  durationMs: number;
}

/** Backs up one database; started by EventBridge Scheduler, the console, the CLI or a pipeline. */
export async function handler(event: unknown): Promise<BackupResponse> {
  const request = parseInput(BackupRequest, event, 'backup request');
  const bucket = request.bucket ?? process.env.VAULT_BUCKET;
  if (!bucket) throw new LifelineError('InvalidInput', 'bucket: not in the request and VAULT_BUCKET is not set');
  logger.appendKeys({ database: request.database, trigger: request.trigger });
  metrics.addDimension(DATABASE_DIMENSION, request.database);
  try {
    // Inside the try: an unreadable or rotated-away secret must count as a failed backup too.
    const connection = request.secretArn
      ? await connectionFromSecret(secrets, request.secretArn, { sslRootCert: process.env.PGSSLROOTCERT })
      : fromUrl(request.databaseUrl!);
    const result = await runBackup({ ...request, bucket, connection, s3 });
    addMetric('BackupSucceeded', 1);
    addMetric('BackupBytes', result.bytes);
    addMetric('BackupDuration', result.durationMs / 1000);
    logger.info('backup stored', { key: result.key, tier: result.tier, bytes: result.bytes, sha256: result.sha256 });
    const { key, manifestKey, bytes, sha256, tier, durationMs } = result;
    return { key, manifestKey, bytes, sha256, tier, durationMs };
  } catch (error) {
    addMetric('BackupFailed', 1);
    logger.error('backup failed', { errorName: (error as Error).name, reason: (error as Error).message });
    throw error;
  } finally {
    metrics.publishStoredMetrics();
    logger.removeKeys(['database', 'trigger']);
  }
}
