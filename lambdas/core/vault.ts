import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { LifelineError } from './errors.js';
import { archiveKeyOf, databasePrefixes, isManifestKey, manifestKeyFor, parseBackupKey } from './keys.js';
import { BackupManifest } from './manifest.js';
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

/** Wraps S3 failures so that the cause is named and no credentials travel with it. */
export async function storage<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof LifelineError) throw error;
    const { name, message } = error as Error;
    throw new LifelineError('StorageFailed', `${what} failed: ${name}: ${message}`, { cause: error });
  }
}

/** Every archive key with its size and every manifest key under `prefix`, following pagination. */
async function listPrefix(s3: S3Client, bucket: string, prefix: string) {
  const archives = new Map<string, number>();
  const manifests = new Set<string>();
  let token: string | undefined;
  do {
    const page = await storage(`listing s3://${bucket}/${prefix}`, () =>
      s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token })),
    );
    for (const { Key, Size } of page.Contents ?? []) {
      if (!Key) continue;
      if (isManifestKey(Key)) manifests.add(Key);
      else archives.set(Key, Size ?? 0);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return { archives, manifests };
}

/** Backups in the vault, oldest first; archives without a manifest are not backups and are left out. */
export async function listBackups(s3: S3Client, bucket: string, database?: string): Promise<BackupEntry[]> {
  const prefixes = database ? databasePrefixes(database) : TIERS.map((tier) => `${tier}/`);
  const entries: BackupEntry[] = [];
  for (const prefix of prefixes) {
    const { archives, manifests } = await listPrefix(s3, bucket, prefix);
    for (const manifestKey of manifests) {
      const key = archiveKeyOf(manifestKey);
      const parsed = parseBackupKey(key);
      const bytes = archives.get(key);
      if (parsed && bytes !== undefined) entries.push({ key, manifestKey, bytes, ...parsed });
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

export async function writeManifest(s3: S3Client, bucket: string, manifest: BackupManifest): Promise<string> {
  const manifestKey = manifestKeyFor(manifest.key);
  await storage(`writing s3://${bucket}/${manifestKey}`, () =>
    s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: manifestKey,
        Body: JSON.stringify(manifest, null, 2),
        ContentType: 'application/json',
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

export async function deleteObject(s3: S3Client, bucket: string, key: string): Promise<void> {
  await storage(`deleting s3://${bucket}/${key}`, () => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })));
}
