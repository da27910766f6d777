import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fromUrl } from '../../lambdas/core/postgres/connection.js';
import { runRestore } from '../../lambdas/core/restore/pipeline.js';
import { serverBinDir } from '../support/postgres.js';
import { backUp, sharedPostgres, sharedS3 } from '../support/shared.js';

const pg = sharedPostgres();
const s3 = sharedS3();
const CANARY = 'canary-7f3a9c';

let scratch: string;
let bin: string;
let seen: string; // one file per child started: the environment it was given

/**
 * pg_dump, pg_restore and zstd behind wrappers that record the environment they were started with and then
 * run the real program, so that the real backup and restore run and every child's environment can be read.
 */
async function wrap(name: string, real: string) {
  const script = `#!/bin/sh\nenv > '${seen}/${name}.'$$\nexec '${real}' "$@"\n`;
  await writeFile(path.join(bin, name), script);
  await chmod(path.join(bin, name), 0o755);
}

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'lifeline-child-env-'));
  bin = path.join(scratch, 'bin');
  seen = path.join(scratch, 'seen');
  await Promise.all([mkdir(bin), mkdir(seen)]);
  await wrap('pg_dump', path.join(serverBinDir(), 'pg_dump'));
  await wrap('pg_restore', path.join(serverBinDir(), 'pg_restore'));
  await wrap('zstd', execFileSync('sh', ['-c', 'command -v zstd'], { encoding: 'utf8' }).trim());
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await rm(scratch, { recursive: true, force: true });
});

describe('child processes', () => {
  it('never inherit the process environment: no AWS credentials, no stray PG* variables', async () => {
    const source = await pg.createDatabase('child_env');
    const target = await pg.createDatabase('child_env_target');
    await pg.query(source, 'CREATE TABLE notes (id int PRIMARY KEY); INSERT INTO notes SELECT generate_series(1, 10);');
    const bucket = await s3.createBucket('child-env');
    // Stray libpq settings; AWS credentials are in this process's environment already (see connectS3).
    vi.stubEnv('PGPASSWORD', CANARY);
    vi.stubEnv('PGSERVICE', CANARY);
    expect(process.env.AWS_SECRET_ACCESS_KEY).toBeTruthy();
    vi.stubEnv('PG_BIN_DIR', bin);
    vi.stubEnv('PATH', `${bin}:${process.env.PATH}`);

    const backup = await backUp(pg, s3, { source, label: 'notes', bucket, tier: 'daily' });
    await runRestore({ s3: s3.client, bucket, selector: { key: backup.key }, target: fromUrl(pg.url(target)) });
    expect(backup.manifest.source.pgDumpVersion).toMatch(/^pg_dump \(PostgreSQL\) \d+/);

    const children = (await readdir(seen)).sort();
    // pg_dump: the dump and --version; zstd: compress, read the table of contents, unpack; pg_restore: list
    // (verifying the backup), list with dependencies (planning the restore), restore the definitions (in one
    // transaction), then the rows and indexes.
    expect(children.map((file) => file.split('.')[0]).sort()).toEqual([
      'pg_dump',
      'pg_dump',
      'pg_restore',
      'pg_restore',
      'pg_restore',
      'pg_restore',
      'zstd',
      'zstd',
      'zstd',
    ]);
    for (const file of children) {
      const env = await readFile(path.join(seen, file), 'utf8');
      expect(env, file).not.toContain(CANARY);
      expect(env, file).not.toMatch(/^AWS_/m);
    }
  });
});
