import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type ListObjectsV2Output,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { backupKey, manifestKeyFor } from '../../../../lambdas/core/vault/keys.js';
import type { BackupManifest } from '../../../../lambdas/core/vault/manifest.js';
import { findBackup, listBackups, readManifest, writeManifest } from '../../../../lambdas/core/vault/backups.js';
import { sharedS3 } from '../../../support/shared.js';

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
    const archives = Array.from({ length: 1100 }, (_, i) =>
      backupKey(i % 3 === 0 ? 'weekly' : 'daily', 'orders', new Date(first + i * 3_600_000)),
    );
    const incomplete = backupKey('daily', 'orders', new Date(first - 86_400_000)); // archive, no manifest
    const orphanManifest = manifestKeyFor(backupKey('daily', 'orders', new Date(first - 2 * 86_400_000))); // manifest, no archive
    // A third unpaired key ahead of the pairs puts the end of the first page between an archive and its manifest.
    const olderIncomplete = backupKey('daily', 'orders', new Date(first - 3 * 86_400_000));
    const otherDatabase = backupKey('monthly', 'billing', new Date(first));
    await put(bucket, [
      ...archives,
      ...archives.map(manifestKeyFor),
      incomplete,
      orphanManifest,
      olderIncomplete,
      otherDatabase,
      manifestKeyFor(otherDatabase),
      'daily/orders/README.txt',
    ]);

    const firstPage = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'daily/orders/' }));
    const lastOnFirstPage = firstPage.Contents!.at(-1)!.Key!;
    expect(firstPage.IsTruncated).toBe(true);
    expect(archives).toContain(lastOnFirstPage);

    const orders = await listBackups(s3.client, bucket, 'orders');
    expect(orders.map((b) => b.key)).toEqual(archives);
    expect(orders[0]).toMatchObject({
      tier: 'weekly',
      database: 'orders',
      startedAt: new Date(first),
      manifestKey: manifestKeyFor(archives[0]!),
    });
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
    await put(
      bucket,
      [genuine, fastClock, forged].flatMap((key) => [key, manifestKeyFor(key)]),
    );

    expect((await listBackups(s3.client, bucket, 'orders')).map((b) => b.key)).toEqual([genuine, fastClock]);
    expect(await findBackup(s3.client, bucket, { database: 'orders', latest: true })).toBe(fastClock);
  });
});

describe('finding a backup', () => {
  const day = (d: number, hour = 2) => new Date(Date.UTC(2026, 10, d, hour));
  const keys = [backupKey('daily', 'orders', day(20)), backupKey('weekly', 'orders', day(21)), backupKey('daily', 'orders', day(22))];

  async function vault(): Promise<string> {
    const bucket = await s3.createBucket('find');
    await put(bucket, [...keys.flatMap((key) => [key, manifestKeyFor(key)]), backupKey('daily', 'orders', day(23))]);
    return bucket;
  }

  it('takes a backup key as given, and refuses one that is not a backup key with InvalidInput', async () => {
    const bucket = await vault();
    expect(await findBackup(s3.client, bucket, { key: keys[0]! })).toBe(keys[0]);
    await expect(findBackup(s3.client, bucket, { key: 'daily/orders/notes.txt' })).rejects.toMatchObject({ name: 'InvalidInput' });
  });

  it('picks the latest backup of any tier, or the latest at or before a time, never one without a manifest', async () => {
    const bucket = await vault();
    expect(await findBackup(s3.client, bucket, { database: 'orders', latest: true })).toBe(keys[2]);
    expect(await findBackup(s3.client, bucket, { database: 'orders', at: day(21) })).toBe(keys[1]);
    expect(await findBackup(s3.client, bucket, { database: 'orders', at: day(22, 1) })).toBe(keys[1]);
    expect(await findBackup(s3.client, bucket, { database: 'orders', at: day(30) })).toBe(keys[2]);
  });

  it('fails with BackupNotFound when nothing is that old, or the database has no backups', async () => {
    const bucket = await vault();
    await expect(findBackup(s3.client, bucket, { database: 'orders', at: day(19) })).rejects.toMatchObject({
      name: 'BackupNotFound',
      message: `no backup of "orders" at or before ${day(19).toISOString()} in s3://${bucket}`,
    });
    await expect(findBackup(s3.client, bucket, { database: 'billing', latest: true })).rejects.toMatchObject({
      name: 'BackupNotFound',
      message: `no backup of "billing" in s3://${bucket}`,
    });
  });
});

describe('reading a manifest', () => {
  const key = backupKey('daily', 'orders', new Date(Date.UTC(2026, 10, 23, 2)));
  const manifest: BackupManifest = {
    manifestVersion: 1,
    database: 'orders',
    tier: 'daily',
    key,
    trigger: 'schedule',
    startedAt: '2026-11-23T02:00:00.000Z',
    finishedAt: '2026-11-23T02:01:00.000Z',
    archive: { format: 'pg_dump-custom', compression: 'zstd', compressionLevel: 3, bytes: 4096, sha256: 'c'.repeat(64) },
    source: { host: 'db.internal', port: 5432, databaseName: 'orders', serverVersion: '15.8', pgDumpVersion: 'pg_dump (PostgreSQL) 15.8' },
    tables: [{ oid: 16390, schema: 'public', name: 'orders', rows: 12, exact: true }],
    latestMigration: null,
  };

  it('returns the manifest written for the backup', async () => {
    const bucket = await s3.createBucket('manifest');
    expect(await writeManifest(s3.client, bucket, manifest)).toBe(manifestKeyFor(key));
    expect(await readManifest(s3.client, bucket, key)).toEqual(manifest);
  });

  it('fails with BackupNotFound when the archive has no manifest (S3 answers NoSuchKey)', async () => {
    const bucket = await s3.createBucket('manifest');
    await put(bucket, [key]);
    await expect(readManifest(s3.client, bucket, key)).rejects.toMatchObject({
      name: 'BackupNotFound',
      message: `no manifest for s3://${bucket}/${key}: it is not a complete backup`,
    });
  });

  it.each([
    ['is not JSON', '{"manifestVersion": 1,'],
    ['does not fit the schema', JSON.stringify({ ...manifest, manifestVersion: 2 })],
    ['describes another backup', JSON.stringify({ ...manifest, key: backupKey('daily', 'orders', new Date(Date.UTC(2026, 10, 22, 2))) })],
  ])('fails with VerificationFailed when the manifest %s', async (_, body) => {
    const bucket = await s3.createBucket('manifest');
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: manifestKeyFor(key), Body: body }));
    await expect(readManifest(s3.client, bucket, key)).rejects.toMatchObject({
      name: 'VerificationFailed',
      message: `manifest s3://${bucket}/${manifestKeyFor(key)} is not a valid version 1 manifest for this key`,
    });
  });
});

/**
 * Failures the S3-compatible server cannot produce, in the shapes the SDK throws them: an S3ServiceException
 * named by S3's error code, with the response's metadata and the error document's extra fields.
 */
describe('S3 failures', () => {
  const bucket = 'vault';
  const credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
  function mockedS3() {
    const client = new S3Client({ region: 'eu-west-1', credentials });
    return { client, s3Mock: mockClient(client) };
  }
  function s3Error(name: string, httpStatusCode: number, message: string, fields: Record<string, string> = {}): S3ServiceException {
    const $metadata = { httpStatusCode, requestId: 'A1B2C3D4E5F6G7H8', extendedRequestId: 'ext', attempts: 1, totalRetryDelay: 0 };
    return Object.assign(new S3ServiceException({ name, $fault: httpStatusCode < 500 ? 'client' : 'server', $metadata, message }), {
      Code: name,
      ...fields,
    });
  }

  it("become StorageFailed naming the operation and S3's code, with nothing of the request's signature or keys", async () => {
    const { client, s3Mock } = mockedS3();
    const signatureFields = {
      AWSAccessKeyId: credentials.accessKeyId,
      StringToSign: 'AWS4-HMAC-SHA256\n20261123T020000Z\n20261123/eu-west-1/s3/aws4_request\n0123abcd',
      SignatureProvided: 'f0e1d2c3b4a5968778695a4b3c2d1e0f',
      CanonicalRequest: 'GET\n/\nlist-type=2&prefix=daily%2F\nhost:vault.s3.eu-west-1.amazonaws.com',
    };
    const message = 'The request signature we calculated does not match the signature you provided. Check your key and signing method.';
    s3Mock.on(ListObjectsV2Command).rejects(s3Error('SignatureDoesNotMatch', 403, message, signatureFields));

    const failure = (await listBackups(client, bucket).catch((error: unknown) => error)) as Error;
    expect(failure).toMatchObject({
      name: 'StorageFailed',
      message: `listing s3://vault/daily/ failed: SignatureDoesNotMatch: ${message}`,
    });
    // What the CLI and the handlers show of an error, and whatever of it serialises.
    const shown = `${failure.name} ${failure.message} ${JSON.stringify(failure)}`;
    for (const secret of [credentials.secretAccessKey, ...Object.values(signatureFields)]) expect(shown).not.toContain(secret);
  });

  it('fail a listing whose second page is refused, rather than answer from the first page alone', async () => {
    const { client, s3Mock } = mockedS3();
    const archive = backupKey('daily', 'orders', new Date(Date.UTC(2026, 10, 23, 2)));
    const firstPage: ListObjectsV2Output = {
      Name: bucket,
      Prefix: 'daily/orders/',
      KeyCount: 2,
      MaxKeys: 1000,
      IsTruncated: true,
      NextContinuationToken: '1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=',
      Contents: [archive, manifestKeyFor(archive)].map((Key) => ({ Key, Size: 10, LastModified: new Date(Date.UTC(2026, 10, 23, 2, 5)) })),
    };
    s3Mock
      .on(ListObjectsV2Command)
      .resolves({ Name: bucket, KeyCount: 0, MaxKeys: 1000, IsTruncated: false })
      .on(ListObjectsV2Command, { Prefix: 'daily/orders/' })
      .resolvesOnce(firstPage)
      .rejectsOnce(s3Error('SlowDown', 503, 'Please reduce your request rate.'));

    await expect(listBackups(client, bucket, 'orders')).rejects.toMatchObject({
      name: 'StorageFailed',
      message: 'listing s3://vault/daily/orders/ failed: SlowDown: Please reduce your request rate.',
    });
    const calls = s3Mock.commandCalls(ListObjectsV2Command);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.args[0].input).toMatchObject({
      Bucket: bucket,
      Prefix: 'daily/orders/',
      ContinuationToken: firstPage.NextContinuationToken,
    });
  });

  it('refusing to read a manifest is StorageFailed, not BackupNotFound: S3 answers 403 for a missing key without s3:ListBucket', async () => {
    const { client, s3Mock } = mockedS3();
    const key = backupKey('daily', 'orders', new Date(Date.UTC(2026, 10, 23, 2)));
    s3Mock.on(GetObjectCommand).rejects(s3Error('AccessDenied', 403, 'Access Denied'));
    await expect(readManifest(client, bucket, key)).rejects.toMatchObject({
      name: 'StorageFailed',
      message: `reading s3://vault/${manifestKeyFor(key)} failed: AccessDenied: Access Denied`,
    });
  });
});
