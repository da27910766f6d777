import { describe, expect, it } from 'vitest';
import { BackupManifest } from '../../../../lambdas/core/vault/manifest.js';

const valid = {
  manifestVersion: 1,
  database: 'shop',
  tier: 'weekly',
  key: 'weekly/shop/2026/11/23/shop-20261123T020000.000Z.dump',
  trigger: 'schedule',
  startedAt: '2026-11-23T02:00:00.000Z',
  finishedAt: '2026-11-23T02:03:10.000Z',
  archive: { format: 'pg_dump-custom', compression: 'zstd', compressionLevel: 2, bytes: 1234, sha256: 'a'.repeat(64) },
  source: { host: 'db.internal', port: 5432, databaseName: 'shop', serverVersion: '16.4', pgDumpVersion: 'pg_dump (PostgreSQL) 16.4' },
  tables: [
    { oid: 16386, schema: 'public', name: 'orders', rows: 10, exact: true },
    { oid: 16390, schema: 'public', name: 'events', rows: 9_000_000, exact: false },
  ],
  latestMigration: { tool: 'prisma', name: '20261101120000_add_invoice_lines', appliedAt: '2026-11-01T12:00:00.000Z' },
};

const comparison = {
  previousKey: 'daily/shop/2026/11/22/shop-20261122T020000.000Z.dump',
  bytes: { previous: 2000, current: 1234, dropPercent: 38.3 },
  rows: { previous: 9_000_100, current: 9_000_010, dropPercent: 0 },
  shrunkTables: [{ schema: 'public', name: 'orders', previousRows: 100, rows: 10, dropPercent: 90 }],
  shrinkPercent: 90,
};

describe('BackupManifest', () => {
  it('accepts a version 1 manifest', () => {
    expect(BackupManifest.parse(valid)).toEqual(valid);
    expect(BackupManifest.parse({ ...valid, latestMigration: null }).latestMigration).toBeNull();
  });

  it('accepts a comparison with the previous backup, which manifests written before it existed lack', () => {
    const withComparison = { ...valid, comparison };
    expect(BackupManifest.parse(withComparison)).toEqual(withComparison);
    expect(BackupManifest.parse(valid).comparison).toBeUndefined();
  });

  it.each([
    ['another version', { manifestVersion: 2 }, 'manifestVersion'],
    ['an unknown tier', { tier: 'hourly' }, 'tier'],
    ['an unknown trigger', { trigger: 'cron' }, 'trigger'],
    ['a compression restore cannot read', { archive: { ...valid.archive, compression: 'gzip' } }, 'archive.compression'],
    ['a malformed checksum', { archive: { ...valid.archive, sha256: 'XYZ' } }, 'archive.sha256'],
    ['an empty archive', { archive: { ...valid.archive, bytes: 0 } }, 'archive.bytes'],
    ['a negative row count', { tables: [{ ...valid.tables[0], rows: -1 }] }, 'tables.0.rows'],
    ['a time without zone', { startedAt: '2026-11-23 02:00' }, 'startedAt'],
    ['a drop of more than everything', { comparison: { ...comparison, shrinkPercent: 101 } }, 'comparison.shrinkPercent'],
  ])('rejects %s', (_, change, field) => {
    const result = BackupManifest.safeParse({ ...valid, ...change });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join('.'))).toContain(field);
  });
});
