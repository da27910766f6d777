import { z } from 'zod';

/** One table's rows after the restore, against the backup's count (or estimate). */
export const TableCheck = z.strictObject({
  schema: z.string(),
  name: z.string(),
  rows: z.number().int(),
  expectedRows: z.number().int(),
  exact: z.boolean(),
  ok: z.boolean(),
});
export type TableCheck = z.infer<typeof TableCheck>;

/**
 * The most failed tables a report names, here and in its summary. A report travels through the execution's state,
 * the approval request and the output, each limited to 256 KiB: one entry per table of a database with hundreds of
 * them (partitions count) would not fit. Every table's check is in the steps function's log (`tables.log`).
 */
export const MAX_REPORTED_TABLES = 20;

/** Every restored table's rows against the manifest, as the validation report holds them. */
export const TablesReport = z.strictObject({
  checked: z.number().int(),
  failed: z.number().int(),
  /** The first MAX_REPORTED_TABLES that failed. */
  failures: z.array(TableCheck).max(MAX_REPORTED_TABLES),
  /** Where every table's check was logged, or null where nothing keeps them (a local run). */
  log: z.string().nullable(),
});
export type TablesReport = z.infer<typeof TablesReport>;
