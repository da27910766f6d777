import { describe, expect, it } from 'vitest';
import { compareBackups, describeComparison } from '../../../../lambdas/core/vault/comparison.js';

const table = (name: string, rows: number) => ({ schema: 'public', name, rows });
const previous = {
  key: 'daily/shop/2026/11/22/shop-20261122T020000.000Z.dump',
  bytes: 1000,
  tables: [table('orders', 200), table('users', 50), table('empty', 0)],
};

describe('comparing a backup with the previous one', () => {
  it('finds no drop when everything held or grew, and lists no table', () => {
    const comparison = compareBackups(previous, {
      bytes: 1200,
      tables: [table('orders', 300), table('users', 50), table('empty', 0), table('new', 5)],
    });
    expect(comparison).toEqual({
      previousKey: previous.key,
      bytes: { previous: 1000, current: 1200, dropPercent: 0 },
      rows: { previous: 250, current: 355, dropPercent: 0 },
      shrunkTables: [],
      shrinkPercent: 0,
    });
  });

  it('reports the largest drop of bytes, total rows and any one table, to a tenth of a percent', () => {
    // users lost 2 of 3 rows; the total fell by less, and the bytes by less still.
    const comparison = compareBackups(
      { ...previous, tables: [table('orders', 200), table('users', 3)] },
      { bytes: 990, tables: [table('orders', 199), table('users', 1)] },
    );
    expect(comparison.rows).toEqual({ previous: 203, current: 200, dropPercent: 1.5 });
    expect(comparison.bytes.dropPercent).toBe(1);
    expect(comparison.shrunkTables.map((t) => [t.name, t.dropPercent])).toEqual([
      ['users', 66.7],
      ['orders', 0.5],
    ]);
    expect(comparison.shrinkPercent).toBe(66.7);
  });

  it('lists a table that disappeared: a loss of all its rows, or none when it was empty', () => {
    const comparison = compareBackups(previous, { bytes: 1000, tables: [table('orders', 200)] });
    expect(comparison.shrunkTables).toEqual([
      { schema: 'public', name: 'users', previousRows: 50, rows: null, dropPercent: 100 },
      { schema: 'public', name: 'empty', previousRows: 0, rows: null, dropPercent: 0 },
    ]);
    expect(comparison.shrinkPercent).toBe(100);
    expect(describeComparison(comparison)).toEqual([
      `compared with ${previous.key}: largest drop 100%`,
      '  rows 250 -> 200 (-20%), archive bytes 1000 -> 1000',
      '  public.users: gone (had 50 rows)',
      '  public.empty: gone (had 0 rows)',
    ]);
  });

  it('tells tables apart by schema as well as name', () => {
    const comparison = compareBackups(
      { ...previous, tables: [{ schema: 'billing', name: 'orders', rows: 10 }, table('orders', 10)] },
      { bytes: 1000, tables: [table('orders', 10)] },
    );
    expect(comparison.shrunkTables).toEqual([{ schema: 'billing', name: 'orders', previousRows: 10, rows: null, dropPercent: 100 }]);
  });
});
