/**
 * Nothing a backup run does can erase or replace the history: every write is create-only and locked until its
 * tier ends, and a backup that shrank is recorded as such.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { PART_SIZE, runBackup, type BackupOptions, type BackupResult } from '../../lambdas/core/backup/pipeline.js';
import { fromUrl } from '../../lambdas/core/postgres/connection.js';
import { createS3Client } from '../../lambdas/core/vault/s3.js';
import { listBackups, readManifest, writeManifest } from '../../lambdas/core/vault/backups.js';
import { runCli } from '../support/cli.js';
import { sharedPostgres, sharedS3 } from '../support/shared.js';

const pg = sharedPostgres();
const s3 = sharedS3();
const DAY = 86_400_000;

/** The SHA-256 of every object in the bucket, by key. */
async function contents(bucket: string): Promise<Record<string, string>> {
  const entries = await Promise.all(
    (await s3.listKeys(bucket)).map(async (key) => {
      const object = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const bytes = await object.Body!.transformToByteArray();
      return [key, createHash('sha256').update(bytes).digest('hex')] as const;
    }),
  );
  return Object.fromEntries(entries);
}

describe('a backup over an existing one', () => {
  const startedAt = new Date();
  /** Each write request the engine sent to S3, with its parameters. */
  const writes: { command: string; input: Record<string, unknown> }[] = [];
  let options: BackupOptions;
  let first: BackupResult;
  let before: Record<string, string>;

  beforeAll(async () => {
    // Random text compresses about 2:1, so the archive needs more than one part: a multipart upload.
    const database = await pg.createDatabase('history');
    await pg.query(
      database,
      `CREATE TABLE filler AS
      SELECT g AS id, md5(random()::text) || md5(random()::text) || md5(random()::text) AS body FROM generate_series(1, 250000) g`,
    );
    const client = createS3Client({ endpoint: s3.endpoint });
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (/^(PutObject|CreateMultipartUpload|CompleteMultipartUpload)Command$/.test(context.commandName!)) {
          writes.push({ command: context.commandName!, input: args.input as Record<string, unknown> });
        }
        return next(args);
      },
      { step: 'initialize' },
    );
    options = {
      connection: fromUrl(pg.url(database)),
      database: 'filler',
      bucket: await s3.createBucket('history'),
      s3: client,
      trigger: 'manual',
      tier: 'weekly',
      timeZone: 'UTC',
      objectLock: 'COMPLIANCE',
      now: () => startedAt,
    };
    first = await runBackup(options);
    before = await contents(options.bucket);
  });

  it("was written create-only, archive and manifest locked in the vault's mode until their tier ends", () => {
    expect(first.bytes).toBeGreaterThan(PART_SIZE);
    const lock = { ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: new Date(startedAt.getTime() + 29 * DAY) };
    expect(writes).toEqual([
      { command: 'CreateMultipartUploadCommand', input: expect.objectContaining({ Key: first.key, ...lock }) },
      { command: 'CompleteMultipartUploadCommand', input: expect.objectContaining({ Key: first.key, IfNoneMatch: '*' }) },
      { command: 'PutObjectCommand', input: expect.objectContaining({ Key: first.manifestKey, IfNoneMatch: '*', ...lock }) },
    ]);
  });

  it('fails with BackupExists when its archive would replace the stored one, and changes nothing', async () => {
    await expect(runBackup(options)).rejects.toMatchObject({
      name: 'BackupExists',
      message: `upload to s3://${options.bucket}/${first.key} refused: the object already exists, and backups are never replaced`,
    });
    expect(await contents(options.bucket)).toEqual(before);
    expect(await s3.listIncompleteUploads(options.bucket)).toEqual([]);
    expect(await readManifest(s3.client, options.bucket, first.key)).toEqual(first.manifest);
  });

  it('fails with BackupExists when a manifest would replace the stored one, and changes nothing', async () => {
    const forged = { ...first.manifest, tables: [], archive: { ...first.manifest.archive, sha256: '0'.repeat(64) } };
    await expect(writeManifest(s3.client, options.bucket, forged)).rejects.toMatchObject({ name: 'BackupExists' });
    expect(await contents(options.bucket)).toEqual(before);
    expect(await listBackups(s3.client, options.bucket, 'filler')).toHaveLength(1);
  });
});

describe('a backup that shrank', () => {
  it('records, against the previous backup, the rows and tables it lost, and the CLI shows it', async () => {
    const database = await pg.createDatabase('shrink');
    await pg.query(
      database,
      `CREATE TABLE orders (id int PRIMARY KEY, note text);
      INSERT INTO orders SELECT g, repeat('order ', 20) FROM generate_series(1, 1000) g;
      CREATE TABLE customers (id int PRIMARY KEY); INSERT INTO customers SELECT generate_series(1, 100);
      CREATE TABLE legacy (id int); INSERT INTO legacy SELECT generate_series(1, 20);`,
    );
    const bucket = await s3.createBucket('shrink');
    const backup = () =>
      runCli(['backup', '--database', 'shop', '--bucket', bucket, '--s3-endpoint', s3.endpoint, '--tier', 'daily', '--json'], {
        DATABASE_URL: pg.url(database),
      });
    const firstRun = await backup();
    expect(firstRun.code, firstRun.stderr).toBe(0);
    const firstKey = JSON.parse(firstRun.stdout).key as string;
    expect((await readManifest(s3.client, bucket, firstKey)).comparison).toBeUndefined();

    await pg.query(database, 'DELETE FROM orders WHERE id > 50; DROP TABLE legacy; INSERT INTO customers SELECT generate_series(101, 110)');
    const secondRun = await runCli(['backup', '--database', 'shop', '--bucket', bucket, '--s3-endpoint', s3.endpoint, '--tier', 'daily'], {
      DATABASE_URL: pg.url(database),
    });
    expect(secondRun.code, secondRun.stderr).toBe(0);
    const [second] = (await listBackups(s3.client, bucket, 'shop')).slice(-1);
    const { comparison, archive } = await readManifest(s3.client, bucket, second!.key);
    expect(comparison).toEqual({
      previousKey: firstKey,
      bytes: {
        previous: (await readManifest(s3.client, bucket, firstKey)).archive.bytes,
        current: archive.bytes,
        dropPercent: expect.any(Number),
      },
      rows: { previous: 1120, current: 160, dropPercent: 85.7 },
      shrunkTables: [
        { schema: 'public', name: 'legacy', previousRows: 20, rows: null, dropPercent: 100 },
        { schema: 'public', name: 'orders', previousRows: 1000, rows: 50, dropPercent: 95 },
      ],
      shrinkPercent: 100,
    });
    expect(comparison!.bytes.dropPercent).toBeGreaterThan(50);
    expect(secondRun.stdout).toContain(`  compared with ${firstKey}: largest drop 100%\n`);
    expect(secondRun.stdout).toContain('    public.legacy: gone (had 20 rows)\n');
    expect(secondRun.stdout).toContain('    public.orders: 1000 -> 50 rows (-95%)\n');
  });
});
