import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { RowSegment } from '../archive/split.js';
import { LifelineError } from '../errors.js';
import { connectClient, describe, redact, type ConnectionSettings } from '../postgres/connection.js';
import { quoteIdent } from '../postgres/inventory.js';

/**
 * N connections that COPY the rows of the archive into the target as they arrive (split.ts hands them on in
 * segments of whole rows), each inside a transaction that commits only when told, once the whole archive matched its
 * manifest: until then no row of the archive is visible, and a failure rolls them all back. The segments go to the
 * connections in turn (skipping one whose queue is full), so a large table loads over all N at once; a connection
 * keeps its COPY open while the segments it gets are of one table. The queues are bounded, which bounds memory: the archive is
 * read on only as fast as the rows load.
 */

/** Rows queued for each connection at most; with the segment being read, what the loading holds in memory. */
const QUEUED_BYTES = 4 * 1024 * 1024;

class SegmentQueue {
  private readonly items: RowSegment[] = [];
  bytes = 0;
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(private readonly taken: () => void) {}

  push(segment: RowSegment): void {
    this.items.push(segment);
    this.bytes += segment.bytes;
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  /** The next segment, without taking it; undefined once the queue ended empty. */
  async peek(): Promise<RowSegment | undefined> {
    while (this.items.length === 0 && !this.ended) await new Promise<void>((resolve) => (this.wake = resolve));
    this.wake = undefined;
    return this.items[0];
  }

  take(): RowSegment {
    const segment = this.items.shift()!;
    this.bytes -= segment.bytes;
    this.taken();
    return segment;
  }
}

/**
 * COPY of rows that come as CopyData messages already (split.ts frames them in place), written a segment at a time:
 * pg-copy-streams would frame each chunk it is written as one message. A segment's slices may cut a message in two,
 * but the segment ends where a message does; written whole, the COPY stops between messages, so that the CopyFail
 * of a COPY stopped midway is never read as the rest of a row (the server would wait for that row's end forever).
 */
function copyOfSegments(statement: string) {
  const copy = copyFrom(statement, { objectMode: true, highWaterMark: 1 });
  const stream = copy as unknown as { connection: { stream: Socket }; flushChunk(messages: Buffer[]): boolean };
  stream.flushChunk = (messages) => {
    const socket = stream.connection.stream;
    socket.cork();
    let room = true;
    for (const message of messages) room = socket.write(message);
    socket.uncork();
    return room;
  };
  return copy;
}

/** `public.events` from `COPY public.events (id, ...) FROM stdin;`. */
function tableName(copy: string): string {
  return /^COPY (.+?) (?:\(|FROM )/.exec(copy)?.[1] ?? copy;
}

export interface RowLoadersOptions {
  settings: ConnectionSettings;
  jobs: number;
  /** The client encoding the rows were dumped in. */
  encoding: string;
  /** The role the rows are loaded as (pg_restore --role), when given. */
  role: string | undefined;
  /** Resolves once the tables exist (their definitions committed): no COPY starts before. */
  tablesReady: Promise<void>;
  /** Stops every COPY (the restore was interrupted). */
  signal: AbortSignal | undefined;
}

export class RowLoaders {
  private readonly queues: SegmentQueue[];
  private readonly clients: (pg.Client | undefined)[];
  private readonly loops: Promise<void>;
  /** Rows loaded by dump id of the table's data entry, as the COPYs reported them. */
  readonly rows = new Map<number, number>();
  private failure: { error: unknown } | undefined;
  private space: (() => void) | undefined;
  private readonly stop = new AbortController();
  /** The connection whose turn it is to be given rows. */
  private next = 0;

  constructor(private readonly options: RowLoadersOptions) {
    const wake = () => {
      this.space?.();
      this.space = undefined;
    };
    this.queues = Array.from({ length: options.jobs }, () => new SegmentQueue(wake));
    this.clients = this.queues.map(() => undefined);
    // Rows waiting for room are refused at once, whatever the COPYs are doing.
    this.stop.signal.addEventListener('abort', wake, { once: true });
    if (options.signal?.aborted) this.stop.abort();
    else options.signal?.addEventListener('abort', () => this.stop.abort(), { once: true });
    this.loops = Promise.all(
      this.queues.map((queue, index) =>
        this.run(queue, index).catch((error: unknown) => {
          this.failure ??= { error };
          this.stop.abort();
          for (const each of this.queues) each.end();
        }),
      ),
    ).then(() => undefined);
  }

  /** Queues rows for the next connection in turn with room; resolves once queued, rejects once a connection failed. */
  async load(segment: RowSegment): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure.error;
      if (this.stop.signal.aborted) throw new LifelineError('RestoreFailed', 'the rows were being loaded when the restore stopped');
      for (let tried = 0; tried < this.queues.length; tried++) {
        const queue = this.queues[this.next]!;
        this.next = (this.next + 1) % this.queues.length;
        if (queue.bytes < QUEUED_BYTES) return queue.push(segment);
      }
      await new Promise<void>((resolve) => (this.space = resolve));
    }
  }

  /** One connection: a transaction, then a COPY for each run of segments of one table. */
  private async run(queue: SegmentQueue, index: number): Promise<void> {
    const { settings, encoding, role } = this.options;
    const client = await connectClient(settings);
    if (this.stop.signal.aborted) return void (await client.end().catch(() => undefined));
    this.clients[index] = client;
    // The session pg_restore sets up: the archive's client encoding, an empty search_path, row security off, no timeouts.
    await client.query(
      `SELECT set_config('client_encoding', $1, false), set_config('search_path', '', false), set_config('row_security', 'off', false),
              set_config('statement_timeout', '0', false), set_config('lock_timeout', '0', false)`,
      [encoding],
    );
    if (role !== undefined) await client.query(`SET ROLE ${quoteIdent(role)}`);
    await client.query('BEGIN');
    await Promise.race([
      this.options.tablesReady,
      new Promise<void>((resolve) => this.stop.signal.addEventListener('abort', () => resolve())),
    ]);
    for (let first = await queue.peek(); first !== undefined; first = await queue.peek()) {
      const { table } = first;
      // A segment leaves the queue once the COPY asks for the next: until then it counts as this connection's work.
      async function* ofTable(): AsyncGenerator<Buffer[]> {
        for (let next = await queue.peek(); next?.table.dumpId === table.dumpId; next = await queue.peek()) {
          yield next.messages;
          queue.take();
        }
      }
      const copy = client.query(copyOfSegments(table.copy));
      try {
        await pipeline(Readable.from(ofTable(), { highWaterMark: 1 }), copy, { signal: this.stop.signal });
      } catch (error) {
        if (this.stop.signal.aborted || error instanceof LifelineError) throw error;
        const message = redact((error as Error).message, settings);
        throw new LifelineError(
          'RestoreFailed',
          `loading the rows of ${tableName(table.copy)} into ${describe(settings)} failed: ${message}`,
          {
            cause: error,
          },
        );
      }
      this.rows.set(table.dumpId, (this.rows.get(table.dumpId) ?? 0) + copy.rowCount);
    }
  }

  /** The archive ended: resolves once every row is loaded (not yet committed), or rejects with the first failure. */
  async finish(): Promise<ReadonlyMap<number, number>> {
    for (const queue of this.queues) queue.end();
    await this.loops;
    if (this.failure) throw this.failure.error;
    return this.rows;
  }

  /** Commits every connection's rows: only once the archive matched its manifest. */
  async commit(): Promise<void> {
    await Promise.all(
      this.clients.map(async (client) => {
        try {
          await client?.query('COMMIT');
        } catch (error) {
          throw new LifelineError(
            'RestoreFailed',
            `committing the rows loaded into ${describe(this.options.settings)} failed: ${redact((error as Error).message, this.options.settings)}`,
            {
              cause: error,
            },
          );
        }
      }),
    );
  }

  /** Ends every connection: what was not committed is rolled back, and a COPY still running is stopped. */
  async close(): Promise<void> {
    this.stop.abort();
    for (const queue of this.queues) queue.end();
    const clients = this.clients.splice(0, this.clients.length);
    await Promise.all(clients.flatMap((client) => (client ? [client.end().catch(() => undefined)] : [])));
    await this.loops;
  }
}
