import type { S3Client } from '@aws-sdk/client-s3';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { archiveEntries, decompressFile, tableEntry } from './archive.js';
import { pgBinary, startChild } from './child-process.js';
import { connectClient, describe, libpqEnv, redact, type ConnectionSettings } from './connection.js';
import { DigestTap } from './digest.js';
import { LifelineError } from './errors.js';
import { countRows, listUserTables } from './inventory.js';
import type { BackupManifest, TableRowCount } from './manifest.js';
import { findBackup, openObject, readManifest, storage, type BackupSelector } from './vault.js';

export interface RestoreOptions {
  s3: S3Client;
  bucket: string;
  selector: BackupSelector;
  /** An existing, empty database; never the backup's source. */
  target: ConnectionSettings;
  /** Table-level recovery into a side database: only these tables, optionally only within these schemas.
   * Each comes with its rows and the schemas, types and functions it may need; like `pg_restore -t`, not
   * with its defaults, constraints, indexes or triggers. */
  tables?: string[];
  schemas?: string[];
  /** pg_restore worker processes. */
  jobs?: number;
  /** Where the archive is staged; needs room for the uncompressed archive. */
  stagingDir?: string;
  onProgress?: (bytes: number) => void;
  now?: () => Date;
}

export interface RestoredTable {
  schema: string;
  name: string;
  rows: number;
  /** The count the manifest recorded at backup time, and whether it was exact. */
  expectedRows: number;
  expectedExact: boolean;
}

export interface RestoreResult {
  key: string;
  target: string;
  tables: RestoredTable[];
  durationMs: number;
}

/** A libpq conninfo value, so that pg_restore never mistakes a database name for a connection string. */
function conninfoValue(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function selectedTables(manifest: BackupManifest, options: RestoreOptions): TableRowCount[] {
  const { tables, schemas } = options;
  const selected = manifest.tables.filter((t) => (!tables || tables.includes(t.name)) && (!schemas || schemas.includes(t.schema)));
  for (const name of tables ?? []) {
    if (!selected.some((t) => t.name === name)) {
      const where = schemas ? ` in schemas ${schemas.join(', ')}` : '';
      throw new LifelineError('InvalidInput', `tables: "${name}" is not in backup ${manifest.key}${where}`);
    }
  }
  for (const schema of schemas ?? []) {
    if (!selected.some((t) => t.schema === schema)) {
      throw new LifelineError('InvalidInput', `schemas: "${schema}" has no selected tables in backup ${manifest.key}`);
    }
  }
  return selected;
}

/** Refuses the backup's own source and any target that already holds tables: nothing there is touched. */
async function assertTargetIsFree(client: pg.Client, target: ConnectionSettings, manifest: BackupManifest) {
  const { source } = manifest;
  if (target.host === source.host && target.port === source.port && target.database === source.databaseName) {
    throw new LifelineError('InvalidInput', `target ${describe(target)} is the source of backup ${manifest.key}; restore into a new database`);
  }
  const existing = await listUserTables(client);
  if (existing.length > 0) {
    const names = existing.slice(0, 5).map((t) => `${t.schema}.${t.name}`).join(', ');
    const more = existing.length > 5 ? ', ...' : '';
    throw new LifelineError('InvalidInput', `target ${describe(target)} is not empty (${names}${more}); restore into a new database`);
  }
}

/** Objects a restored table may depend on; none of them holds rows. */
const PREREQUISITE = /^\d+; \d+ \d+ (SCHEMA|EXTENSION|TYPE|SHELL TYPE|DOMAIN|FUNCTION|PROCEDURE|AGGREGATE|COLLATION) /;

/** A pg_restore use-list (-L) holding the selected tables, their rows and their prerequisites. */
async function writeUseList(archive: string, restoring: TableRowCount[], dir: string): Promise<string> {
  const wanted = restoring.flatMap(({ oid }) => [tableEntry(oid, 'TABLE'), tableEntry(oid, 'TABLE DATA')]);
  const entries = (await archiveEntries(archive)).filter((line) => PREREQUISITE.test(line) || wanted.some((w) => w.test(line)));
  const path = join(dir, 'use-list');
  await writeFile(path, `${entries.join('\n')}\n`);
  return path;
}

/** Downloads the archive while hashing it; nothing reaches pg_restore unless it matches the manifest. */
async function stageVerified(options: RestoreOptions, manifest: BackupManifest, dir: string): Promise<string> {
  const compressed = join(dir, 'archive.dump.zst');
  const tap = new DigestTap(undefined, options.onProgress);
  await storage(`downloading s3://${options.bucket}/${manifest.key}`, async () =>
    pipeline(await openObject(options.s3, options.bucket, manifest.key), tap, createWriteStream(compressed)),
  );
  const sha256 = tap.sha256();
  if (tap.bytes !== manifest.archive.bytes || sha256 !== manifest.archive.sha256) {
    throw new LifelineError(
      'ChecksumMismatch',
      `archive s3://${options.bucket}/${manifest.key} does not match its manifest ` +
        `(${tap.bytes} bytes, sha256 ${sha256}; expected ${manifest.archive.bytes} bytes, sha256 ${manifest.archive.sha256}); nothing was restored`,
    );
  }
  const archive = join(dir, 'archive.dump');
  await decompressFile(compressed, archive);
  await rm(compressed);
  return archive;
}

/**
 * Restores a backup into a separate database: archive staged and checked against the manifest's SHA-256
 * first, then `pg_restore --no-owner --exit-on-error -j N`, then every restored table counted and compared
 * with the counts taken at backup time.
 */
export async function runRestore(options: RestoreOptions): Promise<RestoreResult> {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const jobs = options.jobs ?? 1;
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) {
    throw new LifelineError('InvalidInput', `jobs: must be a whole number from 1 to 64, not ${jobs}`);
  }
  const { s3, bucket, target } = options;
  const key = await findBackup(s3, bucket, options.selector);
  const manifest = await readManifest(s3, bucket, key);
  const restoring = selectedTables(manifest, options);
  const partial = options.tables !== undefined || options.schemas !== undefined;

  const dir = await mkdtemp(join(options.stagingDir ?? tmpdir(), 'lifeline-restore-'));
  let client: pg.Client | undefined;
  try {
    client = await connectClient(target);
    await assertTargetIsFree(client, target, manifest);
    const archive = await stageVerified(options, manifest, dir);
    const selection = partial ? ['--use-list', await writeUseList(archive, restoring, dir)] : [];
    await startChild({
      command: pgBinary('pg_restore'),
      args: ['--no-owner', '--exit-on-error', `--jobs=${jobs}`, '--no-password', `--dbname=dbname=${conninfoValue(target.database)}`, ...selection, archive],
      env: libpqEnv(target),
      stdio: ['ignore', 'ignore', 'pipe'],
      failure: 'RestoreFailed',
      redact: (text) => redact(text, target),
    }).exited;

    const tables: RestoredTable[] = [];
    for (const table of restoring) {
      const { schema, name, rows: expectedRows, exact: expectedExact } = table;
      tables.push({ schema, name, rows: await countRows(client, table), expectedRows, expectedExact });
    }
    const wrong = tables.filter((t) => t.expectedExact && t.rows !== t.expectedRows);
    if (wrong.length > 0) {
      const detail = wrong.map((t) => `${t.schema}.${t.name}: ${t.rows} rows, expected ${t.expectedRows}`).join('; ');
      throw new LifelineError('VerificationFailed', `restored ${describe(target)} differs from backup ${key}: ${detail}`);
    }
    return { key, target: describe(target), tables, durationMs: now().getTime() - startedAt.getTime() };
  } finally {
    await client?.end().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
