import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PART_SIZE, runBackup } from '../../lambdas/core/backup/pipeline.js';
import { fromUrl } from '../../lambdas/core/postgres/connection.js';
import { runRestore } from '../../lambdas/core/restore/pipeline.js';
import { createS3Client } from '../../lambdas/core/vault/s3.js';
import { listBackups } from '../../lambdas/core/vault/backups.js';
import { runCli } from '../support/cli.js';
import { databaseDigest } from '../support/fixture.js';
import { startPostgres, type PostgresCluster } from '../support/postgres.js';
import { sharedPostgres, sharedS3 } from '../support/shared.js';

const pg = sharedPostgres();
const s3 = sharedS3();

/** Nothing that looks like a backup: no object, no manifest, no multipart upload in progress. */
async function expectEmptyVault(bucket: string) {
  expect(await s3.listKeys(bucket)).toEqual([]);
  expect(await s3.listIncompleteUploads(bucket)).toEqual([]);
}

async function smallDatabase(): Promise<string> {
  const name = await pg.createDatabase('fault');
  await pg.query(
    name,
    `CREATE TABLE notes (id int PRIMARY KEY, body text);
    INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 5000) g;`,
  );
  return name;
}

describe('a server that dies mid-dump', () => {
  let cluster: PostgresCluster;
  beforeAll(async () => {
    cluster = await startPostgres();
    // Random text does not compress, so the dump runs long enough to be cut off part-way.
    await cluster.query(
      'postgres',
      `CREATE TABLE filler AS
      SELECT g AS id, md5(random()::text) || md5(random()::text) || md5(random()::text) AS body
      FROM generate_series(1, 2000000) g`,
    );
  });
  afterAll(() => cluster.stop());

  it('fails the backup with pg_dump named and leaves no object, manifest or upload', async () => {
    const bucket = await s3.createBucket('killed');
    let killing: Promise<void> | undefined;
    const backup = runBackup({
      connection: fromUrl(cluster.url()),
      database: 'filler',
      bucket,
      s3: s3.client,
      trigger: 'manual',
      tier: 'daily',
      timeZone: 'UTC',
      // Past two parts, so that a multipart upload is under way and must be aborted.
      onProgress: (bytes) => {
        if (bytes > 2 * PART_SIZE) killing ??= cluster.kill();
      },
    });
    await expect(backup).rejects.toMatchObject({ name: 'DumpFailed', message: expect.stringMatching(/^pg_dump (exited|was killed)/) });
    expect(killing).toBeDefined();
    await killing;
    await expectEmptyVault(bucket);
  });
});

describe('an archive that changes in the bucket before it is verified', () => {
  /** A client whose HeadObject (the first step of verification) is preceded by `tamper` on the real server. */
  function tamperingClient(tamper: (key: string) => Promise<unknown>) {
    const client = createS3Client({ endpoint: s3.endpoint });
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'HeadObjectCommand') await tamper((args.input as { Key: string }).Key);
        return next(args);
      },
      { step: 'initialize' },
    );
    return client;
  }

  it.each([
    ['truncated', (bytes: Buffer) => bytes.subarray(0, bytes.length - 1), /holds \d+ bytes, expected \d+/],
    ['replaced by bytes of the same size', (bytes: Buffer) => Buffer.alloc(bytes.length, 7), /(zstd|pg_restore) exited with code/],
  ])(
    'fails verification when %s, and leaves no backup: the archive stays without a manifest, which nothing lists',
    async (_, damage, message) => {
      const database = await smallDatabase();
      const bucket = await s3.createBucket('tampered');
      const client = tamperingClient(async (key) => {
        const object = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const bytes = Buffer.from(await object.Body!.transformToByteArray());
        await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: damage(bytes) }));
      });
      await expect(
        runBackup({
          connection: fromUrl(pg.url(database)),
          database: 'notes',
          bucket,
          s3: client,
          trigger: 'manual',
          tier: 'daily',
          timeZone: 'UTC',
        }),
      ).rejects.toMatchObject({ name: 'VerificationFailed', message: expect.stringMatching(message) });
      // The runtime may not delete: the archive waits for its tier's lifecycle rule.
      expect(await s3.listKeys(bucket)).toEqual([expect.stringMatching(/^daily\/notes\/.*\.dump$/)]);
      expect(await s3.listIncompleteUploads(bucket)).toEqual([]);
      expect(await listBackups(s3.client, bucket, 'notes')).toEqual([]);
    },
  );
});

describe('an unreachable S3 endpoint', () => {
  it('fails with StorageFailed naming the operation, whether listing the vault or uploading', async () => {
    const database = await smallDatabase();
    const options = {
      connection: fromUrl(pg.url(database)),
      database: 'notes',
      trigger: 'manual' as const,
      tier: 'daily' as const,
      timeZone: 'UTC',
    };
    const unreachable = createS3Client({ endpoint: 'http://127.0.0.1:9' });
    await expect(runBackup({ ...options, bucket: 'vault', s3: unreachable })).rejects.toMatchObject({
      name: 'StorageFailed',
      message: expect.stringMatching(/^listing s3:\/\/vault\/daily\/notes\/ failed: .*ECONNREFUSED/),
    });
    // Listing reaches the server; the upload's requests go to a port nothing listens on.
    const bucket = await s3.createBucket('uploads-unreachable');
    const uploadsUnreachable = createS3Client({ endpoint: s3.endpoint });
    uploadsUnreachable.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PutObjectCommand' || context.commandName === 'CreateMultipartUploadCommand') {
          (args.request as { port?: number }).port = 9;
        }
        return next(args);
      },
      { step: 'finalizeRequest' },
    );
    await expect(runBackup({ ...options, bucket, s3: uploadsUnreachable })).rejects.toMatchObject({
      name: 'StorageFailed',
      message: expect.stringMatching(/^upload to s3:\/\/uploads-unreachable-\w+\/daily\/notes\/.* failed: .*ECONNREFUSED/),
    });
  });
});

describe('a wrong password', () => {
  it('fails without the password appearing in any output, and stores nothing', async () => {
    const database = await smallDatabase();
    const bucket = await s3.createBucket('wrong-password');
    const wrong = 'Wr0ng-Pa55word-Zebra';
    const url = pg.url(database).replace(encodeURIComponent(pg.password), wrong);
    const fromEnv = await runCli(['backup', '--database', 'notes', '--bucket', bucket, '--s3-endpoint', s3.endpoint], {
      DATABASE_URL: url,
    });
    const fromArgv = await runCli([
      'backup',
      '--database-url',
      url,
      '--database',
      'notes',
      '--bucket',
      bucket,
      '--s3-endpoint',
      s3.endpoint,
      '--json',
    ]);
    for (const run of [fromEnv, fromArgv]) {
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        /DatabaseUnreachable: cannot connect to postgres@127\.0\.0\.1:\d+\/fault_\w+: password authentication failed/,
      );
      expect(run.stdout + run.stderr).not.toContain(wrong);
      expect(run.stdout + run.stderr).not.toContain(pg.password);
    }
    expect(fromArgv.stderr).toMatch(/warning: --database-url carries a password on the command line/);
    expect(fromArgv.stdout).toBe('');
    await expectEmptyVault(bucket);
  });
});

describe('a corrupted archive in the bucket', () => {
  it('is refused before anything is written to the target', async () => {
    const database = await smallDatabase();
    const bucket = await s3.createBucket('corrupted');
    const { key } = await runBackup({
      connection: fromUrl(pg.url(database)),
      database: 'notes',
      bucket,
      s3: s3.client,
      trigger: 'manual',
      tier: 'auto',
      timeZone: 'UTC',
    });
    const object = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const bytes = Buffer.from(await object.Body!.transformToByteArray());
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff; // same size, one flipped byte
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));

    const target = await pg.createDatabase('corrupted_target');
    const before = await databaseDigest(pg.url(target));
    await expect(runRestore({ s3: s3.client, bucket, selector: { key }, target: fromUrl(pg.url(target)) })).rejects.toMatchObject({
      name: 'ChecksumMismatch',
      message: expect.stringMatching(/does not match its manifest .*nothing was restored/),
    });
    expect(await databaseDigest(pg.url(target))).toEqual(before);
    expect(Object.keys(before.tables)).toEqual([]);
  });

  it('is not a backup at all without its manifest', async () => {
    const bucket = await s3.createBucket('no-manifest');
    const key = 'daily/notes/2026/01/02/notes-20260102T030405.000Z.dump';
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'partial' }));
    await expect(runRestore({ s3: s3.client, bucket, selector: { key }, target: fromUrl(pg.url()) })).rejects.toMatchObject({
      name: 'BackupNotFound',
      message: expect.stringMatching(/no manifest for .*: it is not a complete backup/),
    });
    await expect(
      runRestore({ s3: s3.client, bucket, selector: { database: 'notes', latest: true }, target: fromUrl(pg.url()) }),
    ).rejects.toMatchObject({ name: 'BackupNotFound' });
  });
});
