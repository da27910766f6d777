/**
 * One backup through the engine, what the handler runs once it has its connection settings, in a process of
 * its own so that a test can run it as another user. The request (its URL carries a password) comes on stdin;
 * the outcome goes out as the last line on stdout.
 */
import { text } from 'node:stream/consumers';
import { runBackup } from '../../lambdas/core/backup/pipeline.js';
import { fromUrl } from '../../lambdas/core/postgres/connection.js';
import { createS3Client } from '../../lambdas/core/vault/s3.js';

const { databaseUrl, bucket } = JSON.parse(await text(process.stdin)) as { databaseUrl: string; bucket: string };
const outcome = await runBackup({
  connection: fromUrl(databaseUrl),
  database: 'orders',
  bucket,
  s3: createS3Client(),
  trigger: 'manual',
  tier: 'auto',
  timeZone: 'UTC',
}).then(
  ({ key }) => ({ key }),
  (error: Error) => ({ error: { name: error.name, message: error.message } }),
);
process.stdout.write(`\n${JSON.stringify(outcome)}\n`);
