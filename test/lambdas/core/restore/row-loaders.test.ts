import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { fromUrl } from '../../../../lambdas/core/postgres/connection.js';
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

/** The rows the COPY into `database` has read so far. */
async function copied(database: string): Promise<number> {
  const progress = await pg.query<{ n: number }>(
    'postgres',
    'SELECT tuples_processed::int AS n FROM pg_stat_progress_copy JOIN pg_database d ON d.oid = datid WHERE d.datname = $1',
    [database],
  );
  return progress[0]?.n ?? 0;
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

  it('stop their COPY between rows when interrupted mid-segment, and leave the server', async () => {
    const database = await pg.createDatabase('loaders_interrupted');
    const interrupt = new AbortController();
    const loading = await loaders(database, 1, interrupt.signal);
    // Every row cut in two, as split.ts hands on a row that straddles the bytes it was given: a COPY stopped after
    // the first part would leave the server waiting for the rest of the row (longer than a CopyFail), in COPY,
    // holding its locks.
    const ids = Array.from({ length: 20_000 }, (_, i) => i + 1);
    const whole = segment(ids.map((id) => `${id}\t${'x'.repeat(1000)}\n`));
    const cut = whole.messages.flatMap((message) => [message.subarray(0, -100), message.subarray(-100)]);
    await loading.load({ ...whole, messages: cut });
    while ((await copied(database)) === 0) await sleep(1);
    interrupt.abort();
    await expect(loading.finish()).rejects.toThrow();
    await loading.close();
    // The server notices a closed connection on its own time; one left mid-row never leaves.
    for (let waited = 0; (await sessions(database)).length > 0 && waited < 60_000; waited += 50) await sleep(50);
    expect(await sessions(database)).toEqual([]);
    expect(await count(database)).toBe(0);
  });
});
