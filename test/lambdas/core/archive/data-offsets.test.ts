import { createWriteStream } from 'node:fs';
import { copyFile, mkdtemp, open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { setTimeout } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CUT_SPACING_BYTES,
  readRows,
  writeDataOffsets,
  type ArchiveRows,
  type TableRows,
} from '../../../../lambdas/core/archive/data-offsets.js';
import { toolEnv } from '../../../../lambdas/core/archive/format.js';
import { pgBinary, runPipeline, startPipeline } from '../../../../lambdas/core/child-process.js';
import { fromUrl, libpqEnv } from '../../../../lambdas/core/postgres/connection.js';
import { sharedPostgres } from '../../../support/shared.js';

const pg = sharedPostgres();
let dir: string;
let database: string;

/** pg_dump -Fc -Z0 of the database into a pipe, as a backup runs it, or into a file it can seek in. */
async function dumpTo(file: string, into: 'pipe' | 'file', db = database, compress = 0): Promise<void> {
  const args = ['--format=custom', `--compress=${compress}`, '--no-password', ...(into === 'file' ? [`--file=${file}`] : [])];
  const run = startPipeline({
    stages: [{ command: pgBinary('pg_dump'), args, env: libpqEnv(fromUrl(pg.url(db))), failure: 'DumpFailed' }],
  });
  await Promise.all([pipeline(run.output, createWriteStream(into === 'pipe' ? file : '/dev/null')), run.done]);
}

/** The data offset of every entry, as pg_restore reads it from the table of contents ("-- Data Pos: N"). */
/** pg_dump ends a table's rows with COPY's end marker, which pg_restore sends on with them. */
const END_OF_ROWS = '\\.\n\n\n';

/** The rows of `table` as pg_restore writes them into a script: what comes between its COPY statement and the end marker. */
async function copyText(archive: string, table: string): Promise<string> {
  const script = await runPipeline({
    stages: [
      {
        command: pgBinary('pg_restore'),
        args: ['--data-only', `--table=${table}`, '--file=-', archive],
        env: toolEnv(),
        failure: 'RestoreFailed',
      },
    ],
  });
  return /^COPY [^\n]+ FROM stdin;\n([\s\S]*?)^\\\.$/m.exec(script)![1]!;
}

async function rowsText(archive: string, rows: ArchiveRows, table: TableRows, from = table.start, to = table.end): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of readRows(archive, rows, table, from, to)) parts.push(part);
  return Buffer.concat(parts).toString('utf8');
}

async function dataPositions(archive: string): Promise<string[]> {
  const script = await runPipeline({
    stages: [{ command: pgBinary('pg_restore'), args: ['--verbose', '--file=-', archive], env: toolEnv(), failure: 'RestoreFailed' }],
  });
  return script.split('\n').filter((line) => line.startsWith('-- Data Pos: '));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lifeline-offsets-'));
  database = await pg.createDatabase('offsets');
  await pg.query(
    database,
    `CREATE TABLE customers (id int PRIMARY KEY, name text);
     CREATE TABLE orders (id int PRIMARY KEY, customer int REFERENCES customers, note text);
     CREATE TABLE empty (id int);
     INSERT INTO customers SELECT i, 'customer ' || i FROM generate_series(1, 1000) i;
     -- Over a megabyte of rows, so the data spans several of the windows it is read in.
     INSERT INTO orders SELECT i, 1 + i % 1000, repeat(md5(i::text), 4) FROM generate_series(1, 30000) i;
     -- A large object: its data is a block of another kind, with chunks of binary bytes.
     SELECT lo_from_bytea(0, decode(repeat('00ff01', 100000), 'hex'));`,
  );
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('data offsets of a staged archive', () => {
  it('are written where pg_dump writes them into a file, for table data and large objects', async () => {
    const piped = join(dir, 'piped.dump');
    const seekable = join(dir, 'seekable.dump');
    await dumpTo(piped, 'pipe');
    await dumpTo(seekable, 'file');
    const before = await dataPositions(piped);
    expect(before.length).toBeGreaterThan(0);
    expect(new Set(before)).toEqual(new Set(['-- Data Pos: 0']));

    // Table data for customers, orders and empty, and the large objects' block.
    expect(await writeDataOffsets(piped)).toMatchObject({ written: 4 });
    const after = await dataPositions(piped);
    expect(after).toEqual(await dataPositions(seekable));
    expect(after.filter((line) => line !== '-- Data Pos: 0')).toHaveLength(4);
  });

  it('leave an archive that has them all as it is', async () => {
    const seekable = join(dir, 'already.dump');
    await dumpTo(seekable, 'file');
    const bytes = await readFile(seekable);
    expect(await writeDataOffsets(seekable)).toEqual({ written: 0 });
    expect((await readFile(seekable)).equals(bytes)).toBe(true);

    const piped = join(dir, 'twice.dump');
    await dumpTo(piped, 'pipe');
    expect((await writeDataOffsets(piped)).written).toBe(4);
    expect(await writeDataOffsets(piped)).toEqual({ written: 0 });
  });

  it('read a table of contents larger than the first window', async () => {
    const many = await pg.createDatabase('offsets_many');
    // About 1,500 entries with long definitions: a table of contents of over a megabyte.
    await pg.query(
      many,
      `DO $$ BEGIN FOR i IN 1..750 LOOP
         EXECUTE format('CREATE TABLE t%s (id int, %s int)', i, 'c' || repeat('x', 600));
         EXECUTE format('INSERT INTO t%s VALUES (%s, %s)', i, i, i);
       END LOOP; END $$;`,
    );
    const piped = join(dir, 'many.dump');
    const seekable = join(dir, 'many-seekable.dump');
    await dumpTo(piped, 'pipe', many);
    await dumpTo(seekable, 'file', many);
    expect(await writeDataOffsets(piped)).toMatchObject({ written: 750 });
    const positions = await dataPositions(piped);
    expect(positions).toEqual(await dataPositions(seekable));
    // The data starts after the table of contents: beyond the first window of 256 KiB that it is read in.
    const first = Math.min(...positions.map((line) => Number(line.slice('-- Data Pos: '.length))).filter((at) => at > 0));
    expect(first).toBeGreaterThan(256 * 1024);
  });

  it('are not written into a file that is not a custom-format archive, or one cut short', async () => {
    const text = join(dir, 'not-an-archive.dump');
    await writeFile(text, 'SELECT 1;\n');
    expect(await writeDataOffsets(text)).toEqual({ written: 0, leftAsIs: 'not a custom-format archive' });
    expect(await readFile(text, 'utf8')).toBe('SELECT 1;\n');

    const piped = join(dir, 'cut.dump');
    await dumpTo(piped, 'pipe');
    const cut = join(dir, 'cut-short.dump');
    await copyFile(piped, cut);
    const { length } = await readFile(piped);
    await truncate(cut, length - 100);
    const bytes = await readFile(cut);
    expect(await writeDataOffsets(cut)).toEqual({ written: 0, leftAsIs: 'a truncated data block' });
    expect((await readFile(cut)).equals(bytes)).toBe(true);
  });

  it('stop with the signal, before anything is written', async () => {
    const piped = join(dir, 'stopped.dump');
    await dumpTo(piped, 'pipe');
    const bytes = await readFile(piped);
    const stop = new AbortController();
    stop.abort(new Error('stopped'));
    await expect(writeDataOffsets(piped, stop.signal)).rejects.toThrow('stopped');
    expect((await readFile(piped)).equals(bytes)).toBe(true);
  });

  it('fail naming the staged archive when it cannot be opened for writing', async () => {
    await expect(writeDataOffsets(join(dir, 'missing.dump'))).rejects.toMatchObject({
      name: 'RestoreFailed',
      message: expect.stringContaining(`writing the data offsets into the staged archive ${join(dir, 'missing.dump')} failed: ENOENT`),
    });
  });

  it('are not written into an archive of a version whose layout they do not know', async () => {
    const piped = join(dir, 'future.dump');
    await dumpTo(piped, 'pipe');
    const bytes = await readFile(piped);
    bytes[6] = 99; // the minor version: 1.99
    await writeFile(piped, bytes);
    expect(await writeDataOffsets(piped)).toEqual({ written: 0, leftAsIs: 'archive version 1.99' });
    expect((await readFile(piped)).equals(bytes)).toBe(true);
  });

  it('say where the rows of each table lie, and where they can be cut between two rows', async () => {
    const piped = join(dir, 'rows.dump');
    await dumpTo(piped, 'pipe');
    const { rows } = await writeDataOffsets(piped);
    expect(rows).toMatchObject({ encoding: 'UTF8', intSize: 4 });
    expect(rows!.tables.map((table) => table.copy)).toEqual([
      'COPY public.customers (id, name) FROM stdin;\n',
      'COPY public.empty (id) FROM stdin;\n',
      'COPY public.orders (id, customer, note) FROM stdin;\n',
    ]);
    const orders = rows!.tables.find((table) => table.copy.includes('orders'))!;
    const whole = await copyText(piped, 'orders');
    expect(whole.split('\n')).toHaveLength(30001);
    expect(await rowsText(piped, rows!, orders)).toBe(whole + END_OF_ROWS);

    // Over 4 MB of rows: cuts about a megabyte apart, each after a row's end, so the parts add up to the rows.
    expect(orders.cuts.length).toBeGreaterThanOrEqual(3);
    const bounds = [orders.start, ...orders.cuts, orders.end];
    for (let i = 1; i < bounds.length - 1; i++) expect(bounds[i]! - bounds[i - 1]!).toBeGreaterThanOrEqual(CUT_SPACING_BYTES);
    const parts = await Promise.all(bounds.slice(1).map((to, i) => rowsText(piped, rows!, orders, bounds[i], to)));
    for (const part of parts) expect(part.endsWith('\n')).toBe(true);
    expect(parts.join('')).toBe(whole + END_OF_ROWS);
  });

  it('read rows longer than a window, and escaped text', async () => {
    const long = await pg.createDatabase('offsets_long');
    await pg.query(
      long,
      `CREATE TABLE notes (id int, body text);
       INSERT INTO notes VALUES (1, E'a tab\\there, a backslash \\\\ and a\\nnewline'), (2, NULL), (3, '日本語 €'), (4, repeat('long ', 200000));`,
    );
    const piped = join(dir, 'long.dump');
    await dumpTo(piped, 'pipe', long);
    const { rows } = await writeDataOffsets(piped);
    const [notes] = rows!.tables;
    const whole = await copyText(piped, 'notes');
    expect(whole.length).toBeGreaterThan(1_000_000);
    expect(await rowsText(piped, rows!, notes!)).toBe(whole + END_OF_ROWS);
    expect(whole).toContain('a tab\\there, a backslash \\\\ and a\\nnewline\n2\t\\N\n3\t日本語 €\n4\tlong long ');
  });

  it('say nothing of rows that pg_dump compressed, whose chunks are no rows', async () => {
    const piped = join(dir, 'compressed.dump');
    await dumpTo(piped, 'pipe', database, 1);
    expect(await writeDataOffsets(piped)).toEqual({ written: 4 });
  });

  it('refuse to read rows from where the archive holds none', async () => {
    const piped = join(dir, 'misplaced.dump');
    await dumpTo(piped, 'pipe');
    const { rows } = await writeDataOffsets(piped);
    const orders = rows!.tables.find((table) => table.copy.includes('orders'))!;
    await expect(rowsText(piped, rows!, { ...orders, start: orders.start + 1 })).rejects.toMatchObject({
      name: 'RestoreFailed',
      message: `the staged archive has no row chunk where one was found at ${orders.start + 1}`,
    });
  });

  it('follow a file still being written, from before it exists to its last byte', async () => {
    const piped = join(dir, 'whole.dump');
    await dumpTo(piped, 'pipe');
    const bytes = await readFile(piped);
    const growing = join(dir, 'growing.dump');
    let writing = true;
    const offsets = writeDataOffsets(growing, undefined, () => writing);
    const file = await open(growing, 'w');
    for (let at = 0; at < bytes.length; at += 64 * 1024) {
      await file.write(bytes.subarray(at, at + 64 * 1024));
      await setTimeout(1);
    }
    await file.close();
    writing = false;
    const followed = await offsets;
    expect(followed).toEqual(await writeDataOffsets(piped));
    expect(followed.written).toBe(4);
    expect(await dataPositions(growing)).toEqual(await dataPositions(piped));
  });
});
