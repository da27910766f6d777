import { z } from 'zod';

/** A fall from one backup to the next, in percent of the previous value: 0 when it grew or held. */
const DropPercent = z.number().min(0).max(100);

const Count = z.number().int().nonnegative();

const Change = z.object({ previous: Count, current: Count, dropPercent: DropPercent });

export const TableShrink = z.object({
  schema: z.string(),
  name: z.string(),
  previousRows: Count,
  /** Null when the table is gone. */
  rows: Count.nullable(),
  dropPercent: DropPercent,
});
export type TableShrink = z.infer<typeof TableShrink>;

/**
 * A backup against the previous one of the same database: a wiped or dropped table keeps producing
 * "successful" backups, and this is where it shows.
 */
export const BackupComparison = z.object({
  previousKey: z.string(),
  /** Archive bytes. */
  bytes: Change,
  /** Rows of all tables. */
  rows: Change,
  /** Tables that lost rows or disappeared, largest drop first. */
  shrunkTables: z.array(TableShrink),
  /** The largest drop of all of these: what the shrink alarm watches. */
  shrinkPercent: DropPercent,
});
export type BackupComparison = z.infer<typeof BackupComparison>;

/** What a comparison needs of a backup: its archive size and its tables' row counts. */
export interface BackupSize {
  key: string;
  bytes: number;
  tables: readonly { schema: string; name: string; rows: number }[];
}

function dropPercent(previous: number, current: number): number {
  return previous > 0 && current < previous ? Math.round(((previous - current) / previous) * 1000) / 10 : 0;
}

function change(previous: number, current: number) {
  return { previous, current, dropPercent: dropPercent(previous, current) };
}

const sumRows = (tables: BackupSize['tables']) => tables.reduce((sum, table) => sum + table.rows, 0);

/** Tables are matched by schema and name: OIDs change when a database is restored or recreated. */
export function compareBackups(previous: BackupSize, current: Omit<BackupSize, 'key'>): BackupComparison {
  const rowsNow = new Map(current.tables.map((table) => [`${table.schema}.${table.name}`, table.rows]));
  const shrunkTables = previous.tables
    .map(({ schema, name, rows: previousRows }): TableShrink => {
      const rows = rowsNow.get(`${schema}.${name}`) ?? null;
      return { schema, name, previousRows, rows, dropPercent: dropPercent(previousRows, rows ?? 0) };
    })
    .filter((table) => table.rows === null || table.rows < table.previousRows)
    .sort((a, b) => b.dropPercent - a.dropPercent);
  const bytes = change(previous.bytes, current.bytes);
  const rows = change(sumRows(previous.tables), sumRows(current.tables));
  const shrinkPercent = Math.max(bytes.dropPercent, rows.dropPercent, ...shrunkTables.map((table) => table.dropPercent));
  return { previousKey: previous.key, bytes, rows, shrunkTables, shrinkPercent };
}

/** The comparison for a person: the largest drop first, then what fell. */
export function describeComparison(comparison: BackupComparison): string[] {
  const { bytes, rows, shrunkTables } = comparison;
  const fell = ({ dropPercent }: { dropPercent: number }) => (dropPercent > 0 ? ` (-${dropPercent}%)` : '');
  return [
    `compared with ${comparison.previousKey}: largest drop ${comparison.shrinkPercent}%`,
    `  rows ${rows.previous} -> ${rows.current}${fell(rows)}, archive bytes ${bytes.previous} -> ${bytes.current}${fell(bytes)}`,
    ...shrunkTables.map((table) =>
      table.rows === null
        ? `  ${table.schema}.${table.name}: gone (had ${table.previousRows} rows)`
        : `  ${table.schema}.${table.name}: ${table.previousRows} -> ${table.rows} rows${fell(table)}`,
    ),
  ];
}
