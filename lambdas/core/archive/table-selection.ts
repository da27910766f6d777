import { LifelineError } from '../errors.js';
import { MAX_IDENTIFIER_LENGTH } from '../postgres/databases.js';
import type { BackupManifest, TableRowCount } from '../vault/manifest.js';
import { tableEntry, type ArchiveEntry } from './format.js';

/**
 * A table-level restore's choice: table names, schema names, or both; undefined for all. A table is `name` or
 * `schema.name` (parseTableName), a schema a name; either part in "double quotes" when it holds a dot or a quote.
 */
export interface TableFilter {
  tables?: readonly string[];
  schemas?: readonly string[];
}

/** A table as a restore's input names it: `schema` null when the name is unqualified. */
export interface TableName {
  schema: string | null;
  name: string;
}

/** What parseTableName accepts, for messages. */
export const TABLE_NAME_FORM =
  'a table name or schema.table, as PostgreSQL spells them (case included), with "double quotes" around a part that holds a dot or a quote ("" for a quote)';

/** What parseSchemaName accepts, for messages. */
export const SCHEMA_NAME_FORM = 'a schema name, with "double quotes" around it when it holds a dot or a quote';

/** The longest text of a qualified name: two parts of MAX_IDENTIFIER_LENGTH, each quoted with every character a doubled quote. */
export const MAX_TABLE_NAME_TEXT = 2 * (2 * MAX_IDENTIFIER_LENGTH + 2) + 1;

/**
 * The parts of a dotted name: each unquoted (taken as written, with no case folding, so that `InvoiceLine` is the
 * table \dt shows) or in double quotes (`"Invoice Line"`, `"a""b"`); undefined when it is not one.
 */
function nameParts(text: string): string[] | undefined {
  const parts: string[] = [];
  let at = 0;
  for (;;) {
    let part = '';
    if (text[at] === '"') {
      at++;
      for (;;) {
        const quote = text.indexOf('"', at);
        if (quote < 0) return undefined;
        part += text.slice(at, quote);
        at = quote + 1;
        if (text[at] !== '"') break;
        part += '"';
        at++;
      }
    } else {
      const end = text.slice(at).search(/[."]/);
      part = end < 0 ? text.slice(at) : text.slice(at, at + end);
      at += part.length;
    }
    if (part.length === 0 || part.length > MAX_IDENTIFIER_LENGTH) return undefined;
    parts.push(part);
    if (at === text.length) return parts;
    if (text[at] !== '.') return undefined;
    at++;
  }
}

/**
 * A table name as an input gives it: `orders`, `billing.invoices`, `"Billing"."Invoice Line"`; undefined when it
 * is none (an unbalanced quote, an empty part, more than two parts, a part over PostgreSQL's 63 characters).
 */
export function parseTableName(text: string): TableName | undefined {
  const parts = nameParts(text);
  if (parts?.length === 1) return { schema: null, name: parts[0]! };
  if (parts?.length === 2) return { schema: parts[0]!, name: parts[1]! };
  return undefined;
}

/** A schema name as an input gives it: `billing` or `"Billing"`; undefined when it is none. */
export function parseSchemaName(text: string): string | undefined {
  const parts = nameParts(text);
  return parts?.length === 1 ? parts[0] : undefined;
}

/** A part of a name as parseTableName reads it back: in double quotes only when it holds a dot or a quote. */
const namePart = (part: string) => (/[."]/.test(part) ? `"${part.replace(/"/g, '""')}"` : part);

/**
 * A table or schema name (as parseTableName and parseSchemaName take them) in its plainest form, quotes only where
 * a part needs them: `"Billing"."Invoice Line"` is `Billing.Invoice Line`. Unchanged when it is no name.
 */
export function plainName(text: string): string {
  const parts = nameParts(text);
  return parts === undefined || parts.length > 2 ? text : parts.map(namePart).join('.');
}

/** A name as the input wrote it, for messages: in quotes unless it has its own. */
const asWritten = (text: string) => (text.includes('"') ? text : `"${text}"`);

/** `"Billing"."Invoice Line"`: a manifest's table as an input names it unambiguously. */
const quotedName = ({ schema, name }: { schema: string; name: string }) => `"${schema.replace(/"/g, '""')}"."${name.replace(/"/g, '""')}"`;

/**
 * The manifest's tables that a restore brings back: those named in `tables` (all, without it) in the schemas named
 * in `schemas` (all, without it). Refused, naming every one, before anything is restored: a name that is not a
 * table's or schema's, a table not in the backup (within `schemas`), an unqualified name that tables of several
 * schemas bear, and a schema with no selected table.
 */
export function selectedTables(manifest: BackupManifest, filter: TableFilter): TableRowCount[] {
  const badTables = (filter.tables ?? []).filter((text) => !parseTableName(text)).map(asWritten);
  const badSchemas = (filter.schemas ?? []).filter((text) => !parseSchemaName(text)).map(asWritten);
  const malformed = [
    ...(badTables.length > 0 ? [`tables: ${badTables.join(', ')}: must be ${TABLE_NAME_FORM}`] : []),
    ...(badSchemas.length > 0 ? [`schemas: ${badSchemas.join(', ')}: must be ${SCHEMA_NAME_FORM}`] : []),
  ];
  if (malformed.length > 0) throw new LifelineError('InvalidInput', malformed.join('; '));
  const schemas = filter.schemas?.map((text) => parseSchemaName(text)!);
  const names = filter.tables?.map((text) => ({ text, table: parseTableName(text)! }));
  const inSchemas = manifest.tables.filter((t) => !schemas || schemas.includes(t.schema));
  const missing: string[] = [];
  const ambiguous: string[] = [];
  const chosen = new Set<TableRowCount>();
  for (const { text, table } of names ?? []) {
    const matching = inSchemas.filter((t) => t.name === table.name && (table.schema === null || t.schema === table.schema));
    if (matching.length === 0) missing.push(asWritten(text));
    else if (matching.length > 1) {
      ambiguous.push(
        `${asWritten(text)} is a table of schemas ${matching.map((t) => t.schema).join(' and ')}: name one, as ${matching.map(quotedName).join(' or ')}`,
      );
    } else chosen.add(matching[0]!);
  }
  const selected = names ? inSchemas.filter((t) => chosen.has(t)) : inSchemas;
  const problems: string[] = [];
  if (missing.length > 0) {
    const where = schemas ? ` in schemas ${schemas.join(', ')}` : '';
    problems.push(`tables: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not in backup ${manifest.key}${where}`);
  }
  if (ambiguous.length > 0) problems.push(`tables: ${ambiguous.join('; ')}`);
  const unknown = (schemas ?? []).filter((schema) => !manifest.tables.some((t) => t.schema === schema));
  if (unknown.length > 0) {
    problems.push(
      `schemas: ${unknown.map((schema) => `"${schema}"`).join(', ')} ${unknown.length === 1 ? 'has' : 'have'} no tables in backup ${manifest.key}`,
    );
  }
  // A schema that only a missing name was to select is that name's problem, told already.
  const unselected = (schemas ?? []).filter((schema) => !unknown.includes(schema) && !selected.some((t) => t.schema === schema));
  if (unselected.length > 0 && problems.length === 0) {
    problems.push(
      `schemas: ${unselected.map((schema) => `"${schema}"`).join(', ')} ${unselected.length === 1 ? 'has' : 'have'} no selected tables in backup ${manifest.key}`,
    );
  }
  if (problems.length > 0) throw new LifelineError('InvalidInput', problems.join('; '));
  return selected;
}

export interface TableSelection {
  /** What to restore, in archive order: the tables' definitions and rows, and every entry those need. */
  entries: ArchiveEntry[];
  /**
   * What a full restore would attach to these tables and this one leaves out (their indexes, constraints,
   * defaults, triggers, identity sequences, privileges, views over them), as `pg_restore --list` names them.
   */
  leftOut: string[];
}

/** `CONSTRAINT Billing InvoiceLine InvoiceLine_pkey` from its list line (dump ID, catalog IDs and owner dropped). */
function describeEntry({ line }: ArchiveEntry): string {
  return line.replace(/^\d+; \d+ \d+ (.*) [^ ]*$/, '$1');
}

/**
 * The entries for table-level recovery: each selected table (`oid` as in the manifest) with its rows, and what
 * the archive says they depend on, transitively (schemas, types, domains, extensions, functions in their
 * definitions, sequences in their defaults, a partition's parent). Nothing else: a function that takes another
 * table's row type, for one, would fail without that table.
 */
export function selectTables(contents: ArchiveEntry[], tables: Pick<TableRowCount, 'oid'>[]): TableSelection {
  const byId = new Map(contents.map((entry) => [entry.id, entry]));
  const isTable = (entry: ArchiveEntry) => tables.some(({ oid }) => tableEntry(oid, 'TABLE').test(entry.line));
  const isRows = (entry: ArchiveEntry) => tables.some(({ oid }) => tableEntry(oid, 'TABLE DATA').test(entry.line));
  const tableIds = new Set(contents.filter(isTable).map((entry) => entry.id));

  const needed = new Set<number>();
  const pending = contents.filter((entry) => tableIds.has(entry.id) || isRows(entry)).map((entry) => entry.id);
  for (let id = pending.pop(); id !== undefined; id = pending.pop()) {
    if (needed.has(id)) continue;
    needed.add(id);
    pending.push(...(byId.get(id)?.dependencies ?? []));
  }
  return {
    entries: contents.filter((entry) => needed.has(entry.id)),
    leftOut: contents.filter((entry) => !needed.has(entry.id) && entry.dependencies.some((id) => tableIds.has(id))).map(describeEntry),
  };
}
