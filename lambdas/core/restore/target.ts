import type pg from 'pg';
import { connectClient, describe, redact, type ConnectionSettings } from '../postgres/connection.js';
import { LifelineError } from '../errors.js';
import { assertWithoutTables, createDatabase, dropDatabase, findDatabase, MAINTENANCE_DATABASE } from '../postgres/databases.js';

/** The OIDs of every object of the kinds a restore creates, taken just before it writes anything. */
interface CatalogSnapshot {
  schemas: string[];
  relations: string[];
  types: string[];
  functions: string[];
  extensions: string[];
  largeObjects: string[];
}

const SNAPSHOT = `SELECT
  array(SELECT oid::text FROM pg_namespace) AS schemas, array(SELECT oid::text FROM pg_class) AS relations,
  array(SELECT oid::text FROM pg_type) AS types, array(SELECT oid::text FROM pg_proc) AS functions,
  array(SELECT oid::text FROM pg_extension) AS extensions,
  array(SELECT oid::text FROM pg_largeobject_metadata) AS "largeObjects"`;

const notInExtension = (catalog: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${catalog}'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`;

/**
 * An object of `catalog` that nothing depends on but what the restore's definitions created: another session's table
 * in a restored schema, or of a restored type, keeps it (CASCADE would drop theirs too). What depends on a restored
 * table (its indexes, constraints, triggers: the restore's own, made after its definitions) goes with it.
 */
const onlyOursDependOn = (catalog: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = '${catalog}'::regclass AND d.refobjid = ${oid} AND d.xmin <> $2::xid AND d.deptype = 'n')`;

/**
 * Queries that write the DROP statements for the objects the restore's definitions created ($2, the transaction that
 * created them) and not in the snapshot taken before ($1), in an order that keeps each statement small (a schema
 * dropped after its tables needs few locks): relations, routines, types (not the array and row types that go with
 * others), then schemas and extensions with whatever else of theirs is left. Each runs after the drops before it,
 * so it sees only what those left. Objects other sessions created meanwhile have another creating transaction.
 */
const DROPS: { kind: keyof CatalogSnapshot; query: string }[] = [
  {
    kind: 'relations',
    query: `SELECT format('DROP %s IF EXISTS %s CASCADE', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
              WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, c.oid::regclass) AS statement
            FROM pg_class c WHERE c.oid <> ALL($1::oid[]) AND c.xmin = $2::xid AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
              AND ${notInExtension('pg_class', 'c.oid')}
              -- An identity column's sequence cannot be dropped by itself: it goes with its table.
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'i')`,
  },
  {
    kind: 'functions',
    query: `SELECT format('DROP ROUTINE IF EXISTS %s CASCADE', p.oid::regprocedure) AS statement
            FROM pg_proc p WHERE p.oid <> ALL($1::oid[]) AND p.xmin = $2::xid AND ${notInExtension('pg_proc', 'p.oid')}
              AND ${onlyOursDependOn('pg_proc', 'p.oid')}`,
  },
  {
    kind: 'types',
    query: `SELECT format('DROP %s IF EXISTS %s CASCADE', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype) AS statement
            FROM pg_type t WHERE t.oid <> ALL($1::oid[]) AND t.xmin = $2::xid AND t.typtype <> 'm' AND ${onlyOursDependOn('pg_type', 't.oid')}
              AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
              AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.typarray = t.oid) AND ${notInExtension('pg_type', 't.oid')}`,
  },
  {
    kind: 'schemas',
    query: `SELECT format('DROP SCHEMA IF EXISTS %I CASCADE', nspname) AS statement FROM pg_namespace n
            WHERE oid <> ALL($1::oid[]) AND n.xmin = $2::xid AND ${onlyOursDependOn('pg_namespace', 'n.oid')}`,
  },
  {
    kind: 'extensions',
    query: `SELECT format('DROP EXTENSION IF EXISTS %I CASCADE', extname) AS statement FROM pg_extension e
            WHERE oid <> ALL($1::oid[]) AND e.xmin = $2::xid AND ${onlyOursDependOn('pg_extension', 'e.oid')}`,
  },
];

/** In batches: each large object unlinked takes a lock until its transaction ends. */
const UNLINK_LARGE_OBJECTS = `SELECT count(lo_unlink(oid))::int AS n FROM
  (SELECT oid FROM pg_largeobject_metadata WHERE oid <> ALL($1::oid[]) AND xmin = $2::xid LIMIT 1000) AS restored`;

/** What the restore's definitions created and the drops left, because other sessions' objects depend on it. */
const LEFT_OVER = `SELECT format('schema %I', nspname) AS object FROM pg_namespace WHERE oid <> ALL($1::oid[]) AND xmin = $2::xid
  UNION ALL SELECT format('type %s', oid::regtype) FROM pg_type t WHERE oid <> ALL($3::oid[]) AND xmin = $2::xid AND typtype <> 'm'
    AND typrelid = 0 AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.typarray = t.oid) AND ${notInExtension('pg_type', 't.oid')}
  UNION ALL SELECT format('routine %s', oid::regprocedure) FROM pg_proc p WHERE oid <> ALL($4::oid[]) AND xmin = $2::xid
    AND ${notInExtension('pg_proc', 'p.oid')}
  UNION ALL SELECT format('extension %I', extname) FROM pg_extension WHERE oid <> ALL($5::oid[]) AND xmin = $2::xid`;

/**
 * The transaction that created the restored tables `tables` (new since the snapshot's `relations`): the restore's
 * definitions run in one (pg_restore --section=pre-data --single-transaction), which created every object of the
 * restore that is dropped on failure. One that another session created under one of their names after (it could
 * not before: the definitions would have failed) shows as a second transaction, which cannot be told from theirs.
 */
const DEFINITIONS_TRANSACTION = `SELECT DISTINCT c.xmin::text AS xid
  FROM unnest($1::text[], $2::text[]) AS restored(schema, name)
  JOIN pg_namespace n ON n.nspname = restored.schema JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = restored.name
  WHERE c.oid <> ALL($3::oid[])`;

/** The database a restore writes into, and how to put it back as it was if the restore fails. */
export interface UndoableTarget {
  /** A connection to the target's server, for checks before anything is written (pg_roles). */
  server: pg.Client;
  /** Called just before the first write; returns a connection to the target database. */
  prepare(): Promise<pg.Client>;
  /**
   * Called once the restore's definitions have committed, in one transaction, with the tables they created: by that
   * transaction, undo tells the restore's objects from those other sessions created meanwhile.
   */
  definitionsRestored(tables: readonly { schema: string; name: string }[]): Promise<void>;
  /**
   * After a failure: drops a database `prepare` created, or what the restore added to an existing one; says
   * what became of the target. `restored`: pg_restore had finished (an in-place restore had committed).
   */
  undo(restored: boolean): Promise<string>;
  close(): Promise<void>;
}

function failure(what: string, settings: ConnectionSettings, error: unknown): LifelineError {
  return new LifelineError('RestoreFailed', `${what} ${describe(settings)} failed: ${redact((error as Error).message, settings)}`);
}

/**
 * A database this restore creates (through the server's maintenance database), owned by `owner` when given,
 * and drops again on failure. It must not exist yet.
 */
async function newDatabase(settings: ConnectionSettings, owner: string | undefined): Promise<UndoableTarget> {
  const maintenance = { ...settings, database: MAINTENANCE_DATABASE };
  const server = await connectClient(maintenance);
  const exists = () =>
    new LifelineError('InvalidInput', `target ${describe(settings)} already exists; createTarget restores into a database of its own`);
  let created = false;
  let client: pg.Client | undefined;
  try {
    if (await findDatabase(server, settings.database)) throw exists();
  } catch (error) {
    await server.end().catch(() => undefined);
    throw error;
  }
  return {
    server,
    async prepare() {
      try {
        await createDatabase(server, settings.database, owner);
      } catch (error) {
        throw (error as { code?: string }).code === '42P04' ? exists() : failure('creating', settings, error);
      }
      created = true;
      await server.end(); // a restore can take hours; the drop, if it comes to that, connects afresh
      client = await connectClient(settings);
      return client;
    },
    // Dropped whole on failure: no object of it needs telling apart.
    definitionsRestored: () => Promise.resolve(),
    async undo() {
      await client?.end().catch(() => undefined);
      if (!created) return `nothing was written to ${describe(settings)}`;
      const cleaner = await connectClient(maintenance);
      try {
        await dropDatabase(cleaner, settings.database);
      } catch (error) {
        throw failure('dropping the partly restored', settings, error);
      } finally {
        await cleaner.end().catch(() => undefined);
      }
      return `the database it had created, ${describe(settings)}, was dropped`;
    },
    async close() {
      await client?.end().catch(() => undefined);
      await server.end().catch(() => undefined);
    },
  };
}

/**
 * An existing database without tables of its own. What it holds before the restore writes is recorded, and the
 * transaction its definitions were created in; on failure, exactly what that transaction added is dropped (schemas,
 * relations, types, routines, extensions, large objects; other kinds of objects go with their schema, indexes and
 * constraints with their table): nothing that was there before is touched, nor what other sessions created meanwhile,
 * nor what of the restore's their objects depend on (kept, and said).
 */
async function existingDatabase(settings: ConnectionSettings): Promise<UndoableTarget> {
  const client = await connectClient(settings);
  let before: CatalogSnapshot | undefined;
  let backendPid: number | undefined;
  /** The transaction of the restore's definitions, once they committed: a number, or why it cannot be told. */
  let definitions: { xid: string } | { unknown: string } | undefined;
  try {
    await assertWithoutTables(client, `target ${describe(settings)}`);
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return {
    server: client,
    async prepare() {
      before = (await client.query<CatalogSnapshot>(SNAPSHOT)).rows[0]!;
      backendPid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      return client;
    },
    async definitionsRestored(tables) {
      if (!before) return;
      if (tables.length === 0) {
        definitions = { unknown: 'it restored no table, by which its own objects are told from other sessions’' };
        return;
      }
      const { rows } = await client.query<{ xid: string }>(DEFINITIONS_TRANSACTION, [
        tables.map((table) => table.schema),
        tables.map((table) => table.name),
        before.relations,
      ]);
      definitions =
        rows.length === 1
          ? { xid: rows[0]!.xid }
          : { unknown: `its tables came from ${rows.length} transactions: another session replaced some of them` };
    },
    async undo() {
      if (!before) return `nothing was written to ${describe(settings)}`;
      // Its definitions run in one transaction: one that did not commit left nothing.
      if (!definitions) return `its definitions had not committed, so it had created nothing in ${describe(settings)}`;
      if ('unknown' in definitions) {
        return `what it had created in ${describe(settings)} was left there: ${definitions.unknown}; drop it by hand`;
      }
      const { xid } = definitions;
      const snapshot = before;
      const cleaner = await connectClient(settings);
      let left: string[];
      try {
        // A count of ours still running would hold a lock that the drops wait for.
        await cleaner.query('SELECT pg_cancel_backend($1)', [backendPid]);
        await client.end().catch(() => undefined);
        // Names come out schema-qualified and are read back the same way.
        await cleaner.query('SET search_path = pg_catalog');
        for (const { kind, query } of DROPS) {
          const { rows } = await cleaner.query<{ statement: string }>(query, [snapshot[kind], xid]);
          for (const { statement } of rows) await cleaner.query(statement);
        }
        let unlinked: number;
        do {
          unlinked = (await cleaner.query<{ n: number }>(UNLINK_LARGE_OBJECTS, [snapshot.largeObjects, xid])).rows[0]!.n;
        } while (unlinked > 0);
        const { schemas, types, functions, extensions } = snapshot;
        left = (await cleaner.query<{ object: string }>(LEFT_OVER, [schemas, xid, types, functions, extensions])).rows.map(
          (row) => row.object,
        );
      } catch (error) {
        throw failure('dropping what the restore created in', settings, error);
      } finally {
        await cleaner.end().catch(() => undefined);
      }
      const kept = left.length === 0 ? '' : `, but for what objects other sessions created depend on: ${left.join(', ')}`;
      return `what it had created in ${describe(settings)} was dropped${kept}`;
    },
    async close() {
      await client.end().catch(() => undefined);
    },
  };
}

/**
 * The source database (or any database with tables), restored over in one transaction (pg_restore --clean
 * --single-transaction): a failure before the commit leaves it as it was; nothing is dropped afterwards.
 */
async function replacedDatabase(settings: ConnectionSettings): Promise<UndoableTarget> {
  const client = await connectClient(settings);
  return {
    server: client,
    prepare: () => Promise.resolve(client),
    definitionsRestored: () => Promise.resolve(),
    undo: (restored) =>
      Promise.resolve(
        restored
          ? `${describe(settings)} holds the restored backup: the restore had committed`
          : `the restore ran in one transaction, so ${describe(settings)} was left as it was`,
      ),
    async close() {
      await client.end().catch(() => undefined);
    },
  };
}

export interface TargetMode {
  /** Create the database, owned by `owner`; it must not exist yet. */
  create?: boolean;
  owner?: string;
  /** Restore over what the database holds (see replacedDatabase). */
  inPlace?: boolean;
}

/** Opens the target of a restore: checked, and nothing written to it yet. */
export function openTarget(settings: ConnectionSettings, mode: TargetMode): Promise<UndoableTarget> {
  if (mode.inPlace) return replacedDatabase(settings);
  return mode.create ? newDatabase(settings, mode.owner) : existingDatabase(settings);
}
