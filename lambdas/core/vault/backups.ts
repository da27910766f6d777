import { GetObjectCommand, HeadObjectCommand, paginateListObjectsV2, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { LifelineError } from '../errors.js';
import { archiveKeyOf, databasePrefixes, isManifestKey, manifestKeyFor, parseBackupKey } from './keys.js';
import { BackupManifest } from './manifest.js';
import type { ObjectLockMode } from './retention.js';
import { TIERS, type Tier } from './tier.js';

/** A backup as listed from the vault: an archive whose manifest exists. */
export interface BackupEntry {
  key: string;
  manifestKey: string;
  tier: Tier;
  database: string;
  startedAt: Date;
  bytes: number;
}

export type BackupSelector = { key: string } | { database: string; latest: true } | { database: string; at: Date };

/** Object Lock for a new object: its mode, and until when. */
export interface ObjectLock {
  mode: ObjectLockMode;
  until: Date;
}

/**
 * What every write into the vault carries: If-None-Match, so that it never replaces an object (the bucket
 * policy refuses the runtime any write without it), and the backup's Object Lock when the vault has one.
 */
export function writeOnce(lock: ObjectLock | undefined) {
  return { IfNoneMatch: '*', ...(lock && { ObjectLockMode: lock.mode, ObjectLockRetainUntilDate: lock.until }) };
}

/**
 * Wraps S3 failures so that the cause is named and no credentials travel with it. S3's 412 to a write's
 * If-None-Match means the key is taken: a backup is never replaced.
 */
export async function storage<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof LifelineError) throw error;
    const { name, message } = error as Error;
    if (name === 'PreconditionFailed') {
      throw new LifelineError('BackupExists', `${what} refused: the object already exists, and backups are never replaced`, {
        cause: error,
      });
    }
    throw new LifelineError('StorageFailed', `${what} failed: ${name}: ${message}`, { cause: error });
  }
}

interface ListedObject {
  size: number;
  /** Milliseconds; S3 always gives it, a server that does not is not second-guessed. */
  lastModified: number;
}

/** Every archive and every manifest under `prefix`, by key, following pagination. */
async function listPrefix(s3: S3Client, bucket: string, prefix: string) {
  const archives = new Map<string, ListedObject>();
  const manifests = new Map<string, ListedObject>();
  await storage(`listing s3://${bucket}/${prefix}`, async () => {
    for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: prefix })) {
      for (const { Key, Size, LastModified } of page.Contents ?? []) {
        if (!Key) continue;
        (isManifestKey(Key) ? manifests : archives).set(Key, { size: Size ?? 0, lastModified: LastModified?.getTime() ?? Infinity });
      }
    }
  });
  return { archives, manifests };
}

/**
 * How far a writer's clock can run ahead of S3's: S3 refuses requests signed more than 15 minutes off. A
 * genuine key is stamped when its backup starts, before either object is written, so its stamp is never
 * later than the objects' LastModified plus this.
 */
const MAX_CLOCK_SKEW_MS = 15 * 60_000;

/**
 * Backups in the vault, oldest first. Archives without a manifest are not backups and are left out, and so are
 * backups whose key claims a start after their objects were written: a forgery stamped in the future to pass
 * for the latest backup.
 */
export async function listBackups(s3: S3Client, bucket: string, database?: string): Promise<BackupEntry[]> {
  const prefixes = database ? databasePrefixes(database) : TIERS.map((tier) => `${tier}/`);
  const entries: BackupEntry[] = [];
  for (const prefix of prefixes) {
    const { archives, manifests } = await listPrefix(s3, bucket, prefix);
    for (const [manifestKey, manifest] of manifests) {
      const key = archiveKeyOf(manifestKey);
      const parsed = parseBackupKey(key);
      const archive = archives.get(key);
      if (!parsed || !archive) continue;
      const written = Math.min(archive.lastModified, manifest.lastModified);
      if (parsed.startedAt.getTime() > written + MAX_CLOCK_SKEW_MS) continue;
      entries.push({ key, manifestKey, bytes: archive.size, ...parsed });
    }
  }
  return entries.sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime() || a.key.localeCompare(b.key));
}

/** The backup a restore asks for: by key, the latest, or the latest at or before a time. */
export async function findBackup(s3: S3Client, bucket: string, selector: BackupSelector): Promise<string> {
  if ('key' in selector) {
    if (!parseBackupKey(selector.key)) {
      throw new LifelineError('InvalidInput', `key: "${selector.key}" is not a Lifeline backup key`);
    }
    return selector.key;
  }
  const backups = await listBackups(s3, bucket, selector.database);
  const eligible = 'at' in selector ? backups.filter((b) => b.startedAt <= selector.at) : backups;
  const chosen = eligible.at(-1);
  if (!chosen) {
    const when = 'at' in selector ? ` at or before ${selector.at.toISOString()}` : '';
    throw new LifelineError('BackupNotFound', `no backup of "${selector.database}"${when} in s3://${bucket}`);
  }
  return chosen.key;
}

export async function readManifest(s3: S3Client, bucket: string, key: string): Promise<BackupManifest> {
  const manifestKey = manifestKeyFor(key);
  const text = await storage(`reading s3://${bucket}/${manifestKey}`, async () => {
    try {
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: manifestKey }));
      return await object.Body!.transformToString();
    } catch (error) {
      if ((error as Error).name === 'NoSuchKey') {
        throw new LifelineError('BackupNotFound', `no manifest for s3://${bucket}/${key}: it is not a complete backup`);
      }
      throw error;
    }
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = BackupManifest.safeParse(json);
  if (!parsed.success || parsed.data.key !== key) {
    throw new LifelineError('VerificationFailed', `manifest s3://${bucket}/${manifestKey} is not a valid version 1 manifest for this key`);
  }
  return parsed.data;
}

/** Writes the manifest that makes an archive a backup; BackupExists if the backup already has one. */
export async function writeManifest(s3: S3Client, bucket: string, manifest: BackupManifest, lock?: ObjectLock): Promise<string> {
  const manifestKey = manifestKeyFor(manifest.key);
  await storage(`writing s3://${bucket}/${manifestKey}`, () =>
    s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: manifestKey,
        Body: JSON.stringify(manifest, null, 2),
        ContentType: 'application/json',
        ...writeOnce(lock),
      }),
    ),
  );
  return manifestKey;
}

export async function objectSize(s3: S3Client, bucket: string, key: string): Promise<number> {
  const head = await storage(`reading s3://${bucket}/${key}`, () => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })));
  return head.ContentLength ?? 0;
}

export async function openObject(s3: S3Client, bucket: string, key: string): Promise<Readable> {
  const object = await storage(`reading s3://${bucket}/${key}`, () => s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })));
  return object.Body as Readable;
}
