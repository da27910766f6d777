import type { RDSClient } from '@aws-sdk/client-rds';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { runBackup, type BackupOptions, type BackupResult } from './pipeline.js';
import type { BackupRequest } from './request.js';
import { fromRdsSecret, parseRdsSecret, type ConnectionSettings } from '../postgres/connection.js';
import { LifelineError } from '../errors.js';
import { DatabaseLabel } from '../vault/keys.js';
import { describeRdsEndpoint, describeRdsResource, type RdsResource } from '../postgres/rds.js';
import { ObjectLockMode } from '../vault/retention.js';
import { readSecretString, SecretArn } from '../postgres/secrets.js';
import { TimeZone } from '../vault/tier.js';
import { parseInput } from '../validation.js';

/**
 * What a backup function backs up and where to, fixed by the deployment in the function's environment
 * (lib/backup/backup-function.ts sets it from the config): a caller of the function chooses only the trigger
 * and the tier.
 */
export interface BackupTarget {
  /** The database's label in the vault. */
  database: string;
  bucket: string;
  secretArn: string;
  /** For secrets without a host (RDS-managed ones); otherwise looked up from `rds`. */
  host?: string;
  /** The port the security groups open, for secrets without one. */
  port: number;
  /** For secrets without a dbname; otherwise looked up from `rds`. */
  databaseName?: string;
  rds: RdsResource;
  /** Whose calendar decides the monthly and weekly tiers. */
  timeZone: string;
  /** The vault's Object Lock mode, with which each backup is locked until its tier ends. */
  objectLock?: ObjectLockMode;
}

/** What reaching a configured database takes: the restore workflow reaches the same servers the same way. */
export type DatabaseEndpoint = Pick<BackupTarget, 'database' | 'secretArn' | 'host' | 'port' | 'databaseName' | 'rds'>;

const optional = (value: string | undefined, name: string) => (value === undefined ? {} : { [name]: value });

/** The function's environment variables for `target`. */
export function backupTargetEnvironment(target: BackupTarget): Record<string, string> {
  return {
    LIFELINE_DATABASE: target.database,
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
    database: env.LIFELINE_DATABASE,
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

export interface ControlPlanes {
  secrets: SecretsManagerClient;
  rds: RDSClient;
}

/**
 * How to reach the target: the secret's fields first, then the config's host, port and database name, then
 * what RDS reports of the instance or cluster, asked only for what is still missing.
 */
export async function targetConnection(target: DatabaseEndpoint, clients: ControlPlanes): Promise<ConnectionSettings> {
  const secretString = await readSecretString(clients.secrets, target.secretArn);
  const secret = parseRdsSecret(secretString);
  let { host, databaseName } = target;
  if ((secret.host ?? host) === undefined || (secret.dbname ?? databaseName) === undefined) {
    const found = await describeRdsEndpoint(clients.rds, target.rds);
    const rds = `RDS ${describeRdsResource(target.rds)}`;
    if (secret.host === undefined && host === undefined) {
      if (found.host === undefined) throw new LifelineError('DatabaseUnreachable', `${rds} has no endpoint yet`);
      if (found.port !== undefined && secret.port === undefined && found.port !== target.port) {
        throw new LifelineError(
          'InvalidConfig',
          `${rds} listens on port ${found.port}, but database "${target.database}" has "port": ${target.port} in the config (the port its security groups open): set it to ${found.port}`,
        );
      }
      host = found.host;
    }
    databaseName ??= found.database;
  }
  if (secret.dbname === undefined && databaseName === undefined) {
    throw new LifelineError(
      'InvalidConfig',
      `no database name for "${target.database}": its secret has no "dbname" and RDS ${describeRdsResource(target.rds)} was created without one; ` +
        `set "databaseName" for database "${target.database}" in the config`,
    );
  }
  return fromRdsSecret(secretString, { host, port: target.port, database: databaseName });
}

/**
 * One backup of the deployment's target, as the backup function and the backup task run it. The connection is
 * looked up first, so that an unreadable or rotated-away secret fails the backup like any other failure.
 */
export async function backUpTarget(
  target: BackupTarget,
  request: BackupRequest,
  options: ControlPlanes & Pick<BackupOptions, 's3' | 'signal' | 'now'>,
): Promise<BackupResult> {
  const connection = await targetConnection(target, options);
  const { database, bucket, timeZone, objectLock } = target;
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
