import type pg from 'pg';
import { z } from 'zod';
import { LifelineError } from '../errors.js';
import { listUserTables, quoteIdent } from './inventory.js';

/** PostgreSQL's longest identifier (a database's or a role's name, NAMEDATALEN - 1). */
export const MAX_IDENTIFIER_LENGTH = 63;

/** A PostgreSQL database name: quoted wherever it is used, so only its length and a few characters are limited. */
export const DatabaseName = z
  .string()
  .regex(
    new RegExp(`^[A-Za-z_][A-Za-z0-9_$-]{0,${MAX_IDENTIFIER_LENGTH - 1}}$`),
    `must be 1-${MAX_IDENTIFIER_LENGTH} letters, digits, "_", "$" or "-", starting with a letter or "_"`,
  );

/** Every PostgreSQL server has it (RDS too): where a target database is created from and dropped from. */
export const MAINTENANCE_DATABASE = 'postgres';

/**
 * Creates an empty database, owned by `owner` when given, on the server `server` is connected to (its
 * maintenance database). template0: nothing a template1 may hold (extensions, tables) is in the restore's way.
 */
export async function createDatabase(server: pg.ClientBase, name: string, owner: string | undefined): Promise<void> {
  await server.query(`CREATE DATABASE ${quoteIdent(name)}${owner === undefined ? '' : ` OWNER ${quoteIdent(owner)}`} TEMPLATE template0`);
}

/** Drops a database; FORCE ends the sessions a stopped pg_restore may have left behind. */
export async function dropDatabase(server: pg.ClientBase, name: string): Promise<void> {
  await server.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
}

/** Refuses a database that holds tables (`client` is connected to it), which a restore never writes into; `what` names it. */
export async function assertWithoutTables(client: pg.ClientBase, what: string): Promise<void> {
  const existing = await listUserTables(client);
  if (existing.length === 0) return;
  const names = existing
    .slice(0, 5)
    .map((t) => `${t.schema}.${t.name}`)
    .join(', ');
  const more = existing.length > 5 ? ', ...' : '';
  throw new LifelineError('InvalidInput', `${what} is not empty (${names}${more}); restore into a new database`);
}

/** The comment on a database that a restore execution created: only that execution may drop it. */
const RESTORE_MARK = 'lifeline restore ';

/**
 * A database on the server, with the restore execution whose mark it bears (`markedBy`, null for none); undefined
 * when it does not exist.
 */
export async function findDatabase(server: pg.ClientBase, name: string): Promise<{ markedBy: string | null } | undefined> {
  const { rows } = await server.query<{ comment: string | null }>(
    "SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1",
    [name],
  );
  if (rows.length === 0) return undefined;
  const comment = rows[0]!.comment;
  return { markedBy: comment?.startsWith(RESTORE_MARK) ? comment.slice(RESTORE_MARK.length) : null };
}

/** Marks a database as created by the restore execution `execution` (findDatabase reads it back). */
export async function markDatabase(server: pg.Client, name: string, execution: string): Promise<void> {
  // COMMENT takes no parameters: the text goes in as a quoted literal.
  await server.query(`COMMENT ON DATABASE ${quoteIdent(name)} IS ${server.escapeLiteral(RESTORE_MARK + execution)}`);
}

/** Arbitrary first key of the advisory locks on database names, so that they meet no one else's. */
const DATABASE_NAME_LOCK = 0x11fe;

/**
 * Runs `work` holding a session lock on the database name `name` (every restore connects to the same maintenance
 * database, where the lock lives): checking a name, then creating and marking it, is one step to every other restore.
 */
export async function withDatabaseNameLock<T>(server: pg.ClientBase, name: string, work: () => Promise<T>): Promise<T> {
  await server.query('SELECT pg_advisory_lock($1, hashtext($2))', [DATABASE_NAME_LOCK, name]);
  try {
    return await work();
  } finally {
    await server.query('SELECT pg_advisory_unlock($1, hashtext($2))', [DATABASE_NAME_LOCK, name]).catch(() => undefined);
  }
}
