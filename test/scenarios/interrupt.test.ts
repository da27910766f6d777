import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromUrl } from '../../lambdas/core/postgres/connection.js';
import { runRestore, stagingBytesFor } from '../../lambdas/core/restore/pipeline.js';
import { runCli, startCli } from '../support/cli.js';
import { databaseDigest } from '../support/fixture.js';
import { backUp, sharedPostgres, sharedS3 } from '../support/shared.js';

const pg = sharedPostgres();
const s3 = sharedS3();
const run = promisify(execFile);

let source: string;
let bucket: string;
let key: string;
let archiveBytes: number;
let staging: string;

beforeAll(async () => {
  source = await pg.createDatabase('interrupt');
  // Barely compressible and long enough to restore that a signal lands while the rows load.
  await pg.query(
    source,
    `CREATE SCHEMA app;
     CREATE TABLE app.events (id int, payload text);
     INSERT INTO app.events SELECT i, md5(i::text) || md5((-i)::text) || md5((i * 31)::text) FROM generate_series(1, 500000) i;`,
  );
  bucket = await s3.createBucket('interrupt');
  const backup = await backUp(pg, s3, { source, label: 'events', bucket, tier: 'daily' });
  ({ key, bytes: archiveBytes } = backup);
  staging = await mkdtemp(join(tmpdir(), 'lifeline-staging-'));
});

afterAll(async () => {
  await rm(staging, { recursive: true, force: true });
});

/** Resolves once pg_restore is loading rows into `database`: the restore is under way, with tables created. */
async function whenLoadingRows(database: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const copying = await pg.query('postgres', "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'COPY %'", [database]);
    if (copying.length > 0) return;
    await sleep(10);
  }
  throw new Error(`no COPY into ${database} within a minute`);
}

describe('a restore stopped by a signal', () => {
  it('from the CLI (SIGTERM): removes its staged archive, puts the target back, and exits with Interrupted', async () => {
    const target = await pg.createDatabase('interrupted');
    await pg.query(target, 'CREATE SCHEMA keep; CREATE FUNCTION keep.answer() RETURNS int LANGUAGE sql AS $$ SELECT 42 $$');
    const before = await databaseDigest(pg.url(target));
    const cli = startCli(['restore', '--bucket', bucket, '--key', key, '--staging-dir', staging, '--s3-endpoint', s3.endpoint], {
      TARGET_DATABASE_URL: pg.url(target),
    });
    await whenLoadingRows(target);
    expect(await readdir(staging)).toEqual([expect.stringMatching(/^lifeline-restore-/)]);
    cli.process.kill('SIGTERM');
    const { code, stderr } = await cli.finished;
    expect(stderr).toMatch(
      /lifeline: Interrupted: the restore was interrupted; its staged files were removed; what it had created in \S+ was dropped\n$/,
    );
    expect(code).toBe(143);
    expect(await readdir(staging)).toEqual([]);
    expect(await databaseDigest(pg.url(target))).toEqual(before);
  });

  it('from a caller: drops the database it created', async () => {
    const target = `interrupted_${randomBytes(4).toString('hex')}`;
    const controller = new AbortController();
    const restore = runRestore({
      s3: s3.client,
      bucket,
      selector: { key },
      target: fromUrl(pg.url(target)),
      createTarget: true,
      stagingDir: staging,
      signal: controller.signal,
    });
    await whenLoadingRows(target);
    controller.abort();
    await expect(restore).rejects.toMatchObject({
      name: 'Interrupted',
      message: expect.stringMatching(/the database it had created, \S+, was dropped$/),
    });
    expect(await pg.query('postgres', 'SELECT 1 FROM pg_database WHERE datname = $1', [target])).toEqual([]);
    expect(await readdir(staging)).toEqual([]);
  });
});

describe('a backup stopped by SIGTERM from the CLI', () => {
  it('aborts its multipart upload, stores nothing, and exits with Interrupted', async () => {
    const vault = await s3.createBucket('interrupted-backup');
    const cli = startCli(['backup', '--database', 'events', '--bucket', vault, '--s3-endpoint', s3.endpoint], {
      DATABASE_URL: pg.url(source),
    });
    while ((await s3.listIncompleteUploads(vault)).length === 0 && cli.process.exitCode === null) await sleep(10);
    cli.process.kill('SIGTERM');
    const { code, stderr } = await cli.finished;
    expect(stderr).toMatch(/lifeline: Interrupted: the backup was interrupted; its upload was aborted\n$/);
    expect(code).toBe(143);
    expect(await s3.listIncompleteUploads(vault)).toEqual([]);
    expect(await s3.listKeys(vault)).toEqual([]);
  });
});

// A staging directory with too little room is a tmpfs of 1 MiB, and mounting one takes root.
describe.runIf(process.getuid?.() === 0)('a staging directory of 1 MiB', () => {
  let small: string;

  beforeAll(async () => {
    small = await mkdtemp(join(tmpdir(), 'lifeline-small-'));
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
  });

  afterAll(async () => {
    await run('umount', [small]);
    await rm(small, { recursive: true, force: true });
  });

  it('is room enough for a restore into a new database, which stages only the table of contents', async () => {
    expect(archiveBytes).toBeGreaterThan(10 * 1024 * 1024);
    const target = `roomy_${randomBytes(4).toString('hex')}`;
    const restored = await runCli(
      ['restore', '--bucket', bucket, '--key', key, '--staging-dir', small, '--create-target', '--s3-endpoint', s3.endpoint],
      { TARGET_DATABASE_URL: pg.url(target) },
    );
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    expect(await databaseDigest(pg.url(target))).toEqual(await databaseDigest(pg.url(source)));
    expect(await readdir(small)).toEqual([]);
  });

  it('refuses an in-place restore, which stages the archive, before anything is downloaded, naming the bytes needed and free', async () => {
    const target = await pg.createDatabase('no_room');
    await pg.query(target, 'CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)');
    const before = await databaseDigest(pg.url(target));
    const refused = runRestore({
      s3: s3.client,
      bucket,
      selector: { key },
      target: fromUrl(pg.url(target)),
      inPlace: true,
      stagingDir: small,
    });
    await expect(refused).rejects.toMatchObject({
      name: 'InvalidInput',
      message:
        `staging directory ${small} has 1048576 bytes free; restoring ${key} needs ${stagingBytesFor(archiveBytes)} ` +
        `(the ${archiveBytes}-byte archive decompressed, taken as 6 times larger); choose a directory with more room (stagingDir; --staging-dir in the CLI)`,
    });
    expect(await readdir(small)).toEqual([]);
    expect(await databaseDigest(pg.url(target))).toEqual(before);
  });
});
