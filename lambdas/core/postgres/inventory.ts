import type { ClientBase } from 'pg';
import type { LatestMigration, TableRowCount } from '../vault/manifest.js';

/** Tables larger than this get the planner's row estimate instead of a count(*) during the backup. */
export const EXACT_COUNT_MAX_BYTES = 64 * 1024 * 1024;

export interface TableRef {
  schema: string;
  name: string;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function qualifiedName({ schema, name }: TableRef): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/**
 * Tables whose rows pg_dump archives: ordinary tables and leaf partitions, outside system schemas and
 * extensions. On a standby pg_dump skips unlogged tables' rows (they cannot be read there), and so do we.
 */
const USER_TABLES = `
  SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, c.reltuples::float8 AS estimate,
         pg_relation_size(c.oid) AS bytes
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND (c.relpersistence <> 'u' OR NOT pg_is_in_recovery())
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
  ORDER BY 1, 2`;

export async function listUserTables(client: ClientBase): Promise<TableRef[]> {
  const { rows } = await client.query<TableRef>(USER_TABLES);
  return rows.map(({ schema, name }) => ({ schema, name }));
}

/** A table's rows, its inheritance children's included (as count(*) has them). */
export async function countRows(client: ClientBase, table: TableRef): Promise<number> {
  const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${qualifiedName(table)}`);
  return Number(rows[0]?.n ?? 0);
}

/** Whether a table has inheritance children, whose rows countRows counts with its own. */
export async function hasChildren(client: ClientBase, table: TableRef): Promise<boolean> {
  const { rows } = await client.query<{ children: boolean }>(
    'SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhparent = $1::regclass) AS children',
    [qualifiedName(table)],
  );
  return rows[0]?.children === true;
}

/** Row counts per table: exact when small or never analyzed, the planner's estimate otherwise. */
export async function tableRowCounts(client: ClientBase): Promise<TableRowCount[]> {
  const { rows } = await client.query<TableRef & { oid: string; estimate: number; bytes: string }>(USER_TABLES);
  const counts: TableRowCount[] = [];
  for (const table of rows) {
    const estimated = table.estimate >= 0 && Number(table.bytes) > EXACT_COUNT_MAX_BYTES;
    counts.push({
      oid: Number(table.oid),
      schema: table.schema,
      name: table.name,
      rows: estimated ? Math.round(table.estimate) : await countRows(client, table),
      exact: !estimated,
    });
  }
  return counts;
}

/** Prisma's and Drizzle's migrations tables, by the names those tools give them. */
export const MIGRATIONS_TABLES = { prisma: '_prisma_migrations', drizzle: '__drizzle_migrations' } as const;

/** The table of this name, in schema `preferred` where several schemas have one, else the first by schema name. */
export async function findTable(client: ClientBase, name: string, preferred = 'public'): Promise<TableRef | undefined> {
  const { rows } = await client.query<TableRef>(
    `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relname = $1 AND c.relkind = 'r' ORDER BY n.nspname = $2 DESC, n.nspname LIMIT 1`,
    [name, preferred],
  );
  return rows[0];
}

/** The newest applied migration of Prisma (`_prisma_migrations`) or Drizzle (`__drizzle_migrations`), if any. */
export async function latestMigration(client: ClientBase): Promise<LatestMigration | null> {
  const prisma = await findTable(client, MIGRATIONS_TABLES.prisma);
  if (prisma) {
    const { rows } = await client.query<{ name: string; applied_at: Date | null }>(
      `SELECT migration_name AS name, finished_at AS applied_at FROM ${qualifiedName(prisma)}
       WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY finished_at DESC, migration_name DESC LIMIT 1`,
    );
    const row = rows[0];
    if (row) return { tool: 'prisma', name: row.name, appliedAt: row.applied_at?.toISOString() ?? null };
  }
  const drizzle = await findTable(client, MIGRATIONS_TABLES.drizzle);
  if (drizzle) {
    const { rows } = await client.query<{ hash: string; created_at: string | null }>(
      `SELECT hash, created_at::text FROM ${qualifiedName(drizzle)} ORDER BY created_at DESC NULLS LAST, id DESC LIMIT 1`,
    );
    const row = rows[0];
    if (row) {
      const appliedAt = row.created_at === null ? null : new Date(Number(row.created_at)).toISOString();
      return { tool: 'drizzle', name: row.hash, appliedAt };
    }
  }
  return null;
}

export async function serverVersion(client: ClientBase): Promise<string> {
  const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
  return rows[0]?.server_version ?? 'unknown';
}
