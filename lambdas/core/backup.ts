import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type pg from 'pg';
import { readTableOfContents, startCompressor, tableEntry, ZSTD_LEVEL } from './archive.js';
import type { TierChoice, Trigger } from './backup-request.js';
import { pgBinary, startChild } from './child-process.js';
import { connectClient, describe, libpqEnv, redact, type ConnectionSettings } from './connection.js';
import { DigestTap } from './digest.js';
import { LifelineError } from './errors.js';
import { latestMigration, serverVersion, tableRowCounts } from './inventory.js';
import { backupKey, DatabaseLabel } from './keys.js';
import type { BackupManifest } from './manifest.js';
import { selectTier, TimeZone, type Tier } from './tier.js';
import { parseInput } from './validation.js';
import { deleteObject, listBackups, objectSize, openObject, storage, writeManifest } from './vault.js';

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
  tier: TierChoice;
  /** Whose calendar decides the monthly and weekly tiers. */
  timeZone: string;
  /** Archive bytes written so far, for progress displays. */
  onProgress?: (bytes: number) => void;
  now?: () => Date;
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

async function pgDumpVersion(): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(pgBinary('pg_dump'), ['--version']);
    return stdout.trim();
  } catch (error) {
    throw new LifelineError('DumpFailed', `pg_dump --version failed: ${(error as Error).message}`);
  }
}

async function chooseTier(options: BackupOptions, startedAt: Date): Promise<Tier> {
  if (options.tier !== 'auto') return options.tier;
  const previous = await listBackups(options.s3, options.bucket, options.database);
  return selectTier(startedAt, options.timeZone, previous);
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
async function uploadArchive(options: BackupOptions, key: string, snapshot: string, partSize: number): Promise<StoredArchive> {
  const { connection, s3, bucket } = options;
  const dump = startChild({
    command: pgBinary('pg_dump'),
    // Give up rather than queue behind a migration's exclusive lock and block the application behind us.
    args: ['--format=custom', '--compress=0', `--snapshot=${snapshot}`, '--lock-wait-timeout=60s', '--no-password'],
    env: libpqEnv(connection),
    stdio: ['ignore', 'pipe', 'pipe'],
    failure: 'DumpFailed',
    redact: (text) => redact(text, connection),
  });
  const zstd = startCompressor(dump.process.stdout!);
  dump.process.stdout!.destroy(); // zstd holds the pipe now; closing ours lets pg_dump see it if zstd dies
  let producerFailure: unknown;
  const produced = Promise.all([dump.exited, zstd.exited]).then(() => undefined);
  const tap = new DigestTap(produced, options.onProgress);
  produced.catch((error) => {
    producerFailure = error;
    tap.destroy(error);
  });
  zstd.process.stdout!.pipe(tap);
  const upload = new Upload({
    client: s3,
    params: { Bucket: bucket, Key: key, Body: tap, ContentType: 'application/octet-stream' },
    partSize,
    queueSize: PARTS_IN_FLIGHT,
    leavePartsOnError: false, // abort the multipart upload on any failure
  });
  try {
    await storage(`upload to s3://${bucket}/${key}`, () => upload.done());
  } catch (error) {
    throw producerFailure ?? error; // pg_dump's or zstd's own failure explains a broken upload best
  } finally {
    dump.stop();
    zstd.stop();
    tap.destroy();
  }
  return { bytes: tap.bytes, sha256: tap.sha256() };
}

/**
 * Backs up one database into the vault: tier chosen, archive streamed and hashed, rows counted in the dump's
 * own snapshot, stored object verified, manifest written last. On any failure the multipart upload is
 * aborted or the archive deleted, so nothing that looks like a backup is left behind.
 */
export async function runBackup(options: BackupOptions): Promise<BackupResult> {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  parseInput(DatabaseLabel, options.database, 'backup request (database)');
  parseInput(TimeZone, options.timeZone, 'timeZone');
  const { connection, s3, bucket } = options;
  const tier = await chooseTier(options, startedAt);
  const key = backupKey(tier, options.database, startedAt);

  const client = await connectClient(connection);
  let orphanArchive = false; // uploaded, but not a backup until its manifest exists
  try {
    const { snapshot, databaseBytes } = await exportSnapshot(client, connection);
    const [archived, facts] = await Promise.allSettled([
      uploadArchive(options, key, snapshot, partSizeFor(databaseBytes)),
      snapshotFacts(client),
    ]);
    if (archived.status === 'rejected') throw archived.reason;
    orphanArchive = true;
    if (facts.status === 'rejected') {
      const reason = redact((facts.reason as Error).message, connection);
      throw new LifelineError('DumpFailed', `reading row counts from ${describe(connection)} failed: ${reason}`);
    }
    const { bytes, sha256 } = archived.value;
    await verifyUpload(options, key, bytes, facts.value.tables);
    const manifest: BackupManifest = {
      manifestVersion: 1,
      database: options.database,
      tier,
      key,
      trigger: options.trigger,
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
    };
    const manifestKey = await writeManifest(s3, bucket, manifest);
    orphanArchive = false;
    return { key, manifestKey, tier, bytes, sha256, durationMs: now().getTime() - startedAt.getTime(), manifest };
  } finally {
    await client.end().catch(() => undefined);
    if (orphanArchive) await deleteObject(s3, bucket, key).catch(() => undefined);
  }
}
