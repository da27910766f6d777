import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { abortError } from './abort.js';
import { readRows, type RowsLayout, type RowsPiece } from './archive-offsets.js';
import { connectClient, describe, redact, type ConnectionSettings } from './connection.js';
import { LifelineError } from './errors.js';
import { quoteIdent } from './inventory.js';

/**
 * The pieces of rows the walk of the staged archive finds, in the order it finds them, for the connections
 * loading them to take in turn. It ends when the walk does.
 */
export class PieceQueue {
  private readonly pieces: RowsPiece[] = [];
  private readonly waiting: ((piece: RowsPiece | undefined) => void)[] = [];
  private taken = 0;
  private ended = false;

  push(piece: RowsPiece): void {
    const take = this.waiting.shift();
    if (take) take(piece);
    else this.pieces.push(piece);
  }

  end(): void {
    this.ended = true;
    for (const take of this.waiting.splice(0)) take(undefined);
  }

  /** The next piece, once the walk has found it; undefined once it ended. */
  next(signal: AbortSignal): Promise<RowsPiece | undefined> {
    if (this.taken < this.pieces.length) return Promise.resolve(this.pieces[this.taken++]);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const abort = () => {
        this.waiting.splice(this.waiting.indexOf(take), 1);
        reject(abortError(signal, 'stopped'));
      };
      const take = (piece: RowsPiece | undefined) => {
        signal.removeEventListener('abort', abort);
        resolve(piece);
      };
      if (signal.aborted) return reject(abortError(signal, 'stopped'));
      signal.addEventListener('abort', abort, { once: true });
      this.waiting.push(take);
    });
  }
}

/** `public.events` from `COPY public.events (id, ...) FROM stdin;`. */
function tableName(copy: string): string {
  return /^COPY (.+?) (?:\(|FROM )/.exec(copy)?.[1] ?? copy;
}

export interface TableRowsLoad {
  archive: string;
  layout: RowsLayout;
  pieces: PieceQueue;
  /** The data entries (dump ids) whose rows are loaded; the others' pieces are passed over. */
  tables: Set<number>;
  settings: ConnectionSettings;
  /** The role the rows are written as (`SET ROLE`), as pg_restore --role writes them. */
  role: string | undefined;
  /** The rows loaded so far per data entry (dump id), as the COPYs reported them. */
  rows: Map<number, number>;
}

/**
 * Loads pieces of rows as the queue gives them over a connection of its own, in the session pg_restore sets up
 * (the archive's client encoding, an empty search_path, row security off, no timeouts, the role when given), a
 * COPY per piece, until the queue ends. `signal` cancels the COPY running, which then adds no rows.
 */
export async function loadPieces(load: TableRowsLoad, signal: AbortSignal): Promise<void> {
  const { settings, layout, rows } = load;
  let what = `connecting to ${describe(settings)} to load rows`;
  try {
    const client = await connectClient(settings);
    try {
      await client.query(
        `SELECT set_config('client_encoding', $1, false), set_config('search_path', '', false), set_config('row_security', 'off', false),
                set_config('statement_timeout', '0', false), set_config('lock_timeout', '0', false)`,
        [layout.encoding],
      );
      if (load.role !== undefined) await client.query(`SET ROLE ${quoteIdent(load.role)}`);
      for (let piece = await load.pieces.next(signal); piece; piece = await load.pieces.next(signal)) {
        if (!load.tables.has(piece.dumpId)) continue;
        const copyStatement = layout.copyStatements.get(piece.dumpId)!;
        what = `loading the rows of ${tableName(copyStatement)} at ${piece.from}-${piece.to} of the archive into ${describe(settings)}`;
        const copy = client.query(copyFrom(copyStatement));
        await pipeline(Readable.from(readRows(load.archive, layout.intSize, piece)), copy, { signal });
        rows.set(piece.dumpId, (rows.get(piece.dumpId) ?? 0) + copy.rowCount);
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch (error) {
    if (signal.aborted || error instanceof LifelineError) throw error;
    throw new LifelineError('RestoreFailed', `${what} failed: ${redact((error as Error).message, settings)}`, { cause: error });
  }
}
