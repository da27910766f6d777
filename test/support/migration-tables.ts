/**
 * Prisma's and Drizzle's migration tables as the tools themselves create them on PostgreSQL: Prisma's schema engine
 * (`_prisma_migrations`, in the connection's schema) and drizzle-orm's pg migrator (`drizzle.__drizzle_migrations`
 * by default).
 */
export const PRISMA_MIGRATIONS_TABLE = `CREATE TABLE "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
);`;

export const DRIZZLE_MIGRATIONS_TABLE = `CREATE SCHEMA IF NOT EXISTS "drizzle";
CREATE TABLE IF NOT EXISTS "drizzle"."__drizzle_migrations" (
    id SERIAL PRIMARY KEY,
    hash text NOT NULL,
    created_at bigint
);`;

const literal = (value: string | null) => (value === null ? 'NULL' : `'${value.replace(/'/g, "''")}'`);

/**
 * The row Prisma writes for one attempt at a migration: `finished` null for one that failed (with its log, as Prisma
 * records the error), `rolledBack` set by `prisma migrate resolve --rolled-back`.
 */
export function prismaMigration(name: string, at: { started: string; finished: string | null; rolledBack?: string | null }): string {
  const id = crypto.randomUUID();
  const log =
    at.finished === null ? 'Database error code: 42701\n\nDatabase error:\nERROR: column "x" of relation "y" already exists' : null;
  return `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
    VALUES ('${id}', '${'0'.repeat(64)}', ${literal(at.finished)}, ${literal(name)}, ${literal(log)}, ${literal(at.rolledBack ?? null)},
            ${literal(at.started)}, ${at.finished === null ? 0 : 1});`;
}

/** The row drizzle-orm's migrator writes for an applied migration: its SQL's SHA-256 and its folder's time. */
export function drizzleMigration(hash: string, folderMillis: number): string {
  return `INSERT INTO "drizzle"."__drizzle_migrations" (hash, created_at) VALUES (${literal(hash)}, ${folderMillis});`;
}
