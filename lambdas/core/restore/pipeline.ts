import type { S3Client } from '@aws-sdk/client-s3';
import { rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline as streamPipeline, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { abortError, throwIfAborted } from '../abort.js';
import { archiveContents, archiveScript, decompressStage, type ArchiveEntry } from '../archive/format.js';
import { ArchiveSplitter, type ArchiveHead, type SplitPlan } from '../archive/split.js';
import { pgBinary, runPipeline, startPipeline } from '../child-process.js';
import { describe, libpqEnv, redact, type ConnectionSettings } from '../postgres/connection.js';
import { DigestTap } from '../digest.js';
import { LifelineError } from '../errors.js';
import { countRows, hasChildren } from '../postgres/inventory.js';
import type { BackupManifest, TableRowCount } from '../vault/manifest.js';
import { assertCanActAs } from '../postgres/ownership.js';
import { isPrivilegeEntry, missingRoles, rolesInPrivilegeSql } from '../archive/privileges.js';
import { openTarget, type UndoableTarget } from './target.js';
import { makeStagingDirectory } from './staging.js';
import { RowLoaders } from './row-loaders.js';
import { selectedTables, selectTables } from '../archive/table-selection.js';
import { findBackup, openObject, readManifest, storage, type BackupSelector } from '../vault/backups.js';

export interface RestoreOptions {
  s3: S3Client;
  bucket: string;
  selector: BackupSelector;
  /**
   * Never the backup's source, unless `inPlace`. An existing database without tables, unless `createTarget`; on
   * failure it is left as it was: what the restore created in it is dropped, and nothing that was there before is touched.
   */
  target: ConnectionSettings;
  /** Create the target database (through the server's `postgres` database), and drop it again on failure. */
  createTarget?: boolean;
  /**
   * The role the restored objects belong to (`pg_restore --role`), and the created database's owner: the
   * application's, so that it can use them. The target's user must be able to act as it (checked first).
   */
  role?: string;
  /**
   * Restore over an existing database, the backup's source included (`pg_restore --clean --if-exists
   * --single-transaction`): objects of the archive are dropped and restored, objects it lacks stay. One
   * transaction, so one job; a failure before the commit leaves the database as it was. Only ever after a human
   * approved it: the restore workflow asks before it writes.
   */
  inPlace?: boolean;
  /**
   * Table-level recovery into a side database: only these tables, optionally only within these schemas.
   * Each comes with its rows and what its definition needs (schemas, types, functions, sequences); like
   * `pg_restore -t`, not with its defaults, constraints, indexes or triggers (see `leftOut` in the result).
   */
  tables?: string[];
  schemas?: string[];
  /**
   * Restore GRANTs and REVOKEs (default). Every role they name must exist on the target's server, which is
   * checked before anything is written; false skips them (`pg_restore --no-privileges`).
   */
  privileges?: boolean;
  /** Connections loading the rows as they arrive, and pg_restore's worker processes for what follows them. */
  jobs?: number;
  /**
   * Count every restored table and compare it with the manifest (default); a table whose rows were loaded as they
   * arrived counts the rows its COPYs reported. The restore workflow leaves this to its ValidateRestore step, which counts again as
   * the application's role: counting twice would add to the RTO.
   */
  verifyRows?: boolean;
  /**
   * Where the archive's table of contents is staged (default: the OS temp directory); in place, the whole archive,
   * which needs `stagingBytesFor(archive bytes)` free.
   */
  stagingDir?: string;
  /**
   * Stops the restore (SIGINT/SIGTERM): what was staged is removed and the target put back as it was. It
   * rejects with `signal.reason` when that is a LifelineError, else with Interrupted.
   */
  signal?: AbortSignal;
  onProgress?: (bytes: number) => void;
  now?: () => Date;
}

export interface RestoredTable {
  schema: string;
  name: string;
  rows: number;
  /** The count the manifest recorded at backup time. */
  expectedRows: number;
  /**
   * `exact`: the rows must match the count. `estimate`: the manifest holds the planner's estimate (tables over
   * EXACT_COUNT_MAX_BYTES are not counted during the backup), and the rows must come within ESTIMATE_TOLERANCE of it.
   */
  check: 'exact' | 'estimate';
  passed: boolean;
}

export interface RestoreResult {
  key: string;
  target: string;
  /** Empty when the caller counts them itself (`verifyRows: false`). */
  tables: RestoredTable[];
  /** What a table-level recovery left out of the selected tables (their indexes, constraints, ...); empty for a full restore. */
  leftOut: string[];
  durationMs: number;
}

/** How far a restored table may be from a row estimate, either way, as a share of the estimate. */
export const ESTIMATE_TOLERANCE = 0.1;

/**
 * An in-place restore stages the archive decompressed (one pg_restore transaction needs a file), and the manifest
 * does not record that size: it is taken as this many times the archive, the bound the restore workflow sizes
 * the runner's disk with for it. It is no hard bound (highly repetitive text, such as log lines, compresses further):
 * an archive that decompresses larger fails while staging, before anything is written to the target.
 */
export const DECOMPRESSED_PER_ARCHIVE_BYTE = 6;

/** The free space a restore's staging directory needs for an archive of `archiveBytes`. */
export function stagingBytesFor(archiveBytes: number): number {
  return archiveBytes * DECOMPRESSED_PER_ARCHIVE_BYTE;
}

const INTERRUPTED = 'the restore was interrupted; its staged files were removed';

/** A libpq conninfo value, so that pg_restore never mistakes a database name for a connection string. */
function conninfoValue(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function assertNotSource(target: ConnectionSettings, manifest: BackupManifest): void {
  const { source } = manifest;
  if (target.host === source.host && target.port === source.port && target.database === source.databaseName) {
    throw new LifelineError(
      'InvalidInput',
      `target ${describe(target)} is the source of backup ${manifest.key}; restore into a new database`,
    );
  }
}

/** Refuses a staging directory without room for the decompressed archive, before downloading. */
async function assertStagingRoom(dir: string, manifest: BackupManifest): Promise<void> {
  const fix = 'choose a directory with more room (stagingDir; --staging-dir in the CLI)';
  let free: number;
  try {
    const stats = await statfs(dir);
    free = stats.bavail * stats.bsize;
  } catch (error) {
    throw new LifelineError('InvalidInput', `staging directory ${dir} cannot be used (${(error as NodeJS.ErrnoException).code}); ${fix}`);
  }
  const needed = stagingBytesFor(manifest.archive.bytes);
  if (free < needed) {
    throw new LifelineError(
      'InvalidInput',
      `staging directory ${dir} has ${free} bytes free; restoring ${manifest.key} needs ${needed} ` +
        `(the ${manifest.archive.bytes}-byte archive decompressed, taken as ${DECOMPRESSED_PER_ARCHIVE_BYTE} times larger); ${fix}`,
    );
  }
}

async function writeUseList(dir: string, name: string, entries: ArchiveEntry[]): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `${entries.map((entry) => entry.line).join('\n')}\n`);
  return path;
}

/** pg_restore's option restoring only `entries` (a use-list written into `dir`). */
async function useList(dir: string, name: string, entries: ArchiveEntry[]): Promise<string> {
  return `--use-list=${await writeUseList(dir, name, entries)}`;
}

/** Hashes the stored archive (again): a decompression failure is first of all a question of whether it is intact. */
async function storedDigest(options: RestoreOptions, key: string): Promise<DigestTap> {
  const tap = new DigestTap();
  await storage(`reading s3://${options.bucket}/${key}`, async () =>
    pipeline(await openObject(options.s3, options.bucket, key), tap, new Writable({ write: (_chunk, _encoding, next) => next() })),
  );
  return tap;
}

function assertIntact(options: RestoreOptions, manifest: BackupManifest, tap: DigestTap): void {
  const sha256 = tap.sha256();
  if (tap.bytes !== manifest.archive.bytes || sha256 !== manifest.archive.sha256) {
    throw new LifelineError(
      'ChecksumMismatch',
      `archive s3://${options.bucket}/${manifest.key} does not match its manifest ` +
        `(${tap.bytes} bytes, sha256 ${sha256}; expected ${manifest.archive.bytes} bytes, sha256 ${manifest.archive.sha256}); nothing was restored`,
    );
  }
}

/**
 * Downloads, hashes and decompresses the archive in one pass into `splitter` (archive/split.ts), which keeps its
 * head for pg_restore and hands the rows on as they arrive; resolves once the whole archive matched the manifest.
 * A failure that could come from damaged bytes (zstd's, the split's, a COPY's) is first of all a question of whether
 * the stored archive is intact, which is checked again.
 */
async function receiveVerified(options: RestoreOptions, manifest: BackupManifest, splitter: ArchiveSplitter): Promise<void> {
  const tap = new DigestTap(undefined, options.onProgress);
  try {
    const body = await openObject(options.s3, options.bucket, manifest.key);
    await storage(`downloading s3://${options.bucket}/${manifest.key}`, async () => {
      const run = startPipeline({
        stages: [decompressStage('RestoreFailed')],
        input: streamPipeline(body, tap, () => undefined),
        signal: options.signal,
      });
      // Whichever fails first is the cause (a failed split stops zstd); both have ended when this settles.
      const split = pipeline(run.output, splitter).catch((error: unknown) => {
        run.stop();
        throw error;
      });
      await Promise.all([run.done, split]).finally(() => Promise.allSettled([run.done, split]));
    });
    assertIntact(options, manifest, tap);
  } catch (error) {
    throwIfAborted(options.signal, INTERRUPTED);
    if (error instanceof LifelineError && error.name === 'RestoreFailed')
      assertIntact(options, manifest, await storedDigest(options, manifest.key));
    throw error;
  }
}

/** Refuses, before anything is written, privileges for roles that the target's server does not have. */
async function assertRolesExist(target: UndoableTarget, archive: string, entries: ArchiveEntry[], dir: string, manifest: BackupManifest) {
  const grants = entries.filter(isPrivilegeEntry);
  if (grants.length === 0) return;
  const roles = rolesInPrivilegeSql(await archiveScript(archive, await writeUseList(dir, 'privileges', grants)));
  const missing = await missingRoles(target.server, roles);
  if (missing.length > 0) {
    const names = missing.map((role) => `"${role}"`).join(', ');
    throw new LifelineError(
      'InvalidInput',
      `backup ${manifest.key} grants privileges to roles the target's server lacks: ${names}; create them first, ` +
        'or restore without privileges (privileges: false; --no-privileges in the CLI); nothing was restored',
    );
  }
}

interface RestoreFlags {
  role: string | undefined;
  inPlace: boolean;
  privileges: boolean;
}

/** pg_restore of the staged head (or archive) into the target, with `args` after the options every run of a restore shares. */
function pgRestore(archive: string, settings: ConnectionSettings, flags: RestoreFlags, args: string[], signal: AbortSignal | undefined) {
  const { role, inPlace, privileges } = flags;
  return runPipeline({
    stages: [
      {
        command: pgBinary('pg_restore'),
        args: [
          '--no-owner',
          ...(role === undefined ? [] : [`--role=${role}`]),
          ...(inPlace ? ['--clean', '--if-exists', '--single-transaction'] : []),
          ...(privileges ? [] : ['--no-privileges']),
          '--exit-on-error',
          '--no-password',
          `--dbname=dbname=${conninfoValue(settings.database)}`,
          ...args,
          archive,
        ],
        env: libpqEnv(settings),
        failure: 'RestoreFailed',
        redact: (text) => redact(text, settings),
      },
    ],
    signal,
  });
}

/** One table's restored rows against the manifest: equal to an exact count, within ESTIMATE_TOLERANCE of an estimate. */
export function checkRows(rows: number, expected: TableRowCount): Pick<RestoredTable, 'check' | 'passed'> {
  return expected.exact
    ? { check: 'exact', passed: rows === expected.rows }
    : { check: 'estimate', passed: Math.abs(rows - expected.rows) <= ESTIMATE_TOLERANCE * expected.rows };
}

/** The rows each table's COPYs loaded (RowLoaders), by table OID, from the rows by dump id of its data entry. */
function loadedByTable(entries: ArchiveEntry[], loaded: ReadonlyMap<number, number>): Map<number, number> {
  const byTable = new Map<number, number>();
  for (const entry of entries) {
    const data = /^(\d+); 0 (\d+) TABLE DATA /.exec(entry.line);
    const rows = data ? loaded.get(Number(data[1])) : undefined;
    if (data && rows !== undefined) byTable.set(Number(data[2]), rows);
  }
  return byTable;
}

/**
 * Each restored table's rows against the manifest: those its COPYs reported (each COPY commits all its rows or none,
 * into a table nothing else writes to), unless it has inheritance children (then counted), or it was not loaded
 * that way (then counted).
 */
async function countRestored(
  client: pg.Client,
  restoring: TableRowCount[],
  target: ConnectionSettings,
  key: string,
  loaded: ReadonlyMap<number, number>,
): Promise<RestoredTable[]> {
  const tables: RestoredTable[] = [];
  for (const table of restoring) {
    const reported = loaded.get(table.oid);
    const rows = reported !== undefined && !(await hasChildren(client, table)) ? reported : await countRows(client, table);
    tables.push({ schema: table.schema, name: table.name, rows, expectedRows: table.rows, ...checkRows(rows, table) });
  }
  const wrong = tables.filter((t) => !t.passed);
  if (wrong.length > 0) {
    const tolerance = `estimate, within ${ESTIMATE_TOLERANCE * 100}%`;
    const detail = wrong.map(
      (t) => `${t.schema}.${t.name}: ${t.rows} rows, expected ${t.expectedRows}${t.check === 'estimate' ? ` (${tolerance})` : ''}`,
    );
    throw new LifelineError('VerificationFailed', `restored ${describe(target)} differs from backup ${key}: ${detail.join('; ')}`);
  }
  return tables;
}

/** `work`, unless `signal` fires first: then it rejects at once, and the undo stops the queries still running. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  work.catch(() => undefined); // reported by the race, or moot once aborted
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(abortError(signal, INTERRUPTED));
    if (signal.aborted) return abort();
    signal.addEventListener('abort', abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/** Puts the target back as it was after `failure`, and says so (or why not) in the error that is thrown. */
async function undoRestore(
  target: UndoableTarget,
  failure: unknown,
  settings: ConnectionSettings,
  restored: boolean,
): Promise<LifelineError> {
  const error =
    failure instanceof LifelineError
      ? failure
      : new LifelineError('RestoreFailed', redact(String((failure as Error).message ?? failure), settings));
  try {
    return new LifelineError(error.name, `${error.message}; ${await target.undo(restored)}`, { cause: failure });
  } catch (undoFailure) {
    const reason = (undoFailure as Error).message;
    return new LifelineError(error.name, `${error.message}; putting the target back failed, so it holds a partial restore: ${reason}`, {
      cause: failure,
    });
  }
}

/**
 * Restores a backup into a separate database (or, `inPlace`, over one). The archive is read once, as it downloads
 * (hashed, decompressed, split: archive/split.ts): as soon as its table of contents is in, the privileges' roles are
 * checked on the target's server, the definitions restored (`pg_restore --section=pre-data`, one transaction), and
 * the rows COPYed over N connections as they arrive (RowLoaders), in transactions that commit only once the whole
 * archive matched the manifest's SHA-256; then `pg_restore -j N` restores the rest (indexes, constraints, sequences,
 * large objects) from the staged table of contents. Every restored table is then compared with the counts taken at
 * backup time. An in-place restore, or an archive whose rows cannot be read as COPY text, is staged whole and restored
 * by pg_restore once verified, as one transaction in place. A failure at any point leaves the target as it was and
 * removes what was staged.
 */
export async function runRestore(options: RestoreOptions): Promise<RestoreResult> {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const jobs = options.jobs ?? 1;
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) {
    throw new LifelineError('InvalidInput', `jobs: must be a whole number from 1 to 64, not ${jobs}`);
  }
  const { s3, bucket, target: settings, signal, role, inPlace = false } = options;
  if (inPlace && options.createTarget)
    throw new LifelineError('InvalidInput', 'inPlace: restores over an existing database; leave out createTarget');
  if (inPlace && jobs > 1) {
    throw new LifelineError(
      'InvalidInput',
      `jobs: an in-place restore runs in one transaction, which pg_restore cannot split; not ${jobs}`,
    );
  }
  throwIfAborted(signal, INTERRUPTED);
  const key = await findBackup(s3, bucket, options.selector);
  const manifest = await readManifest(s3, bucket, key);
  const restoring = selectedTables(manifest, options);
  const partial = options.tables !== undefined || options.schemas !== undefined;
  if (!inPlace) assertNotSource(settings, manifest);
  const stagingDir = options.stagingDir ?? tmpdir();
  if (inPlace) await assertStagingRoom(stagingDir, manifest);

  const target = await openTarget(settings, { create: options.createTarget, owner: role, inPlace });
  let dir: string | undefined;
  let removal: Promise<void> | undefined;
  let writing = false;
  let restored = false;
  let loaders: RowLoaders | undefined;
  /** The definitions restored while the rows arrive, settled before anything else touches the target. */
  let definitions: Promise<void> | undefined;
  try {
    if (role !== undefined) await assertCanActAs(target.server, role, settings);
    const staged = await makeStagingDirectory(stagingDir);
    dir = staged;
    const privileges = options.privileges ?? true;
    const flags = { role, inPlace, privileges };
    let selected: { entries: ArchiveEntry[]; leftOut: string[] } | undefined;
    let client: pg.Client | undefined;
    let loadedIds: ReadonlySet<number> = new Set();

    /** The head is in: what is restored, checked before anything is written; the rows' loading starts. */
    const plan = async (head: ArchiveHead): Promise<SplitPlan> => {
      const contents = await archiveContents(head.path);
      const { entries, leftOut } = partial ? selectTables(contents, restoring) : { entries: contents, leftOut: [] };
      selected = { entries, leftOut };
      if (privileges) await assertRolesExist(target, head.path, entries, staged, manifest);
      throwIfAborted(signal, INTERRUPTED);
      const ids = new Set(entries.map((entry) => entry.id));
      const loaded = new Set(inPlace ? [] : head.tables.filter((table) => ids.has(table.dumpId)).map((table) => table.dumpId));
      const staging = new Set([...ids].filter((id) => !loaded.has(id)));
      loadedIds = loaded;
      if (loaded.size === 0) return { loaded, staged: staging, headRead: Promise.resolve() };

      writing = true;
      client = await target.prepare();
      // The definitions in one transaction, by which a failure's undo tells what this restore created (target.ts).
      const selection = partial ? [await useList(staged, 'use-list', entries)] : [];
      definitions = pgRestore(head.path, settings, flags, ['--section=pre-data', '--single-transaction', ...selection], signal).then(() =>
        target.definitionsRestored(restoring),
      );
      definitions.catch(() => undefined); // thrown where the rows wait for it, or after the archive was read
      loaders = new RowLoaders({ settings, jobs, encoding: head.encoding!, role, tablesReady: definitions, signal });
      return { loaded, staged: staging, headRead: definitions.catch(() => undefined) };
    };
    const splitter = new ArchiveSplitter(join(staged, 'head.dump'), { head: plan, rows: (segment) => loaders!.load(segment) });
    await receiveVerified(options, manifest, splitter);
    const { entries, leftOut } = selected!;
    const rowsByEntry = new Map<number, number>();
    if (loaders) {
      for (const [id, rows] of await untilAborted(loaders.finish(), signal)) rowsByEntry.set(id, rows);
      await definitions;
      await loaders.commit();
      await loaders.close();
      // What the loaders did not load: sequences' values, large objects, indexes, constraints.
      const rest = entries.filter((entry) => !loadedIds.has(entry.id));
      await pgRestore(
        splitter.path,
        settings,
        flags,
        [`--jobs=${jobs}`, '--section=data', '--section=post-data', await useList(staged, 'rest', rest)],
        signal,
      );
    } else {
      writing = true;
      client = await target.prepare();
      const selection = partial ? [await useList(staged, 'use-list', entries)] : [];
      if (inPlace) {
        await pgRestore(splitter.path, settings, flags, [`--jobs=${jobs}`, ...selection], signal);
      } else {
        await pgRestore(splitter.path, settings, flags, ['--section=pre-data', '--single-transaction', ...selection], signal);
        await target.definitionsRestored(restoring);
        await pgRestore(splitter.path, settings, flags, [`--jobs=${jobs}`, '--section=data', '--section=post-data', ...selection], signal);
      }
    }
    restored = true;
    // pg_restore has no more use for the staged head: it is removed while the rows are counted.
    removal = rm(dir, { recursive: true, force: true });
    removal.catch(() => undefined); // its failure is thrown in the end, after the counts
    const loaded = loadedByTable(entries, rowsByEntry);
    const tables = options.verifyRows === false ? [] : await untilAborted(countRestored(client!, restoring, settings, key, loaded), signal);
    return { key, target: describe(settings), tables, leftOut, durationMs: now().getTime() - startedAt.getTime() };
  } catch (error) {
    const failure = signal?.aborted ? abortError(signal, INTERRUPTED) : error;
    // Nothing may still write while the target is put back: uncommitted rows roll back, the definitions end.
    await loaders?.close();
    await definitions?.catch(() => undefined);
    throw writing ? await undoRestore(target, failure, settings, restored) : failure;
  } finally {
    await target.close();
    if (dir) await (removal ?? rm(dir, { recursive: true, force: true }));
  }
}
