import { z } from 'zod';
import { BackupComparison } from './comparison.js';
import { DatabaseLabel } from './keys.js';
import { Tier } from './tier.js';

/** What started a backup, recorded in its manifest. */
export const TRIGGERS = ['schedule', 'manual', 'alarm', 'pre-migration', 'drill'] as const;
export const Trigger = z.enum(TRIGGERS);
export type Trigger = z.infer<typeof Trigger>;

/** The alarm whose transition into ALARM started a backup (trigger `alarm`), and when it happened. */
export const AlarmCause = z.strictObject({
  name: z.string().min(1).max(255),
  changedAt: z.iso.datetime(),
});
export type AlarmCause = z.infer<typeof AlarmCause>;

export const TableRowCount = z.object({
  /** The table's OID in the source: how its entries are found in the archive's table of contents. */
  oid: z.number().int().positive(),
  schema: z.string(),
  name: z.string(),
  rows: z.number().int().nonnegative(),
  /** False when `rows` is the planner's estimate (tables too large to count during the backup). */
  exact: z.boolean(),
});
export type TableRowCount = z.infer<typeof TableRowCount>;

export const LatestMigration = z.object({
  tool: z.enum(['prisma', 'drizzle']),
  name: z.string(),
  appliedAt: z.iso.datetime().nullable(),
});
export type LatestMigration = z.infer<typeof LatestMigration>;

/**
 * Written after the archive is uploaded and verified; a backup without one does not exist. Version 1.
 * `archive.compression` tells restore how to read the object: `zstd` is a zstd stream around an
 * uncompressed (`-Z0`) pg_dump custom-format archive.
 */
export const BackupManifest = z.object({
  manifestVersion: z.literal(1),
  database: DatabaseLabel,
  tier: Tier,
  key: z.string(),
  trigger: Trigger,
  /** With trigger `alarm` from the alarm starter; absent otherwise (and in manifests written before it existed). */
  alarm: AlarmCause.optional(),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  archive: z.object({
    format: z.literal('pg_dump-custom'),
    compression: z.literal('zstd'),
    compressionLevel: z.number().int(),
    bytes: z.number().int().positive(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  }),
  /** Where the backup came from (no credentials): restore refuses to write back into it. */
  source: z.object({
    host: z.string(),
    port: z.number().int(),
    databaseName: z.string(),
    serverVersion: z.string(),
    pgDumpVersion: z.string(),
  }),
  tables: z.array(TableRowCount),
  latestMigration: LatestMigration.nullable(),
  /** Against the previous backup of the database; absent for the first one (and in manifests written before it existed). */
  comparison: BackupComparison.optional(),
});
export type BackupManifest = z.infer<typeof BackupManifest>;
