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

/**
 * Any name a database on a server may bear (a configured source, restored over in place): 1-63 bytes of any
 * characters but NUL, spaces, dots, capitals, quotes and non-ASCII included. Quoted as an identifier in SQL and as a
 * value in a libpq conninfo, and passed to `pg` as is, wherever it is used.
 */
export const ExistingDatabaseName = z
  .string()
  .min(1)
  .refine(
    (name) => Buffer.byteLength(name) <= MAX_IDENTIFIER_LENGTH && !name.includes('\0'),
    `must be 1-${MAX_IDENTIFIER_LENGTH} bytes without NUL, as PostgreSQL names are`,
  );

/** Every PostgreSQL server has it (RDS too): where a target database is created from and dropped from. */
export const MAINTENANCE_DATABASE = 'postgres';

/** Databases every server has, which a restore never writes into: the maintenance database, the templates, RDS's own. */
const RESERVED_DATABASES: Record<string, string> = {
  [MAINTENANCE_DATABASE]: "the server's maintenance database, where Lifeline and other tools connect to create and drop databases",
  template0: 'a template database, which every new database is copied from',
  template1: 'a template database, which every new database is copied from',
  rdsadmin: "RDS's own database",
};

/** Why a restore may not write into the database `name` (postgres, a template, RDS's own), or undefined. */
export function reservedDatabaseProblem(name: string): string | undefined {
  const what = RESERVED_DATABASES[name];
  return what && `"${name}" is ${what}; a restore never writes into it: name a new database`;
}

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

/** Whether `role` owns the database `name`, itself or through a role it inherits from (as pg_restore --role needs). */
export async function ownsDatabase(server: pg.ClientBase, name: string, role: string): Promise<boolean> {
  const { rows } = await server.query<{ owns: boolean }>(
    "SELECT pg_has_role($2, datdba, 'USAGE') AS owns FROM pg_database WHERE datname = $1",
    [name, role],
  );
  return rows[0]?.owns === true;
}

/** The comment on a database that a restore execution created: only that execution may drop it. */
const RESTORE_MARK = 'lifeline restore ';

/**
 * The comment that replaces an execution's mark once it has kept its database (keepDatabase): handed over to a cutover,
 * delivered as its result, or kept on failure. It names the execution and why, and nobody drops it by it.
 */
const KEPT_MARK = 'lifeline kept ';

/** A database on the server as a restore sees it. */
export interface ExistingDatabase {
  /** The restore execution whose mark it bears, null for none. */
  markedBy: string | null;
  /** The restore execution that kept it (KEPT_MARK), null for none. */
  keptBy: string | null;
  /** The role that owns it. */
  owner: string;
  /** pg_database.datistemplate: a template, which CREATE DATABASE copies. */
  template: boolean;
}

/** A database on the server, with the restore execution whose mark it bears; undefined when it does not exist. */
export async function findDatabase(server: pg.ClientBase, name: string): Promise<ExistingDatabase | undefined> {
  const { rows } = await server.query<{ comment: string | null; owner: string; template: boolean }>(
    `SELECT shobj_description(oid, 'pg_database') AS comment, pg_get_userbyid(datdba) AS owner, datistemplate AS template
     FROM pg_database WHERE datname = $1`,
    [name],
  );
  if (rows.length === 0) return undefined;
  const { comment, owner, template } = rows[0]!;
  return {
    markedBy: comment?.startsWith(RESTORE_MARK) ? comment.slice(RESTORE_MARK.length) : null,
    keptBy: comment?.startsWith(KEPT_MARK) ? comment.slice(KEPT_MARK.length).split(' ')[0]! : null,
    owner,
    template,
  };
}

/**
 * Marks a database as created by the restore execution `execution` (findDatabase reads it back), replacing any
 * mark it bore: an execution that takes over an ended execution's database marks it as its own.
 */
export async function markDatabase(server: pg.Client, name: string, execution: string): Promise<void> {
  // COMMENT takes no parameters: the text goes in as a quoted literal.
  await server.query(`COMMENT ON DATABASE ${quoteIdent(name)} IS ${server.escapeLiteral(RESTORE_MARK + execution)}`);
}

/**
 * Replaces execution `execution`'s mark on `name` with KEPT_MARK (`lifeline kept <execution> (<why>)`), checked under the
 * name's lock: from then on neither its Cleanup nor an event made by hand drops it, however the execution ends. Returns
 * the database as it was before (undefined when it does not exist); it is unchanged unless `execution` marked it.
 */
export async function keepDatabase(server: pg.Client, name: string, execution: string, why: string): Promise<ExistingDatabase | undefined> {
  return withDatabaseNameLock(server, name, async () => {
    const existing = await findDatabase(server, name);
    if (existing?.markedBy === execution) {
      await server.query(`COMMENT ON DATABASE ${quoteIdent(name)} IS ${server.escapeLiteral(`${KEPT_MARK}${execution} (${why})`)}`);
    }
    return existing;
  });
}

/**
 * Drops `database` if it bears the mark of `execution`, checked just before the drop under the name's lock; returns
 * the database as it was (whose mark it bore), or undefined when it does not exist.
 */
export async function dropIfMarked(server: pg.Client, database: string, execution: string): Promise<ExistingDatabase | undefined> {
  return withDatabaseNameLock(server, database, async () => {
    const existing = await findDatabase(server, database);
    if (existing?.markedBy === execution) await dropDatabase(server, database);
    return existing;
  });
}

/** The databases on the server that bear a restore execution's mark, and the execution. */
export async function markedDatabases(server: pg.ClientBase): Promise<{ name: string; markedBy: string }[]> {
  const { rows } = await server.query<{ name: string; comment: string }>(
    `SELECT datname AS name, shobj_description(oid, 'pg_database') AS comment FROM pg_database
     WHERE shobj_description(oid, 'pg_database') LIKE $1 ORDER BY datname`,
    [`${RESTORE_MARK}%`],
  );
  return rows.map(({ name, comment }) => ({ name, markedBy: comment.slice(RESTORE_MARK.length) }));
}

/**
 * Step Functions' status of an execution by its ARN (DescribeExecution: RUNNING, SUCCEEDED, FAILED, TIMED_OUT,
 * ABORTED, PENDING_REDRIVE), or undefined when there is no such execution (its history has expired). `signal` ends
 * the call.
 */
export type ExecutionStatusLookup = (executionArn: string, signal?: AbortSignal) => Promise<string | undefined>;

/** Whether a mark still holds its database's name, and what is known of the execution it names. */
export interface MarkStanding {
  /** The marking execution may still be running, or whether it is could not be learnt: no one else may take the name. */
  holds: boolean;
  /** For messages, after the execution's ARN: " (RUNNING)", " (ended FAILED)", "" when Step Functions was not asked. */
  status: string;
}

/** Statuses of an execution that may still act: a redrive resumes a failed execution. */
const LIVE_STATUSES = ['RUNNING', 'PENDING_REDRIVE'];

/**
 * The marking contract: a database bearing execution E's mark is E's while E may still run (E's CreateTarget retried
 * finds it, E's Cleanup drops it). Once E has ended (succeeded, failed, timed out, stopped, or is unknown to Step
 * Functions), the mark no longer holds the name: another execution may take the database as any existing one (empty,
 * owned by the application's role) and mark it as its own. Without `lookup`, or when it fails, a mark holds.
 */
export async function markStanding(
  markedBy: string,
  lookup: ExecutionStatusLookup | undefined,
  signal?: AbortSignal,
): Promise<MarkStanding> {
  if (!lookup) return { holds: true, status: '' };
  let status: string | undefined;
  try {
    status = await lookup(markedBy, signal);
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    return { holds: true, status: ` (whether it still runs could not be learnt from Step Functions: ${(error as Error).message})` };
  }
  if (status === undefined) return { holds: false, status: ' (unknown to Step Functions: its history has expired)' };
  return LIVE_STATUSES.includes(status) ? { holds: true, status: ` (${status})` } : { holds: false, status: ` (ended ${status})` };
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
