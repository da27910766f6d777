import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveSplitter, SEGMENT_BYTES, type ArchiveHead, type SplitPlan } from '../../../../lambdas/core/archive/split.js';
import { archiveContents, toolEnv, type ArchiveEntry } from '../../../../lambdas/core/archive/format.js';
import { pgBinary, runPipeline, startPipeline } from '../../../../lambdas/core/child-process.js';
import { fromUrl, libpqEnv } from '../../../../lambdas/core/postgres/connection.js';
import { sharedPostgres } from '../../../support/shared.js';

const pg = sharedPostgres();
let dir: string;
let database: string;

/** pg_dump -Fc of the database into a pipe, as a backup runs it (-Z0), or compressed by pg_dump itself. */
async function dumpTo(file: string, db = database, compress = 0): Promise<void> {
  const run = startPipeline({
    stages: [
      {
        command: pgBinary('pg_dump'),
        args: ['--format=custom', `--compress=${compress}`, '--no-password'],
        env: libpqEnv(fromUrl(pg.url(db))),
        failure: 'DumpFailed',
      },
    ],
  });
  await Promise.all([pipeline(run.output, createWriteStream(file)), run.done]);
}

/** pg_dump ends a table's rows with COPY's end marker, which is loaded with them. */
const END_OF_ROWS = '\\.\n\n\n';

/** pg_restore run on a file without a connection, writing the SQL it would run (without its random \restrict key). */
async function script(archive: string, args: string[]): Promise<string> {
  const text = await runPipeline({
    stages: [{ command: pgBinary('pg_restore'), args: [...args, '--file=-', archive], env: toolEnv(), failure: 'RestoreFailed' }],
  });
  return text.replace(/^\\(un)?restrict .*$/gm, '');
}

/** The rows of `table` as pg_restore writes them into a script: what comes between its COPY statement and the end marker. */
async function copyText(archive: string, table: string): Promise<string> {
  const text = await script(archive, ['--data-only', `--table=${table}`]);
  return /^COPY [^\n]+ FROM stdin;\n([\s\S]*?)^\\\.$/m.exec(text)![1]!;
}

interface Split {
  heads: ArchiveHead[];
  /** The segments handed on, by COPY statement. */
  segments: Map<string, Buffer[]>;
  path: string;
}

/**
 * Feeds the archive to a splitter in chunks of `chunk` bytes, loading every table it offers and staging every
 * other data entry (or as `plan` says).
 */
async function split(archive: string, chunk: number, plan?: (head: ArchiveHead, entries: ArchiveEntry[]) => Omit<SplitPlan, 'headRead'>) {
  const bytes = await readFile(archive);
  const result: Split = { heads: [], segments: new Map(), path: join(dir, `head-${Math.random().toString(36).slice(2)}.dump`) };
  const splitter = new ArchiveSplitter(result.path, {
    async head(head) {
      result.heads.push(head);
      // pg_restore reads no archive of a layout the splitter does not know either.
      const entries = await archiveContents(head.path).catch(() => []);
      const loaded = new Set(head.tables.map((table) => table.dumpId));
      const staged = new Set(entries.map((entry) => entry.id).filter((id) => !loaded.has(id)));
      return { ...(plan ? plan(head, entries) : { loaded, staged }), headRead: Promise.resolve() };
    },
    rows({ table, messages, bytes }) {
      const list = result.segments.get(table.copy) ?? [];
      const segment = Buffer.concat(messages);
      expect(segment.length).toBe(bytes);
      list.push(segment);
      result.segments.set(table.copy, list);
      return Promise.resolve();
    },
  });
  const chunks = function* () {
    for (let at = 0; at < bytes.length; at += chunk) yield bytes.subarray(at, at + chunk);
  };
  await pipeline(Readable.from(chunks()), splitter);
  return result;
}

/** The COPY text in a segment's CopyData messages ('d', then their length with its own 4 bytes, most significant first). */
function copyDataText(segment: Buffer): Buffer {
  const rows: Buffer[] = [];
  for (let at = 0; at < segment.length;) {
    expect(segment[at]).toBe(0x64);
    const end = at + 1 + segment.readUInt32BE(at + 1);
    expect(end).toBeLessThanOrEqual(segment.length);
    rows.push(segment.subarray(at + 5, end));
    at = end;
  }
  return Buffer.concat(rows);
}

const rowsOf = (result: Split, copy: string) => Buffer.concat((result.segments.get(copy) ?? []).map(copyDataText)).toString('utf8');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lifeline-split-'));
  database = await pg.createDatabase('split');
  await pg.query(
    database,
    `CREATE TABLE customers (id int PRIMARY KEY, name text);
     CREATE TABLE orders (id int PRIMARY KEY, customer int REFERENCES customers, note text);
     CREATE TABLE empty (id int);
     INSERT INTO customers SELECT i, 'customer ' || i FROM generate_series(1, 1000) i;
     -- Over 4 MB of rows: several segments.
     INSERT INTO orders SELECT i, 1 + i % 1000, repeat(md5(i::text), 4) FROM generate_series(1, 30000) i;
     -- A large object: its data is a block of another kind, with chunks of binary bytes.
     SELECT lo_from_bytea(0, decode(repeat('00ff01', 100000), 'hex'));`,
  );
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('an archive split as it arrives', () => {
  it('hands on each table’s rows as CopyData messages in segments of whole rows, however the bytes arrive', async () => {
    const archive = join(dir, 'piped.dump');
    await dumpTo(archive);
    const orders = await copyText(archive, 'orders');
    const customers = await copyText(archive, 'customers');
    for (const chunk of [7, 64 * 1024]) {
      const result = await split(archive, chunk);
      expect(result.heads).toHaveLength(1);
      expect(result.heads[0]!.encoding).toBe('UTF8');
      expect(result.heads[0]!.tables.map((table) => table.copy)).toEqual([
        'COPY public.customers (id, name) FROM stdin;\n',
        'COPY public.empty (id) FROM stdin;\n',
        'COPY public.orders (id, customer, note) FROM stdin;\n',
      ]);
      expect(rowsOf(result, 'COPY public.orders (id, customer, note) FROM stdin;\n')).toBe(orders + END_OF_ROWS);
      expect(rowsOf(result, 'COPY public.customers (id, name) FROM stdin;\n')).toBe(customers + END_OF_ROWS);
      // An empty table's block holds only the end marker.
      expect(rowsOf(result, 'COPY public.empty (id) FROM stdin;\n')).toBe(END_OF_ROWS);
      const segments = result.segments.get('COPY public.orders (id, customer, note) FROM stdin;\n')!;
      expect(segments.length).toBeGreaterThanOrEqual(4);
      for (const segment of segments.slice(0, -1)) {
        expect(segment.length).toBeGreaterThanOrEqual(SEGMENT_BYTES);
        expect(segment.at(-1)).toBe(0x0a);
      }
    }
  });

  it('stages only the table of contents and the blocks pg_restore restores, with their offsets written', async () => {
    const archive = join(dir, 'staged.dump');
    await dumpTo(archive);
    const result = await split(archive, 64 * 1024);
    const { size } = await readFile(result.path).then((bytes) => ({ size: bytes.length }));
    // The large object's 300 kB, but none of the rows.
    expect(size).toBeGreaterThan(300_000);
    expect(size).toBeLessThan(400_000);
    const entries = await archiveContents(result.path);
    expect(entries.map((entry) => entry.line)).toEqual((await archiveContents(archive)).map((entry) => entry.line));
    // pg_restore finds the staged block where its offset says, and the rows' entries nowhere.
    const useList = join(dir, 'large-objects.list');
    await writeFile(
      useList,
      `${entries
        .filter((entry) => / BLOBS? /.test(entry.line))
        .map((entry) => entry.line)
        .join('\n')}\n`,
    );
    const largeObjects = await script(result.path, ['--data-only', `--use-list=${useList}`]);
    expect(largeObjects).toEqual(await script(archive, ['--data-only', `--use-list=${useList}`]));
    expect(largeObjects).toContain('lowrite');
    const verbose = await script(result.path, ['--verbose', `--use-list=${useList}`]);
    expect(verbose).toMatch(/^-- Data Pos: [1-9]\d*$/m);
  });

  it('skips the blocks of entries it neither loads nor stages', async () => {
    const archive = join(dir, 'skipped.dump');
    await dumpTo(archive);
    const result = await split(archive, 64 * 1024, () => ({ loaded: new Set(), staged: new Set() }));
    expect(result.segments.size).toBe(0);
    expect((await readFile(result.path)).length).toBeLessThan(20_000);
  });

  it('offers no rows of an archive pg_dump compressed, whose chunks are no rows: its blocks are staged', async () => {
    const archive = join(dir, 'compressed.dump');
    await dumpTo(archive, database, 1);
    const result = await split(archive, 64 * 1024);
    expect(result.heads[0]!.tables).toEqual([]);
    expect(result.segments.size).toBe(0);
    expect(await copyText(result.path, 'orders')).toBe(await copyText(archive, 'orders'));
  });

  it('hands on rows longer than a segment, and escaped text, as they were dumped', async () => {
    const long = await pg.createDatabase('split_long');
    await pg.query(
      long,
      `CREATE TABLE notes (id int, body text);
       INSERT INTO notes VALUES (1, E'a tab\\there, a backslash \\\\ and a\\nnewline'), (2, NULL), (3, '日本語 €'), (4, repeat('long ', 500000));`,
    );
    const archive = join(dir, 'long.dump');
    await dumpTo(archive, long);
    const result = await split(archive, 64 * 1024);
    const whole = await copyText(archive, 'notes');
    expect(whole.length).toBeGreaterThan(2 * SEGMENT_BYTES);
    expect(rowsOf(result, 'COPY public.notes (id, body) FROM stdin;\n')).toBe(whole + END_OF_ROWS);
    expect(whole).toContain('a tab\\there, a backslash \\\\ and a\\nnewline\n2\t\\N\n3\t日本語 €\n4\tlong long ');
  });

  it('reads a table of contents larger than the first bytes it tries', async () => {
    const many = await pg.createDatabase('split_many');
    // About 1,500 entries with long definitions: a table of contents of over a megabyte.
    await pg.query(
      many,
      `DO $$ BEGIN FOR i IN 1..750 LOOP
         EXECUTE format('CREATE TABLE t%s (id int, %s int)', i, 'c' || repeat('x', 600));
         EXECUTE format('INSERT INTO t%s VALUES (%s, %s)', i, i, i);
       END LOOP; END $$;`,
    );
    const archive = join(dir, 'many.dump');
    await dumpTo(archive, many);
    const result = await split(archive, 64 * 1024);
    expect(result.heads[0]!.tables).toHaveLength(750);
    expect(result.segments.size).toBe(750);
    expect(rowsOf(result, result.heads[0]!.tables[9]!.copy)).toMatch(/^(\d+)\t\1\n\\\.\n/);
  });

  it('stages an archive of a layout it does not know whole, and tells its head only once it ended', async () => {
    const archive = join(dir, 'future.dump');
    await dumpTo(archive);
    const bytes = await readFile(archive);
    bytes[6] = 99; // the minor version: 1.99
    await writeFile(archive, bytes);
    const result = await split(archive, 64 * 1024);
    expect(result.heads).toEqual([{ path: result.path, tables: [], encoding: undefined }]);
    expect((await readFile(result.path)).equals(bytes)).toBe(true);

    const text = join(dir, 'not-an-archive.dump');
    await writeFile(text, 'SELECT 1;\n');
    const staged = await split(text, 64 * 1024);
    expect(await readFile(staged.path, 'utf8')).toBe('SELECT 1;\n');
  });

  it('fails on an archive cut short inside a data block, or bytes that are no data block', async () => {
    const archive = join(dir, 'cut.dump');
    await dumpTo(archive);
    const bytes = await readFile(archive);
    await writeFile(archive, bytes.subarray(0, bytes.length - 100));
    await expect(split(archive, 64 * 1024)).rejects.toMatchObject({
      name: 'RestoreFailed',
      message: 'the archive ends inside a data block: it was cut short',
    });

    const garbled = join(dir, 'garbled.dump');
    await writeFile(garbled, Buffer.concat([bytes, Buffer.from([9, 9, 9, 9, 9, 9, 9])]));
    await expect(split(garbled, 64 * 1024)).rejects.toMatchObject({
      name: 'RestoreFailed',
      message: expect.stringMatching(/^the archive holds a data block of type 9 at \d+; it is no archive pg_dump wrote$/),
    });
  });
});
