import { LifelineError } from '../errors.js';
import type { BackupManifest, TableRowCount } from '../vault/manifest.js';
import { tableEntry, type ArchiveEntry } from './format.js';

/** A table-level restore's choice: table names, schema names, or both; undefined for all. */
export interface TableFilter {
  tables?: readonly string[];
  schemas?: readonly string[];
}

/**
 * The manifest's tables that a restore brings back: those named in `tables` (all, without it) in the schemas named
 * in `schemas` (all, without it). A name that selects nothing is refused, naming it.
 */
export function selectedTables(manifest: BackupManifest, filter: TableFilter): TableRowCount[] {
  const { tables, schemas } = filter;
  const selected = manifest.tables.filter((t) => (!tables || tables.includes(t.name)) && (!schemas || schemas.includes(t.schema)));
  for (const name of tables ?? []) {
    if (!selected.some((t) => t.name === name)) {
      const where = schemas ? ` in schemas ${schemas.join(', ')}` : '';
      throw new LifelineError('InvalidInput', `tables: "${name}" is not in backup ${manifest.key}${where}`);
    }
  }
  for (const schema of schemas ?? []) {
    if (!selected.some((t) => t.schema === schema)) {
      throw new LifelineError('InvalidInput', `schemas: "${schema}" has no selected tables in backup ${manifest.key}`);
    }
  }
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
