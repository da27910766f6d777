import type { Readable } from 'node:stream';
import { z } from 'zod';
import { throwIfAborted } from '../abort.js';
import { decompressStage, toolEnv } from '../archive/format.js';
import { pgBinary, startPipeline, type Pipeline, type Stage } from '../child-process.js';
import { LifelineError, type LifelineErrorName } from '../errors.js';
import { describe, libpqEnv, redact, type ConnectionSettings } from '../postgres/connection.js';

/**
 * A database's schema as pg_dump describes it: the definitions in an archive's table of contents, printed by
 * `pg_restore --schema-only` straight from the head of the compressed archive (no data is read, nothing is
 * restored), or by `pg_dump --schema-only` of a live database. Both print each entry under the same header,
 * `-- Name: <tag>; Type: <kind>; Schema: <schema>; Owner: -`, followed by its SQL, which is parsed here.
 */

export const Column = z.strictObject({
  name: z.string(),
  /** As pg_dump spells it: `character varying(200)`, `numeric(10,2)`, `integer[]`. */
  type: z.string(),
  notNull: z.boolean(),
  default: z.string().nullable(),
  /** A generated column's expression. */
  generated: z.string().nullable(),
});
export type Column = z.infer<typeof Column>;

export interface Table {
  schema: string;
  name: string;
  columns: Column[];
}

/** An index or constraint, on its table; `definition` is its SQL (an index's CREATE, a constraint's clause). */
export const TableObject = z.strictObject({ schema: z.string(), table: z.string(), name: z.string(), definition: z.string() });
export type TableObject = z.infer<typeof TableObject>;

/** Any other object: a function (named by its signature), view, sequence, type, trigger, extension... */
export interface SchemaObject {
  kind: string;
  schema: string;
  name: string;
  definition: string;
}

export interface DatabaseSchema {
  tables: Table[];
  indexes: TableObject[];
  constraints: TableObject[];
  /** Functions, procedures and aggregates. */
  functions: SchemaObject[];
  others: SchemaObject[];
}

/**
 * What pg_restore and pg_dump are asked to leave out: who owns and may use what (a restore is owned by the
 * application's role, not the source's owner), comments, and where things are stored. What stays is the shape.
 */
const SHAPE_ONLY = [
  '--schema-only',
  '--no-owner',
  '--no-privileges',
  '--no-comments',
  '--no-tablespaces',
  '--no-security-labels',
  '--no-publications',
  '--no-subscriptions',
];

/**
 * The most of a schema script this reads. The script is held in memory to be parsed: a larger one fails, named,
 * rather than exhaust a function's memory.
 */
const MAX_SCHEMA_SCRIPT_BYTES = 64 * 1024 * 1024;

/** Entries folded into their tables (DEFAULT), or that say nothing about the shape. */
const FOLDED_OR_IGNORED = new Set(['DEFAULT', 'SEQUENCE OWNED BY', 'COMMENT', 'ACL', 'DEFAULT ACL', 'DATABASE', 'DATABASE PROPERTIES']);
const FUNCTION_KINDS = new Set(['FUNCTION', 'PROCEDURE', 'AGGREGATE']);
const CONSTRAINT_KINDS = new Set(['CONSTRAINT', 'FK CONSTRAINT', 'CHECK CONSTRAINT']);
const TABLE_KINDS = new Set(['TABLE', 'FOREIGN TABLE']);

const HEADER = /^-- Name: (.*); Type: ([A-Z][A-Z ]*); Schema: (.*); Owner: .*$/;
/** What pg_restore prints between one entry and the next header, and after the last. */
const TRAILER = /^(--.*|SET \w+ = .*;|SELECT pg_catalog\.set_config\(.*\);|\\unrestrict .*|)$/;

interface Entry {
  kind: string;
  schema: string;
  name: string;
  sql: string;
}

/** The script's entries, each with its SQL, without the settings and comments around it. */
function scriptEntries(script: string): Entry[] {
  const entries: Entry[] = [];
  let current: { kind: string; schema: string; name: string; lines: string[] } | undefined;
  const close = () => {
    if (!current) return;
    const { lines } = current;
    while (lines.length > 0 && TRAILER.test(lines.at(-1)!)) lines.pop();
    while (lines.length > 0 && (lines[0] === '--' || lines[0] === '')) lines.shift();
    entries.push({ kind: current.kind, schema: current.schema, name: current.name, sql: lines.join('\n') });
  };
  for (const line of script.split('\n')) {
    const header = HEADER.exec(line);
    if (header) {
      close();
      const [, name, kind, schema] = header as unknown as [string, string, string, string];
      current = { kind, schema: schema === '-' ? '' : schema, name, lines: [] };
    } else current?.lines.push(line);
  }
  close();
  return entries;
}

/** An identifier at `at` in `text`: `"quoted ""name"""` or a bare word, and where it ends. */
function identifierAt(text: string, at: number): { name: string; end: number } | undefined {
  if (text[at] === '"') {
    let name = '';
    for (let i = at + 1; i < text.length; i++) {
      if (text[i] !== '"') name += text[i];
      else if (text[i + 1] === '"') name += text[i++];
      else return { name, end: i + 1 };
    }
    return undefined;
  }
  const word = /^[^\s.,;()"]+/.exec(text.slice(at))?.[0];
  return word ? { name: word, end: at + word.length } : undefined;
}

/** `schema.name` (either part quoted) at `at`. */
function qualifiedAt(text: string, at: number): { schema: string; name: string; end: number } | undefined {
  const schema = identifierAt(text, at);
  if (!schema || text[schema.end] !== '.') return undefined;
  const name = identifierAt(text, schema.end + 1);
  return name && { schema: schema.name, name: name.name, end: name.end };
}

/** The table an `ALTER TABLE [ONLY] <table>` statement names, and where its name ends. */
function alteredTable(sql: string) {
  const start = /^ALTER (?:FOREIGN )?TABLE (?:ONLY )?/.exec(sql);
  return start ? qualifiedAt(sql, start[0].length) : undefined;
}

const withoutSemicolon = (sql: string) => sql.replace(/;\s*$/, '');

/** `name type [DEFAULT e | GENERATED ALWAYS AS (e) STORED] [NOT NULL] [COLLATE c]`, as pg_dump writes a column. */
const COLUMN_REST = /^(.*?)(?: DEFAULT (.*?)| GENERATED ALWAYS AS \((.*)\) STORED)?( NOT NULL)?(?: COLLATE (\S+))?$/s;

function parseColumn(item: string): Column | undefined {
  const name = identifierAt(item, 0);
  if (!name || item[name.end] !== ' ') return undefined;
  const [, type, defaultValue, generated, notNull, collation] = COLUMN_REST.exec(item.slice(name.end + 1))!;
  return {
    name: name.name,
    type: collation ? `${type!} COLLATE ${collation}` : type!,
    notNull: notNull !== undefined,
    default: defaultValue ?? null,
    generated: generated ?? null,
  };
}

/** A CREATE TABLE's columns, and the CHECK constraints pg_dump writes into it. */
function parseTable(entry: Entry): { table: Table; checks: TableObject[] } {
  const table: Table = { schema: entry.schema, name: entry.name, columns: [] };
  const checks: TableObject[] = [];
  const lines = entry.sql.split('\n');
  const open = lines.findIndex((line) => /^CREATE .*TABLE .* \($/.test(line));
  const items: string[] = [];
  for (const line of open < 0 ? [] : lines.slice(open + 1)) {
    if (line.startsWith(')')) break;
    // An item is a line of four spaces and its text; a line that does not start so continues a multi-line default.
    if (/^ {4}\S/.test(line) || items.length === 0) items.push(line.slice(4));
    else items[items.length - 1] += `\n${line}`;
  }
  for (const item of items.map((text) => text.replace(/,$/, ''))) {
    const check = /^CONSTRAINT /.exec(item) && identifierAt(item, 'CONSTRAINT '.length);
    if (check) checks.push({ schema: entry.schema, table: entry.name, name: check.name, definition: item.slice(check.end + 1) });
    else {
      const column = parseColumn(item);
      if (column) table.columns.push(column);
    }
  }
  return { table, checks };
}

/** `ALTER TABLE ONLY t ALTER COLUMN c SET DEFAULT e;`: a serial or identity-less default pg_dump sets apart. */
function applyDefault(entry: Entry, tables: Map<string, Table>): void {
  const table = alteredTable(entry.sql);
  if (!table) return;
  const rest = entry.sql.slice(table.end);
  const column = /^ ALTER COLUMN /.exec(rest) && identifierAt(rest, ' ALTER COLUMN '.length);
  const value = column && /^ SET DEFAULT (.*);$/s.exec(rest.slice(column.end))?.[1];
  const found = column && tables.get(key(table.schema, table.name))?.columns.find((c) => c.name === column.name);
  if (found && value) found.default = value;
}

/** `ALTER TABLE ONLY t\n    ADD CONSTRAINT c <definition>;` */
function parseConstraint(entry: Entry): TableObject | undefined {
  const table = alteredTable(entry.sql);
  if (!table) return undefined;
  const rest = entry.sql.slice(table.end);
  const start = /^\s+ADD CONSTRAINT /.exec(rest);
  const name = start && identifierAt(rest, start[0].length);
  if (!name) return undefined;
  return { schema: table.schema, table: table.name, name: name.name, definition: withoutSemicolon(rest.slice(name.end + 1)) };
}

/** `CREATE [UNIQUE] INDEX name ON [ONLY] schema.table USING ...;` */
function parseIndex(entry: Entry): TableObject {
  const on = / ON (?:ONLY )?/.exec(entry.sql);
  const table = on ? qualifiedAt(entry.sql, on.index + on[0].length) : undefined;
  return { schema: entry.schema, table: table?.name ?? '', name: entry.name, definition: withoutSemicolon(entry.sql) };
}

const key = (schema: string, name: string) => `${schema}.${name}`;

const schemaObject = ({ kind, schema, name, sql }: Entry): SchemaObject => ({ kind, schema, name, definition: sql });

/** Parses the script `pg_restore --schema-only` or `pg_dump --schema-only` prints (with SHAPE_ONLY's options). */
export function parseSchemaScript(script: string): DatabaseSchema {
  const entries = scriptEntries(script);
  const schema: DatabaseSchema = { tables: [], indexes: [], constraints: [], functions: [], others: [] };
  const tables = new Map<string, Table>();
  for (const entry of entries) {
    if (TABLE_KINDS.has(entry.kind)) {
      const { table, checks } = parseTable(entry);
      tables.set(key(table.schema, table.name), table);
      schema.tables.push(table);
      schema.constraints.push(...checks);
    } else if (CONSTRAINT_KINDS.has(entry.kind)) {
      const constraint = parseConstraint(entry);
      if (constraint) schema.constraints.push(constraint);
    } else if (entry.kind === 'INDEX') schema.indexes.push(parseIndex(entry));
    else if (FUNCTION_KINDS.has(entry.kind)) schema.functions.push(schemaObject(entry));
    else if (!FOLDED_OR_IGNORED.has(entry.kind)) schema.others.push(schemaObject(entry));
  }
  // Defaults come after every table in the script.
  for (const entry of entries) if (entry.kind === 'DEFAULT') applyDefault(entry, tables);
  return schema;
}

/**
 * Reads a pipeline's output, up to MAX_SCHEMA_SCRIPT_BYTES, and waits for it to end. Its failure is named `failure`
 * and says it was reading the schema of `what`; stopped by `signal`, it is the abort's error.
 */
async function readScript(pipeline: Pipeline, failure: LifelineErrorName, what: string, signal: AbortSignal | undefined): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of pipeline.output as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > MAX_SCHEMA_SCRIPT_BYTES) {
        pipeline.stop();
        throw new LifelineError(
          failure,
          `the schema of ${what} is larger than ${MAX_SCHEMA_SCRIPT_BYTES} bytes of SQL: too large to compare`,
        );
      }
      chunks.push(chunk);
    }
    await pipeline.done;
  } catch (error) {
    throwIfAborted(signal, `reading the schema of ${what} was stopped`);
    if (error instanceof LifelineError && error.name === failure && !error.message.startsWith('the schema of')) {
      throw new LifelineError(failure, `reading the schema of ${what} failed: ${error.message}`, { cause: error });
    }
    throw error;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** An archive's schema and how many of its compressed bytes were read to learn it. */
export interface ArchiveSchema {
  schema: DatabaseSchema;
  bytesRead: number;
}

/**
 * The schema in the table of contents at the head of a compressed archive (a backup's `.dump` object). pg_restore
 * prints it without reading any table's rows and exits, and the stream is stopped: what is read (`bytesRead`) is
 * the head and what the pipes between the stages hold by then, however large the archive. `what` names the archive
 * in errors; `signal` stops it.
 */
export async function archiveSchema(compressed: Readable, what: string, signal?: AbortSignal): Promise<ArchiveSchema> {
  let bytesRead = 0;
  compressed.on('data', (chunk: Buffer) => (bytesRead += chunk.length));
  const restore: Stage = {
    command: pgBinary('pg_restore'),
    args: [...SHAPE_ONLY, '--file=-'],
    env: toolEnv(),
    failure: 'VerificationFailed',
  };
  const pipeline = startPipeline({ stages: [decompressStage('VerificationFailed'), restore], input: compressed, readsHead: true, signal });
  const script = await readScript(pipeline, 'VerificationFailed', what, signal);
  return { schema: parseSchemaScript(script), bytesRead };
}

/** A live database's schema, from `pg_dump --schema-only` (credentials in its environment only). */
export async function liveSchema(settings: ConnectionSettings, signal?: AbortSignal): Promise<DatabaseSchema> {
  const dump: Stage = {
    command: pgBinary('pg_dump'),
    // Give up rather than queue behind a migration's exclusive lock and block the application behind us.
    args: [...SHAPE_ONLY, '--lock-wait-timeout=60s', '--no-password'],
    env: libpqEnv(settings),
    failure: 'DumpFailed',
    redact: (text) => redact(text, settings),
  };
  const script = await readScript(startPipeline({ stages: [dump], signal }), 'DumpFailed', describe(settings), signal);
  return parseSchemaScript(script);
}
