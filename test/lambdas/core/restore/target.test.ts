import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, fromUrl } from '../../../../lambdas/core/postgres/connection.js';
import { runRestore, type RestoreOptions } from '../../../../lambdas/core/restore/pipeline.js';
import { runCli } from '../../../support/cli.js';
import { databaseDigest, type DatabaseDigest } from '../../../support/fixture.js';
import { backUpIntoNewBucket, sharedPostgres, sharedS3 } from '../../../support/shared.js';
import { assertWithoutTables } from '../../../../lambdas/core/postgres/databases.js';

const pg = sharedPostgres();
const s3 = sharedS3();

let bucket: string;
let key: string;
let role: string;
let sourceDigest: DatabaseDigest;
let staging: string;

beforeAll(async () => {
  const source = await pg.createDatabase('grants');
  role = `lifeline_reader_${randomBytes(4).toString('hex')}`;
  await pg.query(
    source,
    `CREATE ROLE ${role};
     CREATE SCHEMA shop;
     CREATE TABLE shop.orders (id int PRIMARY KEY, item text NOT NULL);
     INSERT INTO shop.orders SELECT g, 'item ' || g FROM generate_series(1, 2000) g;
     CREATE INDEX orders_item_idx ON shop.orders (item);
     GRANT USAGE ON SCHEMA shop TO ${role};
     GRANT SELECT ON shop.orders TO ${role};
     ALTER DEFAULT PRIVILEGES IN SCHEMA shop GRANT SELECT ON TABLES TO ${role};`,
  );
  ({ bucket, key } = await backUpIntoNewBucket(pg, s3, source, 'grants'));
  // The role goes, as on a server that never had it; the archive still grants to it.
  await pg.query(source, `DROP OWNED BY ${role}; DROP ROLE ${role}`);
  sourceDigest = await databaseDigest(pg.url(source));
  staging = await mkdtemp(join(tmpdir(), 'lifeline-staging-'));
});

afterAll(async () => {
  await rm(staging, { recursive: true, force: true });
});

function restoreInto(database: string, options: Partial<RestoreOptions> = {}) {
  return runRestore({ s3: s3.client, bucket, selector: { key }, target: fromUrl(pg.url(database)), stagingDir: staging, ...options });
}

/** An existing target without tables, holding what a restore must leave alone: a schema with a type and a view, a function, a large object. */
async function occupiedTarget(prefix: string): Promise<string> {
  const database = await pg.createDatabase(prefix);
  await pg.query(
    database,
    `CREATE SCHEMA keep;
     CREATE TYPE keep.mood AS ENUM ('calm', 'busy');
     CREATE VIEW keep.moods AS SELECT unnest(enum_range(NULL::keep.mood)) AS mood;
     CREATE FUNCTION public.refuse_indexes() RETURNS event_trigger LANGUAGE plpgsql
       AS $$ BEGIN RAISE EXCEPTION 'indexes are refused here'; END $$;
     SELECT lo_from_bytea(0, 'kept');`,
  );
  return database;
}

/** The target's catalog and contents, and its event triggers (which the digest leaves out). */
async function snapshot(database: string) {
  const eventTriggers = await pg.query(database, 'SELECT evtname FROM pg_event_trigger ORDER BY 1');
  return { digest: await databaseDigest(pg.url(database)), eventTriggers };
}

async function databaseExists(name: string): Promise<boolean> {
  return (await pg.query('postgres', 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length > 0;
}

describe('privileges for roles the target server lacks', () => {
  it('are refused before anything is written, naming the roles and the way around', async () => {
    const target = await occupiedTarget('grants_missing');
    const before = await snapshot(target);
    const refused = {
      name: 'InvalidInput',
      message: expect.stringMatching(`grants privileges to roles the target's server lacks: "${role}"; .*--no-privileges`),
    };
    await expect(restoreInto(target)).rejects.toMatchObject(refused);
    expect(await snapshot(target)).toEqual(before);
    expect(await readdir(staging)).toEqual([]);

    const fresh = `grants_fresh_${randomBytes(4).toString('hex')}`;
    await expect(restoreInto(fresh, { createTarget: true })).rejects.toMatchObject(refused);
    expect(await databaseExists(fresh)).toBe(false);
  });

  it('are skipped with --no-privileges, into a database the restore creates', async () => {
    const fresh = `grants_skipped_${randomBytes(4).toString('hex')}`;
    const run = await runCli(
      ['restore', '--bucket', bucket, '--key', key, '--no-privileges', '--create-target', '--s3-endpoint', s3.endpoint, '--json'],
      {
        TARGET_DATABASE_URL: pg.url(fresh),
      },
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect((await databaseDigest(pg.url(fresh))).tables).toEqual(sourceDigest.tables);
    expect(await pg.query(fresh, "SELECT relacl FROM pg_class WHERE oid = 'shop.orders'::regclass")).toEqual([{ relacl: null }]);
    expect(await pg.query(fresh, 'SELECT count(*)::int AS n FROM pg_default_acl')).toEqual([{ n: 0 }]);
  });
});

describe('a restore that fails after its data has loaded', () => {
  it('puts an existing target back exactly as it was, so that a retry can restore into it', async () => {
    const target = await occupiedTarget('breaks_partway');
    // Indexes come after the rows: the restore fails with its tables full.
    await pg.query(
      target,
      "CREATE EVENT TRIGGER refuse_indexes ON ddl_command_start WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION public.refuse_indexes()",
    );
    const before = await snapshot(target);
    await expect(restoreInto(target, { privileges: false })).rejects.toMatchObject({
      name: 'RestoreFailed',
      message: expect.stringMatching(
        /^pg_restore exited with code 1: .*indexes are refused here.*; what it had created in \S+ was dropped$/s,
      ),
    });
    expect(await snapshot(target)).toEqual(before);
    expect(await readdir(staging)).toEqual([]);

    await pg.query(target, 'DROP EVENT TRIGGER refuse_indexes');
    const result = await restoreInto(target, { privileges: false });
    expect(result.tables).toEqual([{ schema: 'shop', name: 'orders', rows: 2000, expectedRows: 2000, check: 'exact', passed: true }]);
    expect((await databaseDigest(pg.url(target))).tables).toEqual(sourceDigest.tables);
  });
});

describe('a restore into an existing database that fails while another session works in it', () => {
  it('drops only what it created, leaving what the other session created meanwhile, and the schema its table is in', async () => {
    const target = await occupiedTarget('shared_meanwhile');
    // The restore's first index waits for the test's lock, then is refused: the restore fails with its tables full.
    const lock = 0x11fe20;
    await pg.query(
      target,
      `CREATE FUNCTION public.wait_then_refuse() RETURNS event_trigger LANGUAGE plpgsql
         AS $$ BEGIN PERFORM pg_advisory_xact_lock(${lock}); RAISE EXCEPTION 'indexes are refused here'; END $$;
       CREATE EVENT TRIGGER wait_then_refuse ON ddl_command_start WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION public.wait_then_refuse()`,
    );
    const before = await snapshot(target);
    const holder = await connectClient(fromUrl(pg.url(target)));
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [lock]);
      const restoring = restoreInto(target, { privileges: false });
      restoring.catch(() => undefined);
      // The restore's session waits at its first index: its tables exist and hold their rows.
      const waiting = `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                       WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = $1`;
      while ((await pg.query<{ n: number }>('postgres', waiting, [target]))[0]!.n === 0)
        await new Promise((resolve) => setTimeout(resolve, 20));
      // Another session creates a table of its own, one in the schema the restore created, and a schema.
      await pg.query(
        target,
        `CREATE TABLE public.theirs (note text); INSERT INTO public.theirs VALUES ('made meanwhile');
         CREATE TABLE shop.theirs_too (note text); CREATE SCHEMA their_schema`,
      );
      await holder.query('SELECT pg_advisory_unlock($1)', [lock]);
      await expect(restoring).rejects.toMatchObject({
        name: 'RestoreFailed',
        message: expect.stringMatching(
          /indexes are refused here.*; what it had created in \S+ was dropped, but for what objects other sessions created depend on: schema shop$/s,
        ),
      });
    } finally {
      await holder.end();
    }
    expect(await pg.query(target, 'SELECT note FROM public.theirs')).toEqual([{ note: 'made meanwhile' }]);
    expect(await pg.query(target, 'SELECT count(*)::int AS n FROM shop.theirs_too')).toEqual([{ n: 0 }]);
    expect(await pg.query(target, "SELECT to_regclass('shop.orders') AS orders")).toEqual([{ orders: null }]);
    // All else is as it was.
    await pg.query(target, 'DROP TABLE public.theirs; DROP SCHEMA shop CASCADE; DROP SCHEMA their_schema');
    expect(await snapshot(target)).toEqual(before);
    expect(await readdir(staging)).toEqual([]);
  });
});

describe('a target that holds tables', () => {
  it('is refused by the one check the CLI and the workflow share, naming the first five, and takes one without tables', async () => {
    const occupied = await pg.createDatabase('holds_tables');
    await pg.query(occupied, [1, 2, 3, 4, 5, 6].map((n) => `CREATE TABLE t${n} (id int);`).join(' '));
    const client = await connectClient(fromUrl(pg.url(occupied)));
    try {
      await expect(assertWithoutTables(client, 'target "x"')).rejects.toMatchObject({
        name: 'InvalidInput',
        message: 'target "x" is not empty (public.t1, public.t2, public.t3, public.t4, public.t5, ...); restore into a new database',
      });
    } finally {
      await client.end();
    }
    const withoutTables = await occupiedTarget('holds_no_tables');
    const other = await connectClient(fromUrl(pg.url(withoutTables)));
    try {
      await expect(assertWithoutTables(other, 'target "y"')).resolves.toBeUndefined();
    } finally {
      await other.end();
    }
  });
});
