import { inject } from 'vitest';
import { runBackup, type BackupResult } from '../../lambdas/core/backup/pipeline.js';
import { fromUrl } from '../../lambdas/core/postgres/connection.js';
import { connectPostgres, type PostgresDatabases } from './postgres.js';
import { connectS3, type S3Buckets } from './s3.js';

/** The run's shared PostgreSQL cluster; create a database of your own in it with createDatabase(). */
export function sharedPostgres(): PostgresDatabases {
  return connectPostgres(inject('lifelinePostgres'));
}

/** The run's shared S3 server; create a bucket of your own in it with createBucket(). */
export function sharedS3(): S3Buckets {
  return connectS3(inject('lifelineS3').endpoint);
}

/** What a test backs up: `source` in the shared cluster, labelled `label` in the vault, into `bucket`. */
export interface TestBackup {
  source: string;
  label: string;
  bucket: string;
  tier?: 'auto' | 'daily';
  /** The backup's time (its key and tier), when the test needs one of its own. */
  now?: () => Date;
}

/** A manual backup, as an operator takes one with `lifeline backup`, on the UTC calendar. */
export function backUp(pg: PostgresDatabases, s3: S3Buckets, backup: TestBackup): Promise<BackupResult> {
  return runBackup({
    connection: fromUrl(pg.url(backup.source)),
    database: backup.label,
    bucket: backup.bucket,
    s3: s3.client,
    trigger: 'manual',
    tier: backup.tier ?? 'auto',
    timeZone: 'UTC',
    now: backup.now,
  });
}

/** A manual daily backup of `database` in `pg`, named `name`, into a new bucket of `s3` (named after it too). */
export async function backUpIntoNewBucket(
  pg: PostgresDatabases,
  s3: S3Buckets,
  database: string,
  name: string,
): Promise<{ bucket: string; key: string }> {
  const bucket = await s3.createBucket(name);
  const { key } = await backUp(pg, s3, { source: database, label: name, bucket, tier: 'daily' });
  return { bucket, key };
}
