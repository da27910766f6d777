import { inject } from 'vitest';
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
