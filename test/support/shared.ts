import { inject } from 'vitest';
import { runBackup } from '../../lambdas/core/backup/pipeline.js';
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

/** A manual daily backup of `database` in `pg`, named `name`, into a new bucket of `s3` (named after it too). */
export async function backUpIntoNewBucket(
  pg: PostgresDatabases,
  s3: S3Buckets,
  database: string,
  name: string,
): Promise<{ bucket: string; key: string }> {
  const bucket = await s3.createBucket(name);
  const { key } = await runBackup({
    connection: fromUrl(pg.url(database)),
    database: name,
    bucket,
    s3: s3.client,
    trigger: 'manual',
    tier: 'daily',
    timeZone: 'UTC',
  });
  return { bucket, key };
}
