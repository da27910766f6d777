import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from 'pg';
import { describe, expect, it } from 'vitest';
import { connectClient, fromUrl } from '../../../../lambdas/core/postgres/connection.js';
import { RowLoaders } from '../../../../lambdas/core/restore/row-loaders.js';
import { sharedPostgres } from '../../../support/shared.js';

const pg = sharedPostgres();
const table = { dumpId: 7, copy: 'COPY public.rows (id, note) FROM stdin;\n' };

/** Rows as split.ts hands them on: a CopyData message each ('d', the length with its own 4 bytes, the row). */
function segment(rows: string[]) {
  const messages = rows.map((row) => {
    const text = Buffer.from(row);
    const head = Buffer.from([0x64, 0, 0, 0, 0]);
    head.writeUInt32BE(text.length + 4, 1);
    return Buffer.concat([head, text]);
  });
  return { table, messages, bytes: messages.reduce((sum, message) => sum + message.length, 0) };
}

/** Segments of whole rows numbered `from` to `to`, `perSegment` a segment. */
function segments(from: number, to: number, perSegment: number) {
  const list = [];
  for (let at = from; at <= to; at += perSegment) {
    const ids = Array.from({ length: Math.min(perSegment, to - at + 1) }, (_, i) => at + i);
    list.push(segment(ids.map((id) => `${id}\tnote ${id}\n`)));
  }
  return list;
}

async function loaders(database: string, jobs: number, signal?: AbortSignal) {
  await pg.query(database, 'CREATE TABLE rows (id int, note text)');
  return new RowLoaders({
    settings: fromUrl(pg.url(database)),
    jobs,
    encoding: 'UTF8',
    role: undefined,
    tablesReady: Promise.resolve(),
    signal,
  });
}

/** The sessions connected to `database`, with what they run. */
const sessions = (database: string) =>
  pg.query<{ query: string }>('postgres', 'SELECT query FROM pg_stat_activity WHERE datname = $1', [database]);

/**
 * Makes each row loaded into `database` wait for advisory lock 42, and takes it: the server stops reading rows and the
 * rest back up on the way, as when the server is slower than the download. Ending the session it returns lets them go.
 */
async function holdRows(database: string): Promise<Client> {
  await pg.query(
    database,
    `CREATE FUNCTION wait_for_test() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN PERFORM pg_advisory_lock_shared(42); PERFORM pg_advisory_unlock_shared(42); RETURN NEW; END $$;
     CREATE TRIGGER wait_for_test BEFORE INSERT ON rows FOR EACH ROW EXECUTE FUNCTION wait_for_test();`,
  );
  const holder = await connectClient(fromUrl(pg.url(database)));
  await holder.query('SELECT pg_advisory_lock(42)');
  return holder;
}

/** Stops the restore (`interrupt`) once a session in `database` waits for the lock holdRows took. */
async function interruptWhenHeld(database: string, interrupt: AbortController): Promise<void> {
  const waiting = () => pg.query('postgres', "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event = 'advisory'", [database]);
  while ((await waiting()).length === 0) await sleep(10);
  interrupt.abort();
}

const count = async (database: string) => (await pg.query<{ n: number }>(database, 'SELECT count(*)::int AS n FROM rows'))[0]!.n;

describe('row loaders', () => {
  it('load over every connection, and no row is visible before they commit', async () => {
    const database = await pg.createDatabase('loaders_commit');
    const loading = await loaders(database, 3);
    for (const segment of segments(1, 9000, 1000)) await loading.load(segment);
    const rows = await loading.finish();
    expect(rows.get(table.dumpId)).toBe(9000);
    expect(await count(database)).toBe(0);
    await loading.commit();
    await loading.close();
    expect(await count(database)).toBe(9000);
    expect(await pg.query(database, 'SELECT count(DISTINCT xmin::text)::int AS n FROM rows')).toEqual([{ n: 3 }]);
  });

  it('roll every row back when closed without a commit', async () => {
    const database = await pg.createDatabase('loaders_rollback');
    const loading = await loaders(database, 2);
    for (const segment of segments(1, 4000, 1000)) await loading.load(segment);
    await loading.finish();
    await loading.close();
    expect(await count(database)).toBe(0);
  });

  it('refuse further rows once a COPY failed, with its table named', async () => {
    const database = await pg.createDatabase('loaders_failed');
    const loading = await loaders(database, 2);
    await loading.load(segment(['not a number\tnote\n']));
    const failed = {
      name: 'RestoreFailed',
      message: expect.stringMatching(/^loading the rows of public\.rows into \S+ failed: invalid input syntax for type integer/),
    };
    await expect(loading.finish()).rejects.toMatchObject(failed);
    await expect(loading.load(segments(1, 1, 1)[0]!)).rejects.toMatchObject(failed);
    await loading.close();
    expect(await count(database)).toBe(0);
  });

  it('stop their COPY between rows when interrupted with the server behind, and leave it', async () => {
    const database = await pg.createDatabase('loaders_interrupted');
    const interrupt = new AbortController();
    const loading = await loaders(database, 1, interrupt.signal);
    const holder = await holdRows(database);
    try {
      // Every row cut in two, as split.ts hands on a row that straddles the bytes it was given: a COPY stopped after
      // a first part would leave the server waiting for the rest of that row (longer than a CopyFail), in COPY,
      // holding its locks.
      const ids = Array.from({ length: 20_000 }, (_, i) => i + 1);
      const whole = segment(ids.map((id) => `${id}\t${'x'.repeat(1000)}\n`));
      const cut = whole.messages.flatMap((message) => [message.subarray(0, -100), message.subarray(-100)]);
      await loading.load({ ...whole, messages: cut });
      await interruptWhenHeld(database, interrupt);
    } finally {
      await holder.end();
    }
    await expect(loading.finish()).rejects.toThrow();
    await loading.close();
    // The server notices the closed connections on its own time.
    for (let waited = 0; (await sessions(database)).length > 0 && waited < 60_000; waited += 50) await sleep(50);
    expect(await sessions(database)).toEqual([]);
    expect(await count(database)).toBe(0);
  });

  it('refuse rows waiting for room as soon as the restore stops, whatever the COPYs are doing', async () => {
    const database = await pg.createDatabase('loaders_refused');
    const interrupt = new AbortController();
    const loading = await loaders(database, 1, interrupt.signal);
    const holder = await holdRows(database);
    try {
      // 40 MiB: more than the queue and the socket hold, while the server reads none of it.
      const rows = Array.from({ length: 1000 }, (_, i) => `${i}\t${'x'.repeat(1000)}\n`);
      const pending = (async () => {
        for (let n = 0; n < 40; n++) await loading.load(segment(rows));
      })();
      pending.catch(() => undefined);
      await interruptWhenHeld(database, interrupt);
      await expect(pending).rejects.toMatchObject({
        name: 'RestoreFailed',
        message: 'the rows were being loaded when the restore stopped',
      });
    } finally {
      await holder.end();
    }
    await expect(loading.finish()).rejects.toThrow();
    await loading.close();
    expect(await count(database)).toBe(0);
  });
});
