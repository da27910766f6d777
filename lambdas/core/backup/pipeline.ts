import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type pg from 'pg';
import { abortError as stoppedBy, throwIfAborted as throwIfStopped } from '../abort.js';
import { compressStage, readTableOfContents, tableEntry, toolEnv, ZSTD_LEVEL } from '../archive/format.js';
import type { TierChoice } from './request.js';
import { pgBinary, runPipeline, startPipeline } from '../child-process.js';
import { connectClient, describe, libpqEnv, redact, type ConnectionSettings } from '../postgres/connection.js';
import { DigestTap } from '../digest.js';
import { LifelineError } from '../errors.js';
import { latestMigration, serverVersion, tableRowCounts } from '../postgres/inventory.js';
import { backupKey, DatabaseLabel } from '../vault/keys.js';
import { compareBackups, type BackupSize } from '../vault/comparison.js';
import type { BackupManifest } from '../vault/manifest.js';
import { lockedUntil, type ObjectLockMode } from '../vault/retention.js';
import { selectTier, TimeZone, type Tier } from '../vault/tier.js';
import { parseInput } from '../validation.js';
import {
  listBackups,
  objectSize,
  openObject,
  readManifest,
  storage,
  writeManifest,
  writeOnce,
  type BackupEntry,
  type ObjectLock,
} from '../vault/backups.js';
import { type AlarmCause, type Trigger } from '../vault/manifest.js';

/** Multipart shape: 8 MiB parts, 4 in flight, so memory stays near 6 parts whatever the database size, up to
 * databases whose size would need more than S3's 10,000 parts (over 70 GiB); their parts grow to fit. */
export const PART_SIZE = 8 * 1024 * 1024;
export const PARTS_IN_FLIGHT = 4;
const MAX_PARTS = 9_000; // below S3's 10,000, as a margin on the estimate

/** The database's size bounds its uncompressed archive, and so the compressed one. */
export function partSizeFor(databaseBytes: number): number {
  return Math.max(PART_SIZE, Math.ceil(databaseBytes / MAX_PARTS));
}

export interface BackupOptions {
  connection: ConnectionSettings;
  /** The database's name in the vault (leads its keys). */
  database: string;
  bucket: string;
  s3: S3Client;
  trigger: Trigger;
  /** With trigger `alarm`: the alarm transition that asked for it, recorded in the manifest. */
  alarm?: AlarmCause;
  tier: TierChoice;
  /** Whose calendar decides the monthly and weekly tiers. */
  timeZone: string;
  /** Archive bytes written so far, for progress displays. */
  onProgress?: (bytes: number) => void;
  now?: () => Date;
  /** The vault's Object Lock mode: archive and manifest are then locked until their tier ends. */
  objectLock?: ObjectLockMode;
  /**
   * Stops the backup (a deadline, SIGINT/SIGTERM): the dump is stopped and the multipart upload aborted; an
   * archive already stored stays without its manifest, so it is no backup. It rejects with `signal.reason` when
   * that is a LifelineError, else with Interrupted.
   */
  signal?: AbortSignal;
}

export interface BackupResult {
  key: string;
  manifestKey: string;
  tier: Tier;
  bytes: number;
  sha256: string;
  durationMs: number;
  manifest: BackupManifest;
}

/** What a backup reports to its caller (the Lambda's result, the CLI's --json): where it is and what it holds. */
export type BackupSummary = Pick<BackupResult, 'key' | 'manifestKey' | 'bytes' | 'sha256' | 'tier' | 'durationMs'>;

export function backupSummary({ key, manifestKey, bytes, sha256, tier, durationMs }: BackupResult): BackupSummary {
  return { key, manifestKey, bytes, sha256, tier, durationMs };
}

const INTERRUPTED = 'the backup was interrupted; its upload was aborted';
const abortError = (signal: AbortSignal) => stoppedBy(signal, INTERRUPTED);
const throwIfAborted = (signal: AbortSignal | undefined) => throwIfStopped(signal, INTERRUPTED);

/** Recorded in the manifest. Like every child, it gets a minimal environment, never the function's credentials. */
async function pgDumpVersion(): Promise<string> {
  const version = await runPipeline({
    stages: [{ command: pgBinary('pg_dump'), args: ['--version'], env: toolEnv(), failure: 'DumpFailed' }],
  });
  return version.trim();
}

/** What this backup is compared with: the latest earlier backup of the database, when its manifest is readable. */
async function previousBackup(options: BackupOptions, existing: readonly BackupEntry[], startedAt: Date): Promise<BackupSize | undefined> {
  const latest = existing.filter((backup) => backup.startedAt < startedAt).at(-1);
  if (!latest) return undefined;
  try {
    const manifest = await readManifest(options.s3, options.bucket, latest.key);
    return { key: latest.key, bytes: manifest.archive.bytes, tables: manifest.tables };
  } catch (error) {
    // A damaged or vanished manifest must not stop every backup after it: this one goes without a comparison.
    if (error instanceof LifelineError && (error.name === 'VerificationFailed' || error.name === 'BackupNotFound')) return undefined;
    throw error;
  }
}

/**
 * Checks the stored object against what we produced. pg_dump and zstd exiting 0 (the upload cannot complete
 * otherwise) prove the stream was whole; here the object must have its byte count, and pg_restore must read
 * its table of contents (written first, so only the head is fetched) with a data entry for every table
 * counted in the snapshot.
 */
async function verifyUpload(options: BackupOptions, key: string, bytes: number, tables: BackupManifest['tables']) {
  const { s3, bucket } = options;
  const stored = await objectSize(s3, bucket, key);
  if (stored !== bytes) {
    throw new LifelineError('VerificationFailed', `s3://${bucket}/${key} holds ${stored} bytes, expected ${bytes}`);
  }
  const toc = await readTableOfContents(await openObject(s3, bucket, key));
  const missing = tables.filter(({ oid }) => !toc.some((line) => tableEntry(oid, 'TABLE DATA').test(line)));
  if (missing.length > 0) {
    const names = missing.map((t) => `${t.schema}.${t.name}`).join(', ');
    throw new LifelineError('VerificationFailed', `archive s3://${bucket}/${key} has no data for: ${names}`);
  }
}

/** pg_dump and the row counts share one snapshot, so the manifest describes exactly what was archived. */
async function exportSnapshot(client: pg.Client, connection: ConnectionSettings) {
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows } = await client.query<{ snapshot: string; bytes: string }>(
      'SELECT pg_export_snapshot() AS snapshot, pg_database_size(current_database()) AS bytes',
    );
    return { snapshot: rows[0]!.snapshot, databaseBytes: Number(rows[0]!.bytes) };
  } catch (error) {
    const reason = redact((error as Error).message, connection);
    throw new LifelineError('DumpFailed', `exporting a snapshot of ${describe(connection)} failed: ${reason}`);
  }
}

async function snapshotFacts(client: pg.Client) {
  return {
    tables: await tableRowCounts(client),
    latestMigration: await latestMigration(client),
    serverVersion: await serverVersion(client),
  };
}

interface StoredArchive {
  bytes: number;
  sha256: string;
}

/** `pg_dump -Fc -Z0 | zstd` into a multipart upload. The upload completes only if both processes succeed. */
async function uploadArchive(
  options: BackupOptions,
  key: string,
  snapshot: string,
  partSize: number,
  lock: ObjectLock | undefined,
): Promise<StoredArchive> {
  const { connection, s3, bucket } = options;
  const dump = startPipeline({
    stages: [
      {
        command: pgBinary('pg_dump'),
        // Give up rather than queue behind a migration's exclusive lock and block the application behind us.
        args: ['--format=custom', '--compress=0', `--snapshot=${snapshot}`, '--lock-wait-timeout=60s', '--no-password'],
        env: libpqEnv(connection),
        failure: 'DumpFailed',
        redact: (text) => redact(text, connection),
      },
      compressStage(),
    ],
  });
  let producerFailure: unknown;
  const tap = new DigestTap(dump.done, options.onProgress);
  dump.done.catch((error: Error) => {
    producerFailure = error;
    tap.destroy(error);
  });
  dump.output.pipe(tap);
  // Failing the body (not Upload.abort(), which returns before its cleanup) makes done() reject only after
  // the multipart upload has been aborted.
  const stop = () => {
    dump.stop();
    tap.destroy(abortError(options.signal!));
  };
  options.signal?.addEventListener('abort', stop, { once: true });
  const upload = new Upload({
    client: s3,
    // Upload passes these to CreateMultipartUpload (the lock) and CompleteMultipartUpload (If-None-Match), or to
    // PutObject for an archive of one part.
    params: { Bucket: bucket, Key: key, Body: tap, ContentType: 'application/octet-stream', ...writeOnce(lock) },
    partSize,
    queueSize: PARTS_IN_FLIGHT,
    leavePartsOnError: false, // abort the multipart upload on any failure
  });
  try {
    await storage(`upload to s3://${bucket}/${key}`, () => upload.done());
  } catch (error) {
    throwIfAborted(options.signal);
    throw producerFailure ?? error; // pg_dump's or zstd's own failure explains a broken upload best
  } finally {
    options.signal?.removeEventListener('abort', stop);
    dump.stop();
    tap.destroy();
  }
  return { bytes: tap.bytes, sha256: tap.sha256() };
}

/**
 * Backs up one database into the vault: tier chosen, archive streamed and hashed, rows counted in the dump's
 * own snapshot, stored object verified, compared with the previous backup, manifest written last. Both objects
 * are written only where no object exists (BackupExists otherwise) and locked until their tier ends.
 *
 * On a failure the multipart upload is aborted. An archive already stored stays: the runtime may not delete
 * (nothing it runs can erase a backup), and without its manifest the archive is no backup for listing,
 * restore or tier choice, and its tier's lifecycle rule removes it with the backups of its day.
 */
export async function runBackup(options: BackupOptions): Promise<BackupResult> {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  parseInput(DatabaseLabel, options.database, 'backup request (database)');
  parseInput(TimeZone, options.timeZone, 'timeZone');
  const { connection, s3, bucket, signal } = options;
  throwIfAborted(signal);
  const existing = await listBackups(s3, bucket, options.database);
  const tier = options.tier === 'auto' ? selectTier(startedAt, options.timeZone, existing) : options.tier;
  const key = backupKey(tier, options.database, startedAt);
  const lockFrom = (writtenAt: Date): ObjectLock | undefined =>
    options.objectLock && { mode: options.objectLock, until: lockedUntil(tier, writtenAt) };
  const previous = await previousBackup(options, existing, startedAt);

  throwIfAborted(signal);
  const client = await connectClient(connection);
  try {
    throwIfAborted(signal);
    const { snapshot, databaseBytes } = await exportSnapshot(client, connection);
    throwIfAborted(signal);
    const [archived, facts] = await Promise.allSettled([
      uploadArchive(options, key, snapshot, partSizeFor(databaseBytes), lockFrom(startedAt)),
      snapshotFacts(client),
    ]);
    if (archived.status === 'rejected') throw archived.reason;
    if (facts.status === 'rejected') {
      const reason = redact((facts.reason as Error).message, connection);
      throw new LifelineError('DumpFailed', `reading row counts from ${describe(connection)} failed: ${reason}`);
    }
    const { bytes, sha256 } = archived.value;
    throwIfAborted(signal);
    await verifyUpload(options, key, bytes, facts.value.tables);
    const manifest: BackupManifest = {
      manifestVersion: 1,
      database: options.database,
      tier,
      key,
      trigger: options.trigger,
      ...(options.alarm && { alarm: options.alarm }),
      startedAt: startedAt.toISOString(),
      finishedAt: now().toISOString(),
      archive: { format: 'pg_dump-custom', compression: 'zstd', compressionLevel: ZSTD_LEVEL, bytes, sha256 },
      source: {
        host: connection.host,
        port: connection.port,
        databaseName: connection.database,
        serverVersion: facts.value.serverVersion,
        pgDumpVersion: await pgDumpVersion(),
      },
      tables: facts.value.tables,
      latestMigration: facts.value.latestMigration,
      ...(previous && { comparison: compareBackups(previous, { bytes, tables: facts.value.tables }) }),
    };
    throwIfAborted(signal); // the last chance: with its manifest written, the backup is complete
    const manifestKey = await writeManifest(s3, bucket, manifest, lockFrom(now()));
    return { key, manifestKey, tier, bytes, sha256, durationMs: now().getTime() - startedAt.getTime(), manifest };
  } finally {
    await client.end().catch(() => undefined);
  }
}
