import { z } from 'zod';
import { Tier } from './tier.js';

/** A database's name in the vault: it leads key prefixes, so no slashes or dots. */
export const DatabaseLabel = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, 'must be 1-63 letters, digits, "-" or "_", starting with a letter or digit');

const MANIFEST_SUFFIX = '.manifest.json';
const DUMP_SUFFIX = '.dump';
const STAMP = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z$/;

/** `20261123T105037.123Z`: sortable, unique to the millisecond, free of characters that need escaping. */
function stamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '');
}

/** `<tier>/<database>/<YYYY>/<MM>/<DD>/<database>-<UTC timestamp>.dump`, dates in UTC. */
export function backupKey(tier: Tier, database: string, at: Date): string {
  const [date] = at.toISOString().split('T') as [string];
  return `${tier}/${database}/${date.replace(/-/g, '/')}/${database}-${stamp(at)}${DUMP_SUFFIX}`;
}

export function manifestKeyFor(archiveKey: string): string {
  return `${archiveKey}${MANIFEST_SUFFIX}`;
}

export function isManifestKey(key: string): boolean {
  return key.endsWith(DUMP_SUFFIX + MANIFEST_SUFFIX);
}

export function archiveKeyOf(manifestKey: string): string {
  return manifestKey.slice(0, -MANIFEST_SUFFIX.length);
}

/** Key prefixes that hold a database's backups, one per tier. */
export function databasePrefixes(database: string): string[] {
  return Tier.options.map((tier) => `${tier}/${database}/`);
}

export interface ParsedBackupKey {
  tier: Tier;
  database: string;
  startedAt: Date;
}

/** The parts of an archive key, or undefined when the key is not one of ours. */
export function parseBackupKey(key: string): ParsedBackupKey | undefined {
  const match = /^(daily|weekly|monthly)\/([^/]+)\/\d{4}\/\d{2}\/\d{2}\/([^/]+)\.dump$/.exec(key);
  if (!match) return undefined;
  const [, tier, database, file] = match as unknown as [string, Tier, string, string];
  if (!file.startsWith(`${database}-`)) return undefined;
  const time = STAMP.exec(file.slice(database.length + 1));
  if (!time) return undefined;
  const [y, mo, d, h, mi, s, ms] = time.slice(1).map(Number) as [number, number, number, number, number, number, number];
  const startedAt = new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms));
  return { tier, database, startedAt };
}
