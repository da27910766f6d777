import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { ArchiveEntry } from './format.js';
import { readRows, type ArchiveRows, type TableRows } from './data-offsets.js';
import { connectClient, describe, redact, type ConnectionSettings } from '../postgres/connection.js';
import { LifelineError } from '../errors.js';
import { quoteIdent } from '../postgres/inventory.js';

/**
 * pg_restore -j N loads each table's rows over one connection, so a table holding more than 1/N of the rows is
 * the restore's critical path, with the other workers out of work long before it ends (on the benchmark, one
 * COPY ran alone for the last 3 s). Such a table's rows are cut into N parts, each loaded over a connection of
 * its own while pg_restore -j N restores everything else that does not need them; what does (its indexes,
 * constraints and triggers, keys that refer to it, views over it) follows once the parts are in.
 */
export interface TablePartsPlan {
  rows: ArchiveRows;
  table: TableRows;
  /** The table's rows in the table of contents (its TABLE DATA entry). */
  data: ArchiveEntry;
  /** Each part as [from, to) in the staged archive (`readRows`). */
  parts: [number, number][];
  /** The entries restored alongside the parts: all but the table's rows and the entries that need them. */
  alongside: ArchiveEntry[];
  /** The entries that need the table's rows, restored after the parts. */
  after: ArchiveEntry[];
}

const size = (table: TableRows) => table.end - table.start;

/** Boundaries at the cuts nearest to equal shares of the table: up to `count` parts, none empty. */
function cutInto(table: TableRows, count: number): [number, number][] {
  const bounds = [table.start];
  for (let i = 1; i < count; i++) {
    const share = table.start + (size(table) * i) / count;
    const nearest = table.cuts
      .filter((cut) => cut > bounds.at(-1)!)
      .reduce<number | undefined>(
        (best, cut) => (best === undefined || Math.abs(cut - share) < Math.abs(best - share) ? cut : best),
        undefined,
      );
    if (nearest !== undefined) bounds.push(nearest);
  }
  bounds.push(table.end);
  return bounds.slice(1).map((to, i) => [bounds[i]!, to]);
}

/**
 * The plan for restoring `entries` (the archive's table of contents, or the part of it a table-level recovery
 * restores, with the dependencies pg_restore orders a parallel restore by) when their largest table holds more
 * than 1/`jobs` of their rows and can be cut; undefined otherwise (pg_restore -j then does it all).
 */
export function planTableParts(entries: ArchiveEntry[], rows: ArchiveRows | undefined, jobs: number): TablePartsPlan | undefined {
  if (!rows || jobs < 2) return undefined;
  const restored = new Set(entries.map((entry) => entry.id));
  const tables = rows.tables.filter((table) => restored.has(table.dumpId));
  const total = tables.reduce((sum, table) => sum + size(table), 0);
  const table = tables.reduce<TableRows | undefined>((largest, t) => (largest && size(largest) >= size(t) ? largest : t), undefined);
  const data = entries.find((entry) => entry.id === table?.dumpId);
  if (!table || !data || size(table) * jobs <= total || table.cuts.length === 0) return undefined;

  // Whatever depends, directly or not, on the table (its TABLE entry, which its rows depend on) or on its rows.
  const dependents = new Map<number, ArchiveEntry[]>();
  for (const entry of entries) {
    for (const id of entry.dependencies) {
      const list = dependents.get(id);
      if (list) list.push(entry);
      else dependents.set(id, [entry]);
    }
  }
  const needing = new Set<number>();
  const pending = [data.id, ...data.dependencies];
  for (let id = pending.pop(); id !== undefined; id = pending.pop()) {
    for (const entry of dependents.get(id) ?? []) {
      if (needing.has(entry.id)) continue;
      needing.add(entry.id);
      pending.push(entry.id);
    }
  }
  return {
    rows,
    table,
    data,
    parts: cutInto(table, Math.min(jobs, table.cuts.length + 1)),
    alongside: entries.filter((entry) => entry.id !== data.id && !needing.has(entry.id)),
    after: entries.filter((entry) => entry.id !== data.id && needing.has(entry.id)),
  };
}

/** `public.events` from `COPY public.events (id, ...) FROM stdin;`. */
function tableName(copy: string): string {
  return /^COPY (.+?) (?:\(|FROM )/.exec(copy)?.[1] ?? copy;
}

/**
 * Loads one part of the plan's table over a connection of its own, in the session pg_restore sets up (the
 * archive's client encoding, an empty search_path, row security off, no timeouts, `role` when given), and
 * returns the rows its COPY loaded. `signal` cancels the COPY, which then adds no rows.
 */
export async function loadPart(
  archive: string,
  plan: TablePartsPlan,
  [from, to]: [number, number],
  settings: ConnectionSettings,
  role: string | undefined,
  signal: AbortSignal,
): Promise<number> {
  const what = `loading the rows of ${tableName(plan.table.copy)} at ${from}-${to} of the archive into ${describe(settings)}`;
  try {
    const client = await connectClient(settings);
    try {
      await client.query(
        `SELECT set_config('client_encoding', $1, false), set_config('search_path', '', false), set_config('row_security', 'off', false),
                set_config('statement_timeout', '0', false), set_config('lock_timeout', '0', false)`,
        [plan.rows.encoding],
      );
      if (role !== undefined) await client.query(`SET ROLE ${quoteIdent(role)}`);
      const copy = client.query(copyFrom(plan.table.copy));
      await pipeline(Readable.from(readRows(archive, plan.rows, plan.table, from, to)), copy, { signal });
      return copy.rowCount;
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch (error) {
    if (signal.aborted || error instanceof LifelineError) throw error;
    throw new LifelineError('RestoreFailed', `${what} failed: ${redact((error as Error).message, settings)}`, { cause: error });
  }
}
