import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { connectClient, fromUrl } from '../../../../lambdas/core/postgres/connection.js';
import {
  markRolledBack,
  MAX_REPORTED_MIGRATIONS,
  MigrationState,
  migrationState,
  type MarkRolledBackRequest,
} from '../../../../lambdas/core/postgres/migrations.js';
import { backUp, sharedPostgres, sharedS3 } from '../../../support/shared.js';
import { DRIZZLE_MIGRATIONS_TABLE, drizzleMigration, PRISMA_MIGRATIONS_TABLE, prismaMigration } from '../../../support/migration-tables.js';

const pg = sharedPostgres();
const s3 = sharedS3();
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const INIT_HASH = sha('CREATE TABLE users (id int PRIMARY KEY);');
const ORDERS_HASH = sha('CREATE TABLE orders (id int PRIMARY KEY);');

/** A copy of `database`, as a restore of it would hold. */
async function copyOf(database: string, prefix: string): Promise<string> {
  const copy = await pg.createDatabase(prefix);
  await pg.query('postgres', `DROP DATABASE "${copy}"`);
  await pg.query('postgres', `CREATE DATABASE "${copy}" TEMPLATE "${database}"`);
  return copy;
}

async function stateOf(restored: string, source: Parameters<typeof migrationState>[1]) {
  const client = await connectClient(fromUrl(pg.url(restored)));
  try {
    return MigrationState.parse(await migrationState(client, source, []));
  } finally {
    await client.end();
  }
}

describe("a restored database's migrations against its live source's", () => {
  let source: string;
  let restored: string;

  beforeAll(async () => {
    source = await pg.createDatabase('migrations_source');
    await pg.query(
      source,
      `${PRISMA_MIGRATIONS_TABLE} ${DRIZZLE_MIGRATIONS_TABLE}
       ${prismaMigration('20260101000000_init', { started: '2026-01-01T00:00:00Z', finished: '2026-01-01T00:00:01Z' })}
       ${prismaMigration('20260201000000_add_email', { started: '2026-02-01T00:00:00Z', finished: null })}
       ${prismaMigration('20260115000000_dropped_idea', { started: '2026-01-15T00:00:00Z', finished: null, rolledBack: '2026-01-16T00:00:00Z' })}
       ${drizzleMigration(INIT_HASH, 1767225600000)}`,
    );
    restored = await copyOf(source, 'migrations_restored');
    // Since the backup: add_email applied on the source (after its failure), a new migration, and one for Drizzle.
    await pg.query(
      source,
      `${prismaMigration('20260201000000_add_email', { started: '2026-02-02T00:00:00Z', finished: '2026-02-02T00:00:01Z' })}
       ${prismaMigration('20260301000000_add_orders', { started: '2026-03-01T00:00:00Z', finished: '2026-03-01T00:00:01Z' })}
       ${prismaMigration('20260302000000_abandoned', { started: '2026-03-02T00:00:00Z', finished: '2026-03-02T00:00:01Z', rolledBack: '2026-03-03T00:00:00Z' })}
       ${drizzleMigration(ORDERS_HASH, 1772323200000)}`,
    );
  });

  it("lists what the source applied that the restore lacks or has unfinished, and the restore's failed ones", async () => {
    expect(await stateOf(restored, fromUrl(pg.url(source)))).toEqual({
      tools: ['prisma', 'drizzle'],
      missing: {
        count: 3,
        first: [
          { tool: 'prisma', name: '20260201000000_add_email', at: '2026-02-02T00:00:00.000Z' },
          { tool: 'prisma', name: '20260301000000_add_orders', at: '2026-03-01T00:00:00.000Z' },
          { tool: 'drizzle', name: ORDERS_HASH, at: '2026-03-01T00:00:00.000Z' },
        ],
      },
      notCompared: null,
      failed: { count: 1, first: [{ tool: 'prisma', name: '20260201000000_add_email', at: '2026-02-01T00:00:00.000Z' }] },
      rolledBack: [],
    });
    // The source against itself lacks nothing; its failed attempt at add_email stays failed there too.
    const itself = await stateOf(source, fromUrl(pg.url(source)));
    expect(itself.missing).toEqual({ count: 0, first: [] });
    expect(itself.failed.count).toBe(1);
  });

  it('names the first MAX_REPORTED_MIGRATIONS and counts them all', async () => {
    const busy = await copyOf(source, 'migrations_busy');
    await pg.query(
      busy,
      Array.from({ length: 30 }, (_, i) =>
        prismaMigration(`20260401${String(i).padStart(6, '0')}_step`, {
          started: '2026-04-01T00:00:00Z',
          finished: '2026-04-01T00:00:01Z',
        }),
      ).join('\n'),
    );
    const state = await stateOf(restored, fromUrl(pg.url(busy)));
    expect(state.missing!.count).toBe(33);
    expect(state.missing!.first).toHaveLength(MAX_REPORTED_MIGRATIONS);
  });

  it("says why it did not compare, when there is no source or it cannot be read, without the source's password", async () => {
    expect(await stateOf(restored, { unreachable: 'an in-place restore replaced its source' })).toMatchObject({
      missing: null,
      notCompared: 'an in-place restore replaced its source',
      failed: { count: 1 },
    });
    const wrong = { ...fromUrl(pg.url(source)), password: 'not-the-password-at-all' };
    const state = await stateOf(restored, wrong);
    expect(state.missing).toBeNull();
    expect(state.notCompared).toMatch(new RegExp(`^the source ${pg.user}@${pg.host}:${pg.port}/${source} could not be read: `));
    expect(state.notCompared).not.toContain('not-the-password-at-all');
  });

  it('reads a database without migration tables as having none', async () => {
    const bare = await pg.createDatabase('migrations_bare');
    expect(await stateOf(bare, fromUrl(pg.url(source)))).toMatchObject({ tools: [], failed: { count: 0, first: [] } });
  });
});

describe('marking Prisma migrations rolled back on a restored database', () => {
  let bucket: string;
  let beforeKey: string;
  /** Restored with add_email failed and its effects absent; with add_phone failed and its column present. */
  let clean: string;
  let withPhone: string;

  const request = (database: string, names: string[]): MarkRolledBackRequest => ({
    names,
    restored: fromUrl(pg.url(database)),
    setRole: null,
    vault: { s3: s3.client, bucket },
    database: 'marking',
  });
  const rowsOf = (database: string) =>
    pg.query<{ name: string; rolled_back_at: Date | null }>(
      database,
      'SELECT migration_name AS name, rolled_back_at FROM _prisma_migrations ORDER BY started_at',
    );

  beforeAll(async () => {
    const source = await pg.createDatabase('marking_source');
    await pg.query(
      source,
      `CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);
       ${PRISMA_MIGRATIONS_TABLE} ${DRIZZLE_MIGRATIONS_TABLE}
       ${prismaMigration('20260101000000_init', { started: '2026-01-01T00:00:00Z', finished: '2026-01-01T00:00:01Z' })}
       ${prismaMigration('20250101000000_ancient', { started: '2025-01-01T00:00:00Z', finished: null })}
       ${drizzleMigration(INIT_HASH, 1767225600000)}`,
    );
    bucket = await s3.createBucket('marking');
    // The backup before the failed migrations: the evidence.
    ({ key: beforeKey } = await backUp(pg, s3, { source, label: 'marking', bucket, now: () => new Date('2026-01-15T00:00:00Z') }));
    // add_email failed without effect (PostgreSQL rolled its transaction back).
    await pg.query(source, prismaMigration('20260201000000_add_email', { started: '2026-02-01T00:00:00Z', finished: null }));
    clean = await copyOf(source, 'marking_clean');
    // add_phone failed after its column was added.
    await pg.query(
      source,
      `ALTER TABLE users ADD COLUMN phone text;
       ${prismaMigration('20260202000000_add_phone', { started: '2026-02-02T00:00:00Z', finished: null })}`,
    );
    withPhone = await copyOf(source, 'marking_phone');
  });

  it("marks a failed migration whose effects are absent, as Prisma's migrate resolve --rolled-back, and again changes nothing", async () => {
    const restored = await copyOf(clean, 'marking_ok');
    const marked = await markRolledBack(request(restored, ['20260201000000_add_email']));
    expect(marked).toEqual([{ name: '20260201000000_add_email', rolledBackAt: expect.any(String), evidence: beforeKey, already: false }]);
    const rows = await rowsOf(restored);
    expect(rows.find((r) => r.name === '20260201000000_add_email')!.rolled_back_at!.toISOString()).toBe(marked[0]!.rolledBackAt);
    // Only that row: the other failed one stays failed.
    expect(rows.filter((r) => r.rolled_back_at !== null).map((r) => r.name)).toEqual(['20260201000000_add_email']);
    // A retried step finds it rolled back already: reported, not marked again.
    expect(await markRolledBack(request(restored, ['20260201000000_add_email']))).toEqual([
      { name: '20260201000000_add_email', rolledBackAt: marked[0]!.rolledBackAt, evidence: null, already: true },
    ]);
    // Nothing to mark, nothing done.
    expect(await markRolledBack(request(restored, []))).toEqual([]);
  });

  it("marks nothing once the step's deadline has passed", async () => {
    const restored = await copyOf(clean, 'marking_late');
    const late = { ...request(restored, ['20260201000000_add_email']), signal: AbortSignal.abort() };
    await expect(markRolledBack(late)).rejects.toThrow();
    expect((await rowsOf(restored)).every((r) => r.rolled_back_at === null)).toBe(true);
  });

  it('marks as the role the restore belongs to (SET ROLE), which must be able to', async () => {
    const restored = await copyOf(clean, 'marking_role');
    const role = `marking_reader_${restored.slice(-6)}`;
    await pg.query('postgres', `CREATE ROLE ${role} NOLOGIN`);
    await pg.query(restored, `GRANT SELECT ON ALL TABLES IN SCHEMA public, drizzle TO ${role}; GRANT USAGE ON SCHEMA drizzle TO ${role}`);
    const names = ['20260201000000_add_email'];
    await expect(markRolledBack({ ...request(restored, names), setRole: role })).rejects.toMatchObject({ code: '42501' });
    expect((await rowsOf(restored)).every((r) => r.rolled_back_at === null || r.name !== names[0])).toBe(true);
    await pg.query(restored, `GRANT UPDATE ON _prisma_migrations TO ${role}`);
    expect(await markRolledBack({ ...request(restored, names), setRole: role })).toMatchObject([{ name: names[0], already: false }]);
  });

  it('refuses a migration whose effects the restored schema holds, naming what differs, and marks nothing', async () => {
    const restored = await copyOf(withPhone, 'marking_refused');
    const refused = markRolledBack(request(restored, ['20260202000000_add_phone']));
    await expect(refused).rejects.toMatchObject({ name: 'MarkRolledBackRefused' });
    await expect(refused).rejects.toThrow(
      `markRolledBack: nothing was marked rolled back: "20260202000000_add_phone" started at 2026-02-02T00:00:00.000Z: the restored schema differs from backup ${beforeKey}, the newest taken before it, so its effects may be present (column added: public.users.phone text)`,
    );
    expect((await rowsOf(restored)).every((r) => r.rolled_back_at === null)).toBe(true);
  });

  it('refuses a name not found, a finished migration, a Drizzle one, and one without a backup before it, all at once', async () => {
    const restored = await copyOf(clean, 'marking_names');
    const names = ['20260201000000_add_email', 'nope', '20260101000000_init', INIT_HASH, '20250101000000_ancient'];
    const error = await markRolledBack(request(restored, names)).then(
      () => expect.unreachable('markRolledBack marked what it should have refused'),
      (refusal: Error) => refusal,
    );
    expect(error.name).toBe('MarkRolledBackRefused');
    expect(error.message.split('; ')).toEqual([
      `markRolledBack: nothing was marked rolled back: "nope" is not in "public"."_prisma_migrations": it was never applied to the restored database (Prisma P3011)`,
      '"20260101000000_init" finished at 2026-01-01T00:00:01.000Z: only a failed migration can be marked rolled back (Prisma P3012)',
      `"${INIT_HASH}" is a Drizzle migration ("drizzle"."__drizzle_migrations"): Drizzle records applied migrations only and has no rolled-back state`,
      `"20250101000000_ancient" started at 2025-01-01T00:00:00.000Z, and no backup of marking in s3://${bucket} was taken before it: nothing shows its effects absent`,
    ]);
    // All or nothing: add_email, which passes on its own, was not marked either.
    expect((await rowsOf(restored)).every((r) => r.rolled_back_at === null)).toBe(true);
  });

  it('refuses where the restored database has no Prisma table', async () => {
    const drizzleOnly = await pg.createDatabase('marking_drizzle');
    await pg.query(drizzleOnly, `${DRIZZLE_MIGRATIONS_TABLE} ${drizzleMigration(INIT_HASH, 1767225600000)}`);
    await expect(markRolledBack(request(drizzleOnly, [INIT_HASH, 'nope']))).rejects.toThrow(
      `markRolledBack: nothing was marked rolled back: "${INIT_HASH}" is a Drizzle migration ("drizzle"."__drizzle_migrations"): Drizzle records applied migrations only and has no rolled-back state; "nope" cannot be: the restored database has no _prisma_migrations table`,
    );
  });
});
