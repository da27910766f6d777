import { describe, expect, it } from 'vitest';
import {
  parseSchemaName,
  parseTableName,
  plainName,
  selectedTables,
  type TableFilter,
} from '../../../../lambdas/core/archive/table-selection.js';
import type { BackupManifest } from '../../../../lambdas/core/vault/manifest.js';

const KEY = 'daily/shop/2026/11/23/shop-20261123T020000.000Z.dump';
const manifest: BackupManifest = {
  manifestVersion: 1,
  database: 'shop',
  tier: 'daily',
  key: KEY,
  trigger: 'schedule',
  startedAt: '2026-11-23T02:00:00.000Z',
  finishedAt: '2026-11-23T02:03:10.000Z',
  archive: { format: 'pg_dump-custom', compression: 'zstd', compressionLevel: 2, bytes: 1234, sha256: 'a'.repeat(64) },
  source: { host: 'db.internal', port: 5432, databaseName: 'shop', serverVersion: '16.4', pgDumpVersion: 'pg_dump (PostgreSQL) 16.4' },
  tables: [
    { oid: 16386, schema: 'public', name: 'orders', rows: 10, exact: true },
    { oid: 16390, schema: 'billing', name: 'invoices', rows: 5, exact: true },
    { oid: 16394, schema: 'Billing', name: 'Invoice Line', rows: 7, exact: true },
    { oid: 16398, schema: 'billing', name: 'orders', rows: 3, exact: true },
    { oid: 16402, schema: 'odd.schema', name: 'say "hi"', rows: 1, exact: true },
  ],
  latestMigration: null,
};

const chosen = (filter: TableFilter) => selectedTables(manifest, filter).map((t) => `${t.schema}|${t.name}`);
const refusal = (filter: TableFilter) => {
  try {
    selectedTables(manifest, filter);
    return undefined;
  } catch (error) {
    expect((error as Error).name).toBe('InvalidInput');
    return (error as Error).message;
  }
};

describe('table names, as a restore input gives them', () => {
  it('are a name or schema.name, taken as written, with double quotes around a part that holds a dot or a quote', () => {
    expect(parseTableName('orders')).toEqual({ schema: null, name: 'orders' });
    expect(parseTableName('billing.invoices')).toEqual({ schema: 'billing', name: 'invoices' });
    expect(parseTableName('"Billing"."Invoice Line"')).toEqual({ schema: 'Billing', name: 'Invoice Line' });
    expect(parseTableName('Billing."Invoice Line"')).toEqual({ schema: 'Billing', name: 'Invoice Line' });
    expect(parseTableName('"odd.schema"."say ""hi"""')).toEqual({ schema: 'odd.schema', name: 'say "hi"' });
    expect(parseTableName('InvoiceLine')).toEqual({ schema: null, name: 'InvoiceLine' });
    expect(parseSchemaName('"Billing"')).toBe('Billing');
    expect(parseSchemaName('billing')).toBe('billing');
  });

  it('read back the same from their plainest form, quotes only around a part with a dot or a quote', () => {
    expect(plainName('"Billing"."Invoice Line"')).toBe('Billing.Invoice Line');
    expect(plainName('"odd.schema"."say ""hi"""')).toBe('"odd.schema"."say ""hi"""');
    expect(plainName('"Billing"')).toBe('Billing');
    for (const text of ['"Billing"."Invoice Line"', '"odd.schema"."say ""hi"""', 'orders', 'a."b.c"']) {
      expect(parseTableName(plainName(text)), text).toEqual(parseTableName(text));
    }
    expect(plainName('a.b.c')).toBe('a.b.c');
  });

  it('refuse what is no table name: an open quote, an empty part, three parts, a part longer than PostgreSQL takes', () => {
    for (const text of ['"Billing', 'billing.', '.orders', 'a.b.c', 'bill"ing', '"a"b', '""', `x.${'t'.repeat(64)}`]) {
      expect(parseTableName(text), text).toBeUndefined();
    }
    expect(parseTableName(`${'s'.repeat(63)}.${'t'.repeat(63)}`)).toEqual({ schema: 's'.repeat(63), name: 't'.repeat(63) });
    expect(parseSchemaName('billing.invoices')).toBeUndefined();
  });
});

describe("a table-level restore's tables, chosen from the backup's manifest", () => {
  it('takes qualified names, quoted or not, and unqualified ones that one schema holds', () => {
    expect(chosen({ tables: ['"Billing"."Invoice Line"', 'billing.invoices'] })).toEqual(['billing|invoices', 'Billing|Invoice Line']);
    expect(chosen({ tables: ['invoices'] })).toEqual(['billing|invoices']);
    expect(chosen({ tables: ['"odd.schema"."say ""hi"""'] })).toEqual(['odd.schema|say "hi"']);
    expect(chosen({ schemas: ['"Billing"'] })).toEqual(['Billing|Invoice Line']);
    // Within the schemas given, an unqualified name may be one schema's.
    expect(chosen({ tables: ['orders'], schemas: ['billing'] })).toEqual(['billing|orders']);
    expect(chosen({})).toHaveLength(manifest.tables.length);
  });

  it('refuses an unqualified name that tables of two schemas bear, naming both', () => {
    expect(refusal({ tables: ['orders', 'invoices'] })).toBe(
      'tables: "orders" is a table of schemas public and billing: name one, as "public"."orders" or "billing"."orders"',
    );
    expect(chosen({ tables: ['public.orders'] })).toEqual(['public|orders']);
  });

  it('lists every name the backup does not have, at once', () => {
    expect(refusal({ tables: ['nope', '"Billing"."Invoice"', 'invoices', 'billing.Invoices'] })).toBe(
      `tables: "nope", "Billing"."Invoice", "billing.Invoices" are not in backup ${KEY}`,
    );
    expect(refusal({ tables: ['invoices'], schemas: ['public'] })).toBe(`tables: "invoices" is not in backup ${KEY} in schemas public`);
    expect(refusal({ schemas: ['sales', 'billing', 'archive'] })).toBe(`schemas: "sales", "archive" have no tables in backup ${KEY}`);
    expect(refusal({ tables: ['orders'], schemas: ['public', 'Billing'] })).toBe(
      `schemas: "Billing" has no selected tables in backup ${KEY}`,
    );
    expect(refusal({ tables: ['orders', 'gone'], schemas: ['sales'] })).toBe(
      `tables: "orders", "gone" are not in backup ${KEY} in schemas sales; schemas: "sales" has no tables in backup ${KEY}`,
    );
  });

  it('refuses a name that is none, saying how to write one', () => {
    expect(refusal({ tables: ['a.b.c', 'orders'], schemas: ['billing.x'] })).toBe(
      'tables: "a.b.c": must be a table name or schema.table, as PostgreSQL spells them (case included), with "double quotes" around a part that holds a dot or a quote ("" for a quote); ' +
        'schemas: "billing.x": must be a schema name, with "double quotes" around it when it holds a dot or a quote',
    );
  });
});
