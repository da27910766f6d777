import { z } from 'zod';
import { Column, TableObject, type DatabaseSchema, type SchemaObject } from './schema.js';

/**
 * What changed from one state of a database to another (two backups, or a backup and the live database): its
 * schema, object by object, and its rows, table by table. Objects and tables are matched by schema and name: OIDs
 * change when a database is restored or recreated.
 */

const Count = z.number().int().nonnegative();

/** One side of a comparison: a backup in the vault, or a live database as it was when read. */
export const DriftSide = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('backup'),
    key: z.string(),
    database: z.string(),
    takenAt: z.iso.datetime(),
    /** The archive's compressed size, and how much of it was read for its schema (its head). */
    bytes: Count,
    bytesRead: Count,
  }),
  z.strictObject({
    kind: z.literal('live'),
    /** `user@host:port/database`, no credentials. */
    database: z.string(),
    readAt: z.iso.datetime(),
  }),
]);
export type DriftSide = z.infer<typeof DriftSide>;

const TableName = z.strictObject({ schema: z.string(), name: z.string() });
const ColumnAt = z.strictObject({ schema: z.string(), table: z.string(), column: Column });
const ColumnChange = z.strictObject({ schema: z.string(), table: z.string(), from: Column, to: Column });
const TableObjectChange = TableObject.omit({ definition: true }).extend({ from: z.string(), to: z.string() });
/** A function is named by its signature (`add(integer, integer)`); other objects by kind (`VIEW`, `TYPE`...) and name. */
const ObjectName = z.strictObject({ kind: z.string(), schema: z.string(), name: z.string() });

const changes = <T extends z.ZodType, C extends z.ZodType>(item: T, change: C) =>
  z.strictObject({ added: z.array(item), dropped: z.array(item), changed: z.array(change) });

export const SchemaDrift = z.strictObject({
  tables: z.strictObject({ added: z.array(TableName), dropped: z.array(TableName) }),
  /** Columns of tables on both sides; a changed one differs in type, nullability, default or generation. */
  columns: changes(ColumnAt, ColumnChange),
  indexes: changes(TableObject, TableObjectChange),
  constraints: changes(TableObject, TableObjectChange),
  functions: changes(ObjectName, ObjectName),
  /** Views, sequences, types, triggers, extensions, schemas, ...: what pg_dump defines besides the above. */
  others: changes(ObjectName, ObjectName),
});
export type SchemaDrift = z.infer<typeof SchemaDrift>;

/** A table's rows on each side (null where it does not exist); `estimated` when either count is the planner's estimate. */
export const RowDelta = z.strictObject({
  schema: z.string(),
  name: z.string(),
  from: Count.nullable(),
  to: Count.nullable(),
  delta: z.number().int(),
  estimated: z.boolean(),
});
export type RowDelta = z.infer<typeof RowDelta>;

export const DriftReport = z.strictObject({
  from: DriftSide,
  to: DriftSide,
  schema: SchemaDrift,
  rows: z.strictObject({
    /** Every table on either side, by schema and name. */
    tables: z.array(RowDelta),
    total: z.strictObject({ from: Count, to: Count, delta: z.number().int() }),
  }),
  /** Schema differences, and tables whose rows differ: 0 when both sides are alike. */
  differences: Count,
});
export type DriftReport = z.infer<typeof DriftReport>;

/** A table's rows as a manifest or a live count has them. */
export interface TableRows {
  schema: string;
  name: string;
  rows: number;
  exact: boolean;
}

/** One side's schema and rows, and what it is. */
export interface DatabaseState {
  side: DriftSide;
  schema: DatabaseSchema;
  rows: readonly TableRows[];
}

const keyOf = (...parts: string[]) => JSON.stringify(parts);

/** Items on each side matched by `key`: those only in `to`, only in `from`, and on both with `differ`ent content. */
function match<T, C>(from: readonly T[], to: readonly T[], key: (item: T) => string, differ: (a: T, b: T) => C | undefined) {
  const before = new Map(from.map((item) => [key(item), item]));
  const after = new Map(to.map((item) => [key(item), item]));
  return {
    added: to.filter((item) => !before.has(key(item))),
    dropped: from.filter((item) => !after.has(key(item))),
    changed: to.flatMap((item) => {
      const previous = before.get(key(item));
      const change = previous === undefined ? undefined : differ(previous, item);
      return change === undefined ? [] : [change];
    }),
  };
}

const tableObjects = (from: TableObject[], to: TableObject[]) =>
  match(
    from,
    to,
    (o) => keyOf(o.schema, o.table, o.name),
    (a, b) =>
      a.definition === b.definition ? undefined : { schema: b.schema, table: b.table, name: b.name, from: a.definition, to: b.definition },
  );

const objects = (from: SchemaObject[], to: SchemaObject[]) => {
  const name = ({ kind, schema, name }: SchemaObject) => ({ kind, schema, name });
  const found = match(
    from,
    to,
    (o) => keyOf(o.kind, o.schema, o.name),
    (a, b) => (a.definition === b.definition ? undefined : name(b)),
  );
  return { added: found.added.map(name), dropped: found.dropped.map(name), changed: found.changed };
};

const sameColumn = (a: Column, b: Column) =>
  a.type === b.type && a.notNull === b.notNull && a.default === b.default && a.generated === b.generated;

export function compareSchemas(from: DatabaseSchema, to: DatabaseSchema): SchemaDrift {
  // `changed` pairs every table both sides have: their columns are compared next.
  const tables = match(
    from.tables,
    to.tables,
    (t) => keyOf(t.schema, t.name),
    (a, b) => ({ from: a, to: b }),
  );
  const columns = tables.changed.map(({ from: a, to: b }) => {
    const at = (column: Column) => ({ schema: b.schema, table: b.name, column });
    const found = match(
      a.columns,
      b.columns,
      (c) => c.name,
      (x, y) => (sameColumn(x, y) ? undefined : { schema: b.schema, table: b.name, from: x, to: y }),
    );
    return { added: found.added.map(at), dropped: found.dropped.map(at), changed: found.changed };
  });
  return {
    tables: {
      added: tables.added.map(({ schema, name }) => ({ schema, name })),
      dropped: tables.dropped.map(({ schema, name }) => ({ schema, name })),
    },
    columns: {
      added: columns.flatMap((c) => c.added),
      dropped: columns.flatMap((c) => c.dropped),
      changed: columns.flatMap((c) => c.changed),
    },
    indexes: tableObjects(from.indexes, to.indexes),
    constraints: tableObjects(from.constraints, to.constraints),
    functions: objects(from.functions, to.functions),
    others: objects(from.others, to.others),
  };
}

/** Every table on either side, with its rows on each; in `to`'s order, then those only `from` has. */
export function compareRows(from: readonly TableRows[], to: readonly TableRows[]): RowDelta[] {
  const before = new Map(from.map((t) => [keyOf(t.schema, t.name), t]));
  const after = new Set(to.map((t) => keyOf(t.schema, t.name)));
  const delta = (a: TableRows | undefined, b: TableRows | undefined): RowDelta => {
    const { schema, name } = (b ?? a)!;
    const rows = { from: a?.rows ?? null, to: b?.rows ?? null };
    return { schema, name, ...rows, delta: (rows.to ?? 0) - (rows.from ?? 0), estimated: a?.exact === false || b?.exact === false };
  };
  return [
    ...to.map((t) => delta(before.get(keyOf(t.schema, t.name)), t)),
    ...from.filter((t) => !after.has(keyOf(t.schema, t.name))).map((t) => delta(t, undefined)),
  ];
}

const schemaDifferences = (drift: SchemaDrift) =>
  Object.values(drift).reduce(
    (sum, kind: { added: unknown[]; dropped: unknown[]; changed?: unknown[] }) =>
      sum + kind.added.length + kind.dropped.length + (kind.changed?.length ?? 0),
    0,
  );

/** What differs from `from` to `to`. */
export function compareStates(from: DatabaseState, to: DatabaseState): DriftReport {
  const schema = compareSchemas(from.schema, to.schema);
  const tables = compareRows(from.rows, to.rows);
  const sum = (side: 'from' | 'to') => tables.reduce((total, t) => total + (t[side] ?? 0), 0);
  const total = { from: sum('from'), to: sum('to'), delta: sum('to') - sum('from') };
  const rowDifferences = tables.filter((t) => t.delta !== 0 || t.from === null || t.to === null).length;
  return { from: from.side, to: to.side, schema, rows: { tables, total }, differences: schemaDifferences(schema) + rowDifferences };
}

const qualified = (schema: string, name: string) => (schema === '' ? name : `${schema}.${name}`);
const signed = (n: number) => (n >= 0 ? `+${n}` : String(n));

function describeSide(side: DriftSide): string {
  return side.kind === 'backup' ? `backup ${side.key} (taken ${side.takenAt})` : `live database ${side.database} (read ${side.readAt})`;
}

function describeColumn(column: Column): string {
  const parts = [column.type];
  if (column.generated !== null) parts.push(`GENERATED ALWAYS AS (${column.generated}) STORED`);
  if (column.default !== null) parts.push(`DEFAULT ${column.default}`);
  if (column.notNull) parts.push('NOT NULL');
  return parts.join(' ');
}

/** What changed in a column, in words: `type integer -> bigint`, `NOT NULL added`, `default 0 -> 1`. */
function columnChange(from: Column, to: Column): string {
  const said: string[] = [];
  if (from.type !== to.type) said.push(`type ${from.type} -> ${to.type}`);
  if (from.notNull !== to.notNull) said.push(to.notNull ? 'NOT NULL added' : 'NOT NULL dropped');
  if (from.default !== to.default) said.push(`default ${from.default ?? 'none'} -> ${to.default ?? 'none'}`);
  if (from.generated !== to.generated) said.push(`generated ${from.generated ?? 'no'} -> ${to.generated ?? 'no'}`);
  return said.join(', ');
}

/** The schema's differences, one line each. */
export function describeSchemaDrift(drift: SchemaDrift): string[] {
  const { tables, columns, indexes, constraints, functions, others } = drift;
  const onTable = (o: { schema: string; table: string; name: string }) => `${o.name} on ${qualified(o.schema, o.table)}`;
  const kind = (o: { kind: string }) => o.kind.toLowerCase();
  return [
    ...tables.added.map((t) => `table added: ${qualified(t.schema, t.name)}`),
    ...tables.dropped.map((t) => `table dropped: ${qualified(t.schema, t.name)}`),
    ...columns.added.map((c) => `column added: ${qualified(c.schema, c.table)}.${c.column.name} ${describeColumn(c.column)}`),
    ...columns.dropped.map((c) => `column dropped: ${qualified(c.schema, c.table)}.${c.column.name} ${describeColumn(c.column)}`),
    ...columns.changed.map((c) => `column changed: ${qualified(c.schema, c.table)}.${c.to.name}: ${columnChange(c.from, c.to)}`),
    ...indexes.added.map((i) => `index added: ${i.definition}`),
    ...indexes.dropped.map((i) => `index dropped: ${i.definition}`),
    ...indexes.changed.map((i) => `index changed: ${i.from} -> ${i.to}`),
    ...constraints.added.map((c) => `constraint added: ${onTable(c)}: ${c.definition}`),
    ...constraints.dropped.map((c) => `constraint dropped: ${onTable(c)}: ${c.definition}`),
    ...constraints.changed.map((c) => `constraint changed: ${onTable(c)}: ${c.from} -> ${c.to}`),
    ...functions.added.map((f) => `${kind(f)} added: ${qualified(f.schema, f.name)}`),
    ...functions.dropped.map((f) => `${kind(f)} dropped: ${qualified(f.schema, f.name)}`),
    ...functions.changed.map((f) => `${kind(f)} changed: ${qualified(f.schema, f.name)}`),
    ...others.added.map((o) => `${kind(o)} added: ${qualified(o.schema, o.name)}`),
    ...others.dropped.map((o) => `${kind(o)} dropped: ${qualified(o.schema, o.name)}`),
    ...others.changed.map((o) => `${kind(o)} changed: ${qualified(o.schema, o.name)}`),
  ];
}

/** The tables whose rows differ, one line each: `public.orders: 1000 -> 950 rows (-50)`; `~` marks an estimate. */
export function describeRowDrift(tables: readonly RowDelta[]): string[] {
  return tables.flatMap(({ schema, name, from, to, delta, estimated }) => {
    const table = qualified(schema, name);
    const about = estimated ? '~' : '';
    const rows = (n: number) => `${about}${n} row${n === 1 ? '' : 's'}`;
    if (from === null) return [`${table}: new, ${rows(to!)}`];
    if (to === null) return [`${table}: gone, had ${rows(from)}`];
    if (delta === 0) return [];
    return [`${table}: ${about}${from} -> ${about}${to} rows (${signed(delta)}${estimated ? ', estimated' : ''})`];
  });
}

/** The report for a person. */
export function describeDrift(report: DriftReport): string[] {
  const schema = describeSchemaDrift(report.schema);
  const rows = describeRowDrift(report.rows.tables);
  const { total } = report.rows;
  const unchanged = report.rows.tables.length - rows.length;
  return [
    `from ${describeSide(report.from)}`,
    `to   ${describeSide(report.to)}`,
    schema.length === 0 ? 'schema: no differences' : `schema: ${schema.length} difference${schema.length === 1 ? '' : 's'}`,
    ...schema.map((line) => `  ${line}`),
    `rows: ${total.from} -> ${total.to} (${signed(total.delta)})${rows.length === 0 ? ', no table differs' : ''}`,
    ...rows.map((line) => `  ${line}`),
    ...(rows.length > 0 && unchanged > 0 ? [`  ${unchanged} other table${unchanged === 1 ? '' : 's'} unchanged`] : []),
  ];
}
