import { z } from 'zod';
import { endpointConnection, type DatabaseEndpoint, type EndpointClients } from '../postgres/endpoints.js';
import { SecretArn } from '../postgres/connection-secrets.js';
import { parseInput } from '../validation.js';
import { DatabaseLabel } from '../vault/keys.js';
import { ObjectLockMode } from '../vault/retention.js';
import { TimeZone } from '../vault/tier.js';
import { runBackup, type BackupOptions, type BackupResult } from './pipeline.js';
import type { BackupRequest } from './request.js';

/**
 * What a backup function backs up and where to, fixed by the deployment in the function's environment
 * (lib/backup/backup-function.ts sets it from the config): a caller of the function chooses only the trigger
 * and the tier.
 */
export interface BackupTarget extends DatabaseEndpoint {
  bucket: string;
  /** Whose calendar decides the monthly and weekly tiers. */
  timeZone: string;
  /** The vault's Object Lock mode, with which each backup is locked until its tier ends. */
  objectLock?: ObjectLockMode;
}

const optional = (value: string | undefined, name: string) => (value === undefined ? {} : { [name]: value });

/** The function's environment variables for `target`. */
export function backupTargetEnvironment(target: BackupTarget): Record<string, string> {
  return {
    LIFELINE_DATABASE: target.label,
    VAULT_BUCKET: target.bucket,
    DATABASE_SECRET_ARN: target.secretArn,
    ...optional(target.host, 'DATABASE_HOST'),
    DATABASE_PORT: String(target.port),
    ...optional(target.databaseName, 'DATABASE_NAME'),
    ...('instanceIdentifier' in target.rds
      ? { RDS_INSTANCE_IDENTIFIER: target.rds.instanceIdentifier }
      : { RDS_CLUSTER_IDENTIFIER: target.rds.clusterIdentifier }),
    BACKUP_TIME_ZONE: target.timeZone,
    ...optional(target.objectLock, 'VAULT_OBJECT_LOCK_MODE'),
  };
}

const Environment = z
  .object({
    LIFELINE_DATABASE: DatabaseLabel,
    VAULT_BUCKET: z.string().min(3),
    DATABASE_SECRET_ARN: SecretArn,
    DATABASE_HOST: z.string().min(1).optional(),
    DATABASE_PORT: z.coerce.number().int().min(1).max(65535),
    DATABASE_NAME: z.string().min(1).optional(),
    RDS_INSTANCE_IDENTIFIER: z.string().min(1).optional(),
    RDS_CLUSTER_IDENTIFIER: z.string().min(1).optional(),
    BACKUP_TIME_ZONE: TimeZone,
    VAULT_OBJECT_LOCK_MODE: ObjectLockMode.optional(),
  })
  .refine((env) => (env.RDS_INSTANCE_IDENTIFIER === undefined) !== (env.RDS_CLUSTER_IDENTIFIER === undefined), {
    message: 'set exactly one of RDS_INSTANCE_IDENTIFIER or RDS_CLUSTER_IDENTIFIER',
  })
  .transform((env): BackupTarget => ({
    label: env.LIFELINE_DATABASE,
    bucket: env.VAULT_BUCKET,
    secretArn: env.DATABASE_SECRET_ARN,
    host: env.DATABASE_HOST,
    port: env.DATABASE_PORT,
    databaseName: env.DATABASE_NAME,
    rds: env.RDS_INSTANCE_IDENTIFIER
      ? { instanceIdentifier: env.RDS_INSTANCE_IDENTIFIER }
      : { clusterIdentifier: env.RDS_CLUSTER_IDENTIFIER! },
    timeZone: env.BACKUP_TIME_ZONE,
    objectLock: env.VAULT_OBJECT_LOCK_MODE,
  }));

/** The target from a backup function's or backup task's environment; a deployment that set it wrong fails with InvalidConfig. */
export function backupTargetFromEnvironment(env: NodeJS.ProcessEnv): BackupTarget {
  return parseInput(Environment, env, 'backup environment', 'InvalidConfig');
}

/**
 * One backup of the deployment's target, as the backup function and the backup task run it. The connection is
 * looked up first, so that an unreadable or rotated-away secret fails the backup like any other failure.
 */
export async function backUpTarget(
  target: BackupTarget,
  request: BackupRequest,
  options: EndpointClients & Pick<BackupOptions, 's3' | 'signal' | 'now'>,
): Promise<BackupResult> {
  const connection = await endpointConnection(target, options);
  const { label: database, bucket, timeZone, objectLock } = target;
  return runBackup({
    ...request,
    database,
    bucket,
    timeZone,
    objectLock,
    connection,
    s3: options.s3,
    signal: options.signal,
    now: options.now,
  });
}
