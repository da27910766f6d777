import type { S3Client } from '@aws-sdk/client-s3';
import { LifelineError } from '../errors.js';
import { connectClient, describe, type ConnectionSettings } from '../postgres/connection.js';
import { tableRowCounts } from '../postgres/inventory.js';
import { listBackups, openObject, readManifest } from '../vault/backups.js';
import { DatabaseLabel, parseBackupKey } from '../vault/keys.js';
import { compareStates, type DatabaseState, type DriftReport } from './report.js';
import { archiveSchema, liveSchema } from './schema.js';

/** What `lifeline diff` and the drills compare: backups by key or by place, or the live database. */
export type DriftReference = { key: string } | { latest: string } | { previous: string } | { live: true };

export const REFERENCE_FORMS = 'a backup key, latest:<database>, previous:<database> or live';

/** A reference as typed: `daily/shop/.../shop-....dump`, `latest:shop`, `previous:shop` or `live`; `what` names it in errors. */
export function parseReference(text: string, what: string): DriftReference {
  if (text === 'live') return { live: true };
  const place = /^(latest|previous):(.*)$/.exec(text);
  if (place) {
    const [, which, database] = place as unknown as [string, 'latest' | 'previous', string];
    const label = DatabaseLabel.safeParse(database);
    if (!label.success) throw new LifelineError('InvalidInput', `${what}: "${database}" in "${text}" ${label.error.issues[0]!.message}`);
    return which === 'latest' ? { latest: database } : { previous: database };
  }
  if (parseBackupKey(text)) return { key: text };
  throw new LifelineError('InvalidInput', `${what}: "${text}" is not ${REFERENCE_FORMS}`);
}

/** The vault the backups are in. */
export interface Vault {
  s3: S3Client;
  bucket: string;
}

/** The key of the latest backup of a database, or the one before it. */
async function placedBackup(vault: Vault, database: string, which: 'latest' | 'previous', what: string): Promise<string> {
  const backups = await listBackups(vault.s3, vault.bucket, database);
  const found = backups.at(which === 'latest' ? -1 : -2);
  if (found) return found.key;
  const has = backups.length === 0 ? 'no backups' : 'only one backup, so no previous one';
  throw new LifelineError('BackupNotFound', `${what}: ${which}:${database}: "${database}" has ${has} in s3://${vault.bucket}`);
}

/** A backup's schema, from the head of its archive, and its rows, from its manifest. */
export async function backupState(vault: Vault, key: string, signal?: AbortSignal): Promise<DatabaseState> {
  const manifest = await readManifest(vault.s3, vault.bucket, key);
  const archive = await openObject(vault.s3, vault.bucket, key);
  const { schema, bytesRead } = await archiveSchema(archive, `s3://${vault.bucket}/${key}`, signal);
  return {
    side: { kind: 'backup', key, database: manifest.database, takenAt: manifest.startedAt, bytes: manifest.archive.bytes, bytesRead },
    schema,
    rows: manifest.tables,
  };
}

/** A live database's schema (pg_dump --schema-only) and rows (counted, or estimated for large tables, as a backup does). */
export async function liveState(settings: ConnectionSettings, signal?: AbortSignal): Promise<DatabaseState> {
  const readAt = new Date().toISOString();
  const client = await connectClient(settings);
  try {
    const rows = await tableRowCounts(client);
    const schema = await liveSchema(settings, signal);
    return { side: { kind: 'live', database: describe(settings), readAt }, schema, rows };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** What each side of a comparison is found in. */
export interface DriftSources {
  vault?: Vault;
  /** The live database `live` names. */
  live?: ConnectionSettings;
  signal?: AbortSignal;
}

async function stateOf(reference: DriftReference, what: string, sources: DriftSources): Promise<DatabaseState> {
  if ('live' in reference) {
    if (!sources.live) throw new LifelineError('InvalidInput', `${what}: live names no database here: give its connection`);
    return liveState(sources.live, sources.signal);
  }
  const { vault } = sources;
  if (!vault) throw new LifelineError('InvalidInput', `${what}: a backup needs the vault bucket it is in`);
  const key =
    'key' in reference
      ? reference.key
      : 'latest' in reference
        ? await placedBackup(vault, reference.latest, 'latest', what)
        : await placedBackup(vault, reference.previous, 'previous', what);
  return backupState(vault, key, sources.signal);
}

/** What differs from `from` to `to`, each a backup or the live database. */
export async function diffReferences(
  from: { reference: DriftReference; what: string },
  to: { reference: DriftReference; what: string },
  sources: DriftSources,
): Promise<DriftReport> {
  const before = await stateOf(from.reference, from.what, sources);
  const after = await stateOf(to.reference, to.what, sources);
  return compareStates(before, after);
}

/** What differs from backup `fromKey` to backup `toKey`: schema from their archives' heads, rows from their manifests. */
export async function diffBackups(vault: Vault, fromKey: string, toKey: string, signal?: AbortSignal): Promise<DriftReport> {
  return compareStates(await backupState(vault, fromKey, signal), await backupState(vault, toKey, signal));
}
