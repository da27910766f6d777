import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { backupKey, manifestKeyFor } from '../../../lambdas/core/keys.js';
import { findBackup, listBackups } from '../../../lambdas/core/vault.js';
import { sharedS3 } from '../../support/shared.js';

const s3 = sharedS3();

async function put(bucket: string, keys: string[]) {
  const queue = [...keys];
  const worker = async () => {
    for (let key = queue.pop(); key; key = queue.pop()) {
      await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

describe('listing the vault', () => {
  it('follows pagination past 1,000 keys and lists only archives that have a manifest', async () => {
    const bucket = await s3.createBucket('listing');
    const first = Date.UTC(2026, 0, 1, 3);
    const archives = Array.from({ length: 1100 }, (_, i) => backupKey(i % 3 === 0 ? 'weekly' : 'daily', 'orders', new Date(first + i * 3_600_000)));
    const incomplete = backupKey('daily', 'orders', new Date(first - 86_400_000)); // archive, no manifest
    const orphanManifest = manifestKeyFor(backupKey('daily', 'orders', new Date(first - 2 * 86_400_000))); // manifest, no archive
    const otherDatabase = backupKey('monthly', 'billing', new Date(first));
    await put(bucket, [
      ...archives,
      ...archives.map(manifestKeyFor),
      incomplete,
      orphanManifest,
      otherDatabase,
      manifestKeyFor(otherDatabase),
      'daily/orders/README.txt',
    ]);

    const orders = await listBackups(s3.client, bucket, 'orders');
    expect(orders.map((b) => b.key)).toEqual(archives);
    expect(orders[0]).toMatchObject({ tier: 'weekly', database: 'orders', startedAt: new Date(first), manifestKey: manifestKeyFor(archives[0]!) });
    expect(orders[0]!.bytes).toBe(archives[0]!.length);

    const everything = await listBackups(s3.client, bucket);
    expect(everything).toHaveLength(1101);
    expect(everything.map((b) => b.database)).toContain('billing');
  });

  it('ignores a backup whose key claims a start after its objects were written: a forgery posing as the latest', async () => {
    const bucket = await s3.createBucket('forged');
    const now = Date.now();
    const genuine = backupKey('daily', 'orders', new Date(now - 3_600_000));
    // Within the 15 minutes a writer's clock may run ahead of S3's: a genuine key can look like this.
    const fastClock = backupKey('daily', 'orders', new Date(now + 10 * 60_000));
    const forged = backupKey('daily', 'orders', new Date(now + 86_400_000));
    await put(bucket, [genuine, fastClock, forged].flatMap((key) => [key, manifestKeyFor(key)]));

    expect((await listBackups(s3.client, bucket, 'orders')).map((b) => b.key)).toEqual([genuine, fastClock]);
    expect(await findBackup(s3.client, bucket, { database: 'orders', latest: true })).toBe(fastClock);
  });
});
