import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromUrl } from '../../lambdas/core/postgres/connection.js';
import { EXACT_COUNT_MAX_BYTES } from '../../lambdas/core/postgres/inventory.js';
import { checkRows, ESTIMATE_TOLERANCE, runRestore } from '../../lambdas/core/restore/pipeline.js';
import { backUp, sharedPostgres, sharedS3 } from '../support/shared.js';

const pg = sharedPostgres();
const s3 = sharedS3();
let source: string;

const ROWS = 60_000;

beforeAll(async () => {
  source = await pg.createDatabase('estimates');
  // Pages a tenth full: a table over EXACT_COUNT_MAX_BYTES from a few MiB of rows. Without autovacuum its
  // statistics change only when the test analyzes it.
  await pg.query(
    source,
    `CREATE TABLE readings (id int, body text) WITH (fillfactor = 10, autovacuum_enabled = false);
     INSERT INTO readings SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, ${ROWS}) g;
     ANALYZE readings;`,
  );
  const [{ bytes }] = (await pg.query<{ bytes: string }>(source, "SELECT pg_relation_size('readings') AS bytes")) as [{ bytes: string }];
  expect(Number(bytes)).toBeGreaterThan(EXACT_COUNT_MAX_BYTES);
});

async function backUpReadings() {
  const bucket = await s3.createBucket('estimates');
  return { bucket, ...(await backUp(pg, s3, { source, label: 'readings', bucket, tier: 'daily' })) };
}

const newDatabaseName = () => `estimated_${randomBytes(4).toString('hex')}`;

describe('a table too large to count during the backup', () => {
  it('is checked against its row estimate after the restore, and reported as such', async () => {
    const { bucket, key, manifest } = await backUpReadings();
    expect(manifest.tables).toEqual([expect.objectContaining({ name: 'readings', rows: ROWS, exact: false })]);
    const target = newDatabaseName();
    const result = await runRestore({ s3: s3.client, bucket, selector: { key }, target: fromUrl(pg.url(target)), createTarget: true });
    expect(result.tables).toEqual([
      { schema: 'public', name: 'readings', rows: ROWS, expectedRows: ROWS, check: 'estimate', passed: true },
    ]);
  });

  it(`fails the restore when the rows are further than ${ESTIMATE_TOLERANCE * 100}% from the estimate, and drops the database it created`, async () => {
    // A fifth more rows than the statistics the backup reads.
    await pg.query(source, `INSERT INTO readings SELECT g, repeat(md5(g::text), 3) FROM generate_series(${ROWS + 1}, ${ROWS * 1.2}) g`);
    const { bucket, key, manifest } = await backUpReadings();
    expect(manifest.tables).toEqual([expect.objectContaining({ name: 'readings', rows: ROWS, exact: false })]);
    const target = newDatabaseName();
    await expect(
      runRestore({ s3: s3.client, bucket, selector: { key }, target: fromUrl(pg.url(target)), createTarget: true }),
    ).rejects.toMatchObject({
      name: 'VerificationFailed',
      message: expect.stringMatching(
        new RegExp(
          `differs from backup .*: public\\.readings: ${ROWS * 1.2} rows, expected ${ROWS} \\(estimate, within 10%\\); the database it had created, \\S+/${target}, was dropped$`,
        ),
      ),
    });
    expect(await pg.query('postgres', 'SELECT 1 FROM pg_database WHERE datname = $1', [target])).toEqual([]);
  });
});

describe('the row check of a restored table, the same in the restore and in the workflow validation', () => {
  const table = { oid: 1, schema: 'public', name: 'readings' };
  it('wants an exact count equal', () => {
    expect(checkRows(1000, { ...table, rows: 1000, exact: true })).toEqual({ check: 'exact', passed: true });
    expect(checkRows(999, { ...table, rows: 1000, exact: true })).toEqual({ check: 'exact', passed: false });
  });

  it('wants an estimate matched within the tolerance, either way', () => {
    const estimate = { ...table, rows: 1000, exact: false };
    expect(checkRows(1000 * (1 - ESTIMATE_TOLERANCE), estimate)).toEqual({ check: 'estimate', passed: true });
    expect(checkRows(1000 * (1 + ESTIMATE_TOLERANCE), estimate)).toEqual({ check: 'estimate', passed: true });
    expect(checkRows(1000 * (1 - ESTIMATE_TOLERANCE) - 1, estimate)).toEqual({ check: 'estimate', passed: false });
    expect(checkRows(0, estimate)).toEqual({ check: 'estimate', passed: false });
  });
});
