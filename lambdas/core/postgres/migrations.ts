import type { ClientBase } from 'pg';
import { z } from 'zod';
import { backupState, type Vault } from '../drift/diff.js';
import { compareSchemas, describeSchemaDrift } from '../drift/report.js';
import { liveSchema, type DatabaseSchema } from '../drift/schema.js';
import { LifelineError } from '../errors.js';
import { listBackups } from '../vault/backups.js';
import { connectClient, describe, redact, type ConnectionSettings } from './connection.js';
import { findTable, MIGRATIONS_TABLES, qualifiedName, quoteIdent, type TableRef } from './inventory.js';

/**
 * Prisma's and Drizzle's migration tables as those tools create them: what a restored database has applied against
 * its live source, and marking failed Prisma migrations rolled back (`prisma migrate resolve --rolled-back`).
 *
 * Prisma: `_prisma_migrations` (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at,
 * applied_steps_count), one row per attempt; finished_at NULL and rolled_back_at NULL is a failed (or unfinished)
 * migration, which `prisma migrate deploy` refuses to go past (P3009). Drizzle: `drizzle.__drizzle_migrations` (id,
 * hash, created_at) by default, one row per applied migration: its migrator runs them all in one transaction, so it
 * has no failed or rolled-back state; `hash` names a migration (the SHA-256 of its SQL), `created_at` is its folder's
 * time in milliseconds, not when it ran.
 */

/** Drizzle's migrationsSchema when the application sets none. */
export const DRIZZLE_SCHEMA = 'drizzle';

/** The most migrations each list of a report names; a report travels in states limited to 256 KiB. */
export const MAX_REPORTED_MIGRATIONS = 20;
/** Prisma's migration_name is a varchar(255); Drizzle's hashes are 64 hex digits. */
export const MAX_MIGRATION_NAME_LENGTH = 255;
/** The schema differences a refusal names per migration, each cut to MAX_REFUSAL_LINE_LENGTH characters. */
const MAX_NAMED_DIFFERENCES = 3;
const MAX_REFUSAL_LINE_LENGTH = 200;

export const MigrationTool = z.enum(['prisma', 'drizzle']);
export type MigrationTool = z.infer<typeof MigrationTool>;

/** A migration as a report names it. `at`: Prisma's started_at; Drizzle's created_at (its folder's time). */
export const ReportedMigration = z.strictObject({
  tool: MigrationTool,
  name: z.string().max(MAX_MIGRATION_NAME_LENGTH),
  at: z.iso.datetime().nullable(),
});
export type ReportedMigration = z.infer<typeof ReportedMigration>;

/** How many, and the first MAX_REPORTED_MIGRATIONS of them, oldest first. */
export const MigrationList = z.strictObject({
  count: z.number().int().nonnegative(),
  first: z.array(ReportedMigration).max(MAX_REPORTED_MIGRATIONS),
});
export type MigrationList = z.infer<typeof MigrationList>;

/** A Prisma migration markRolledBack marked rolled back, or found rolled back already (a retried step). */
export const RolledBackMigration = z.strictObject({
  name: z.string().max(MAX_MIGRATION_NAME_LENGTH),
  rolledBackAt: z.iso.datetime(),
  /** The backup before the migration started whose schema the restored database's equals; null when `already`. */
  evidence: z.string().nullable(),
  /** It was rolled back before this call: nothing was changed. */
  already: z.boolean(),
});
export type RolledBackMigration = z.infer<typeof RolledBackMigration>;

/** The restored database's migrations against its live source's: information for the approver, never a failure. */
export const MigrationState = z.strictObject({
  /** The migration tables the restored database has. */
  tools: z.array(MigrationTool),
  /**
   * The migrations the live source has applied (Prisma: finished and not rolled back; Drizzle: recorded) that the
   * restored database lacks or has not finished: what the application's code may expect that is not there. Null
   * when the source was not compared (`notCompared` says why).
   */
  missing: MigrationList.nullable(),
  notCompared: z.string().nullable(),
  /** The restored database's Prisma migrations that failed or never finished (finished_at and rolled_back_at NULL). */
  failed: MigrationList,
  /** What markRolledBack marked before the checks (the input's markRolledBack). */
  rolledBack: z.array(RolledBackMigration).max(MAX_REPORTED_MIGRATIONS),
});
export type MigrationState = z.infer<typeof MigrationState>;

/** One row of a migration table. Drizzle's are all applied. */
interface RecordedMigration {
  tool: MigrationTool;
  name: string;
  at: string | null;
  status: 'applied' | 'failed' | 'rolled back';
}

const iso = (value: Date | null) => value?.toISOString() ?? null;

/** Drizzle's created_at, milliseconds as text (a bigint), as a time; null where it is none or out of range. */
function drizzleTime(millis: string | null): string | null {
  const time = millis === null ? NaN : Number(millis);
  return Number.isFinite(time) && Math.abs(time) <= 8.64e15 ? new Date(time).toISOString() : null;
}

export async function prismaTable(client: ClientBase): Promise<TableRef | undefined> {
  return findTable(client, MIGRATIONS_TABLES.prisma);
}

export async function drizzleTable(client: ClientBase): Promise<TableRef | undefined> {
  return findTable(client, MIGRATIONS_TABLES.drizzle, DRIZZLE_SCHEMA);
}

/** Every migration a database's Prisma and Drizzle tables record, oldest first, and which tables it has. */
export async function recordedMigrations(client: ClientBase): Promise<{ tools: MigrationTool[]; migrations: RecordedMigration[] }> {
  const tools: MigrationTool[] = [];
  const migrations: RecordedMigration[] = [];
  const prisma = await prismaTable(client);
  if (prisma) {
    tools.push('prisma');
    const { rows } = await client.query<{ name: string; started_at: Date | null; finished_at: Date | null; rolled_back_at: Date | null }>(
      `SELECT migration_name AS name, started_at, finished_at, rolled_back_at FROM ${qualifiedName(prisma)}
       ORDER BY started_at, migration_name`,
    );
    for (const row of rows) {
      const status = row.rolled_back_at !== null ? 'rolled back' : row.finished_at !== null ? 'applied' : 'failed';
      migrations.push({ tool: 'prisma', name: row.name, at: iso(row.started_at), status });
    }
  }
  const drizzle = await drizzleTable(client);
  if (drizzle) {
    tools.push('drizzle');
    const { rows } = await client.query<{ hash: string; created_at: string | null }>(
      `SELECT hash, created_at::text FROM ${qualifiedName(drizzle)} ORDER BY id`,
    );
    for (const row of rows) migrations.push({ tool: 'drizzle', name: row.hash, at: drizzleTime(row.created_at), status: 'applied' });
  }
  return { tools, migrations };
}

function listOf(migrations: readonly RecordedMigration[]): MigrationList {
  const cut = (name: string) => (name.length > MAX_MIGRATION_NAME_LENGTH ? name.slice(0, MAX_MIGRATION_NAME_LENGTH) : name);
  return {
    count: migrations.length,
    first: migrations.slice(0, MAX_REPORTED_MIGRATIONS).map(({ tool, name, at }) => ({ tool, name: cut(name), at })),
  };
}

/** The source's applied migrations that `restored` has not applied, by tool and name. */
export function missingMigrations(source: readonly RecordedMigration[], restored: readonly RecordedMigration[]): RecordedMigration[] {
  const applied = new Set(restored.filter((m) => m.status === 'applied').map((m) => `${m.tool}\0${m.name}`));
  return source.filter((m) => m.status === 'applied' && !applied.has(`${m.tool}\0${m.name}`));
}

/**
 * The restored database's migration state (on `restored`, as the application's role) against its live source's,
 * read with `source`'s settings; where there is no source to compare with (`source` says why) or it cannot be read,
 * the state says why it was not compared. `rolledBack`: what markRolledBack marked before.
 */
export async function migrationState(
  restored: ClientBase,
  source: ConnectionSettings | { unreachable: string },
  rolledBack: RolledBackMigration[],
): Promise<MigrationState> {
  const { tools, migrations } = await recordedMigrations(restored);
  const failed = listOf(migrations.filter((m) => m.status === 'failed'));
  if ('unreachable' in source) return { tools, missing: null, notCompared: source.unreachable, failed, rolledBack };
  let applied: RecordedMigration[];
  try {
    const client = await connectClient(source);
    try {
      applied = (await recordedMigrations(client)).migrations;
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch (error) {
    const why = `the source ${describe(source)} could not be read: ${redact((error as Error).message, source)}`;
    return { tools, missing: null, notCompared: why, failed, rolledBack };
  }
  return { tools, missing: listOf(missingMigrations(applied, migrations)), notCompared: null, failed, rolledBack };
}

const named = (list: MigrationList) => {
  const names = list.first.slice(0, 3).map((m) => `${m.tool} ${m.name}`);
  return `${names.join(', ')}${list.count > names.length ? ` and ${list.count - names.length} more` : ''}`;
};

/** The state in a sentence for the validation's summary, starting with a space; '' when there is nothing to tell. */
export function describeMigrationState(state: MigrationState): string {
  const said: string[] = [];
  if (state.missing && state.missing.count > 0) {
    said.push(
      `${state.missing.count} applied on the live source ${state.missing.count === 1 ? 'is' : 'are'} not applied here (${named(state.missing)})`,
    );
  }
  if (state.failed.count > 0) said.push(`${state.failed.count} failed or unfinished here (${named(state.failed)})`);
  const marked = state.rolledBack.filter((m) => !m.already).map((m) => m.name);
  if (marked.length > 0) said.push(`marked rolled back: ${marked.join(', ')}`);
  return said.length === 0 ? '' : ` Migrations: ${said.join('; ')}.`;
}

/** What markRolledBack needs: explicit, so that any step after the restore can call it. */
export interface MarkRolledBackRequest {
  /** Prisma migration names, as `prisma migrate resolve --rolled-back` takes them. */
  names: readonly string[];
  /** The restored database as its owner connects: the application's role, or an admin that becomes `setRole`. */
  restored: ConnectionSettings;
  setRole: string | null;
  /** The vault holding the backups of `database`, the configured database restored: the evidence. */
  vault: Vault;
  database: string;
  /** The step's deadline: evidence reads stop there, and nothing is marked once it has passed. */
  signal?: AbortSignal;
}

interface PrismaRow {
  name: string;
  started_at: Date;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

/** A failed migration to mark, and the time before which its evidence was taken. */
interface Candidate {
  name: string;
  startedAt: Date;
}

const cutLine = (line: string) => (line.length > MAX_REFUSAL_LINE_LENGTH ? `${line.slice(0, MAX_REFUSAL_LINE_LENGTH - 3)}...` : line);

/**
 * Marks the named Prisma migrations rolled back in the restored database, as `prisma migrate resolve --rolled-back`
 * does (rolled_back_at = now() on their failed rows), only where the restore shows their effects absent: the
 * restored schema equals that of the newest backup of `database` taken before the migration started. All or
 * nothing, in one transaction, as the database's owner: a name refused (not in `_prisma_migrations`, a Drizzle
 * migration, one that finished, one without such a backup or whose effects may be present) fails with
 * MarkRolledBackRefused naming each and why, and nothing is marked. A name rolled back already (a retried step) is
 * reported as such and changed no more.
 */
export async function markRolledBack(request: MarkRolledBackRequest): Promise<RolledBackMigration[]> {
  const names = [...new Set(request.names)];
  if (names.length === 0) return [];
  const client = await connectClient(request.restored);
  try {
    if (request.setRole !== null) await client.query(`SET ROLE ${quoteIdent(request.setRole)}`);
    await client.query('BEGIN');
    try {
      const marked = await markWithin(client, names, request);
      await client.query('COMMIT');
      return marked;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function markWithin(client: ClientBase, names: string[], request: MarkRolledBackRequest): Promise<RolledBackMigration[]> {
  const refusals: string[] = [];
  const refuse = (name: string, why: string) => refusals.push(`"${cutLine(name)}" ${why}`);
  const prisma = await prismaTable(client);
  const drizzle = await drizzleTable(client);
  const drizzleHashes = new Set<string>();
  if (drizzle) {
    const { rows } = await client.query<{ hash: string }>(`SELECT hash FROM ${qualifiedName(drizzle)} WHERE hash = ANY($1)`, [names]);
    for (const row of rows) drizzleHashes.add(row.hash);
  }
  const drizzleRefusal = `is a Drizzle migration (${drizzle ? qualifiedName(drizzle) : MIGRATIONS_TABLES.drizzle}): Drizzle records applied migrations only and has no rolled-back state`;
  if (!prisma) {
    for (const name of names)
      refuse(name, drizzleHashes.has(name) ? drizzleRefusal : `cannot be: the restored database has no ${MIGRATIONS_TABLES.prisma} table`);
    throw refused(refusals);
  }
  // Locked until the commit: a migration running meanwhile cannot finish a row this marks.
  const { rows } = await client.query<PrismaRow>(
    `SELECT migration_name AS name, started_at, finished_at, rolled_back_at FROM ${qualifiedName(prisma)}
     WHERE migration_name = ANY($1) ORDER BY started_at FOR UPDATE`,
    [names],
  );
  const candidates: Candidate[] = [];
  const already: RolledBackMigration[] = [];
  for (const name of names) {
    const attempts = rows.filter((row) => row.name === name);
    const failed = attempts.filter((row) => row.finished_at === null && row.rolled_back_at === null);
    const finished = attempts.find((row) => row.finished_at !== null && row.rolled_back_at === null);
    if (attempts.length === 0) {
      refuse(
        name,
        drizzleHashes.has(name)
          ? drizzleRefusal
          : `is not in ${qualifiedName(prisma)}: it was never applied to the restored database (Prisma P3011)`,
      );
    } else if (failed.length > 0) {
      candidates.push({ name, startedAt: failed[0]!.started_at });
    } else if (finished) {
      refuse(name, `finished at ${finished.finished_at!.toISOString()}: only a failed migration can be marked rolled back (Prisma P3012)`);
    } else {
      const last = attempts.reduce((a, b) => (a.rolled_back_at! > b.rolled_back_at! ? a : b));
      already.push({ name, rolledBackAt: last.rolled_back_at!.toISOString(), evidence: null, already: true });
    }
  }
  const evidence = await evidenceOf(candidates, request, refuse);
  if (refusals.length > 0) throw refused(refusals);
  if (candidates.length === 0) return already;
  // Past the step's deadline nothing is marked: its state may have given up on it.
  request.signal?.throwIfAborted();
  const marked = await client.query<{ name: string; rolled_back_at: Date }>(
    `UPDATE ${qualifiedName(prisma)} SET rolled_back_at = now()
     WHERE migration_name = ANY($1) AND finished_at IS NULL AND rolled_back_at IS NULL RETURNING migration_name AS name, rolled_back_at`,
    [candidates.map((c) => c.name)],
  );
  const at = marked.rows[0]!.rolled_back_at.toISOString();
  return [...candidates.map((c) => ({ name: c.name, rolledBackAt: at, evidence: evidence.get(c.name)!, already: false })), ...already];
}

/**
 * Each candidate's evidence that its effects are absent: the newest backup of the database taken before it started,
 * whose schema the restored database's equals (backup keys by name). Refuses (through `refuse`) those without.
 */
async function evidenceOf(
  candidates: Candidate[],
  request: MarkRolledBackRequest,
  refuse: (name: string, why: string) => void,
): Promise<Map<string, string>> {
  const evidence = new Map<string, string>();
  if (candidates.length === 0) return evidence;
  const { vault, database, signal } = request;
  const backups = await listBackups(vault.s3, vault.bucket, database);
  const schemas = new Map<string, DatabaseSchema>();
  let restored: DatabaseSchema | undefined;
  for (const { name, startedAt } of candidates) {
    const before = backups.filter((b) => b.startedAt < startedAt).at(-1);
    const started = startedAt.toISOString();
    if (!before) {
      refuse(
        name,
        `started at ${started}, and no backup of ${database} in s3://${vault.bucket} was taken before it: nothing shows its effects absent`,
      );
      continue;
    }
    restored ??= await liveSchema(request.restored, signal);
    const schema = schemas.get(before.key) ?? (await backupState(vault, before.key, signal)).schema;
    schemas.set(before.key, schema);
    const differences = describeSchemaDrift(compareSchemas(schema, restored));
    if (differences.length === 0) {
      evidence.set(name, before.key);
      continue;
    }
    const shown = differences.slice(0, MAX_NAMED_DIFFERENCES).map(cutLine);
    const more = differences.length > shown.length ? `, and ${differences.length - shown.length} more` : '';
    refuse(
      name,
      `started at ${started}: the restored schema differs from backup ${before.key}, the newest taken before it, so its effects may be present (${shown.join('; ')}${more})`,
    );
  }
  return evidence;
}

const refused = (refusals: string[]) =>
  new LifelineError('MarkRolledBackRefused', `markRolledBack: nothing was marked rolled back: ${refusals.join('; ')}`);
