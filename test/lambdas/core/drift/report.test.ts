import { describe, expect, it } from 'vitest';
import { compareRows, describeRowDrift } from '../../../../lambdas/core/drift/report.js';

describe('row deltas', () => {
  it('match tables by schema and name, and mark a delta estimated when either count is the planner estimate', () => {
    const from = [
      { schema: 'public', name: 'events', rows: 1_000_000, exact: false },
      { schema: 'public', name: 'orders', rows: 10, exact: true },
      { schema: 'audit', name: 'orders', rows: 5, exact: true },
      { schema: 'public', name: 'legacy', rows: 3, exact: true },
    ];
    const to = [
      { schema: 'public', name: 'orders', rows: 12, exact: true },
      { schema: 'audit', name: 'orders', rows: 5, exact: true },
      { schema: 'public', name: 'events', rows: 1_010_000, exact: true },
      { schema: 'public', name: 'refunds', rows: 1, exact: true },
    ];
    const deltas = compareRows(from, to);
    expect(deltas).toEqual([
      { schema: 'public', name: 'orders', from: 10, to: 12, delta: 2, estimated: false },
      { schema: 'audit', name: 'orders', from: 5, to: 5, delta: 0, estimated: false },
      { schema: 'public', name: 'events', from: 1_000_000, to: 1_010_000, delta: 10_000, estimated: true },
      { schema: 'public', name: 'refunds', from: null, to: 1, delta: 1, estimated: false },
      { schema: 'public', name: 'legacy', from: 3, to: null, delta: -3, estimated: false },
    ]);
    expect(describeRowDrift(deltas)).toEqual([
      'public.orders: 10 -> 12 rows (+2)',
      'public.events: ~1000000 -> ~1010000 rows (+10000, estimated)',
      'public.refunds: new, 1 row',
      'public.legacy: gone, had 3 rows',
    ]);
  });
});
