import { beforeAll, describe, expect, it } from 'vitest';
import { fromUrl } from '../../../../lambdas/core/postgres/connection.js';
import { MAX_REPORTED_DRIFT, SourceDrift } from '../../../../lambdas/core/restore/state.js';
import { sourceDrift } from '../../../../lambdas/core/restore/validation.js';
import type { BackupManifest } from '../../../../lambdas/core/vault/manifest.js';
import { backUp, sharedPostgres, sharedS3 } from '../../../support/shared.js';

/**
 * A restore's validation says what differs between the restored database and its live source: the restored database
 * is the backup's copy, the source has moved on since.
 */
describe("a restore's drift from its live source", () => {
  const pg = sharedPostgres();
  const s3 = sharedS3();
  const whole = { tables: null, schemas: null };
  let source: string;
  let restored: string;
  let manifest: BackupManifest;

  beforeAll(async () => {
    source = await pg.createDatabase('drift_source');
    await pg.query(
      source,
      `CREATE TABLE orders (id int PRIMARY KEY, total numeric(10,2));
       INSERT INTO orders SELECT i, i FROM generate_series(1, 100) i;`,
    );
    const bucket = await s3.createBucket('source-drift');
    ({ manifest } = await backUp(pg, s3, { source, label: 'drifting', bucket, tier: 'daily' }));
    // What a restore of that backup holds.
    restored = await pg.createDatabase('drift_restored');
    await pg.query('postgres', `DROP DATABASE "${restored}"`);
    await pg.query('postgres', `CREATE DATABASE "${restored}" TEMPLATE "${source}"`);
    await pg.query(
      source,
      `ALTER TABLE orders ADD COLUMN shipped_at timestamptz;
       INSERT INTO orders SELECT i, i FROM generate_series(101, 110) i;`,
    );
  });

  it('names what the source changed since the backup: schema and rows', async () => {
    const drift = await sourceDrift(fromUrl(pg.url(restored)), fromUrl(pg.url(source)), manifest, whole, undefined);
    expect(SourceDrift.parse(drift)).toEqual({
      compared: true,
      reason: null,
      source: `${pg.user}@${pg.host}:${pg.port}/${source}`,
      differences: 2,
      first: ['column added: public.orders.shipped_at timestamp with time zone', 'public.orders: 100 -> 110 rows (+10)'],
    });
  });

  it('names the first differences only, and counts them all', async () => {
    const busy = await pg.createDatabase('drift_busy');
    await pg.query(busy, `CREATE TABLE orders (id int PRIMARY KEY, total numeric(10,2));`);
    await pg.query(busy, Array.from({ length: 30 }, (_, i) => `CREATE TABLE extra_${i} (id int);`).join('\n'));
    const drift = await sourceDrift(fromUrl(pg.url(restored)), fromUrl(pg.url(busy)), manifest, whole, undefined);
    // 30 new tables with no rows, and orders' 100 rows gone.
    expect(drift.differences).toBe(61);
    expect(drift.first).toHaveLength(MAX_REPORTED_DRIFT);
    expect(drift.first[0]).toBe('table added: public.extra_0');
    expect(SourceDrift.safeParse(drift).success).toBe(true);
  });

  it('says why it did not compare: no source reachable, a table-level restore, a source that fails', async () => {
    const restoredSettings = fromUrl(pg.url(restored));
    const skipped = (reason: string) => ({ compared: false, reason, source: null, differences: 0, first: [] });
    expect(
      await sourceDrift(restoredSettings, { unreachable: 'an in-place restore replaced its source' }, manifest, whole, undefined),
    ).toEqual(skipped('an in-place restore replaced its source'));
    const sourceSettings = fromUrl(pg.url(source));
    expect(await sourceDrift(restoredSettings, sourceSettings, manifest, { tables: ['orders'], schemas: null }, undefined)).toEqual(
      skipped('a table-level restore is not compared with its source'),
    );
    const gone = { ...sourceSettings, database: 'no_such_source', password: 'sekr1t-pw' };
    const failed = await sourceDrift(restoredSettings, gone, manifest, whole, undefined);
    expect(failed).toMatchObject({ compared: false, differences: 0, first: [] });
    expect(failed.reason).toMatch(new RegExp(`^the source ${pg.user}@${pg.host}:${pg.port}/no_such_source could not be compared: `));
    expect(failed.reason).not.toContain('sekr1t-pw');
  });
});
