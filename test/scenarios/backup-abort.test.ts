import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBackup, type BackupOptions } from '../../lambdas/core/backup/pipeline.js';
import { fromUrl } from '../../lambdas/core/postgres/connection.js';
import { LifelineError } from '../../lambdas/core/errors.js';
import { sharedPostgres, sharedS3 } from '../support/shared.js';

const pg = sharedPostgres();
const s3 = sharedS3();
let database: string;

beforeAll(async () => {
  database = await pg.createDatabase('abort');
  // Barely compressible: an archive of several 8 MiB parts.
  await pg.query(
    database,
    'CREATE TABLE events (id int, payload text); INSERT INTO events SELECT i, md5(i::text) || md5((-i)::text) || md5((i * 31)::text) FROM generate_series(1, 500000) i;',
  );
});

function options(bucket: string, signal: AbortSignal): BackupOptions {
  return {
    connection: fromUrl(pg.url(database)),
    database: 'events',
    bucket,
    s3: s3.client,
    trigger: 'manual',
    tier: 'auto',
    timeZone: 'UTC',
    signal,
  };
}

describe('a backup stopped by its signal', () => {
  it('aborts its multipart upload in flight and rejects with the LifelineError the signal carries', async () => {
    const bucket = await s3.createBucket('abort');
    const controller = new AbortController();
    const reason = new LifelineError('DatabaseTooLargeForLambda', 'out of time');
    let watching = false;
    // Stop once S3 holds an upload in progress: the abort must clean up a real multipart upload.
    const onProgress = () => {
      if (watching) return;
      watching = true;
      void (async () => {
        while ((await s3.listIncompleteUploads(bucket)).length === 0) await sleep(10);
        controller.abort(reason);
      })();
    };
    const backup = runBackup({ ...options(bucket, controller.signal), onProgress });
    await expect(backup).rejects.toBe(reason);
    expect(controller.signal.aborted).toBe(true);
    expect(await s3.listIncompleteUploads(bucket)).toEqual([]);
    expect(await s3.listKeys(bucket)).toEqual([]);
  });

  it('rejects with Interrupted when the reason is not a LifelineError, before starting anything', async () => {
    const bucket = await s3.createBucket('abort');
    await expect(runBackup(options(bucket, AbortSignal.abort()))).rejects.toMatchObject({ name: 'Interrupted' });
    expect(await s3.listKeys(bucket)).toEqual([]);
  });
});
