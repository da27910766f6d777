import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  archiveContents,
  archiveScript,
  compressStage,
  databaseOwner,
  decompressStage,
  readArchiveHead,
  readTableOfContents,
  tableEntry,
  toolEnv,
} from '../../../../lambdas/core/archive/format.js';
import { pgBinary, runPipeline, startPipeline } from '../../../../lambdas/core/child-process.js';
import { fromUrl, libpqEnv } from '../../../../lambdas/core/postgres/connection.js';
import { LifelineError } from '../../../../lambdas/core/errors.js';
import { sharedPostgres } from '../../../support/shared.js';

const pg = sharedPostgres();
let dir: string;
/** pg_dump -Fc -Z0 of the database, as the backup archives it, compressed and not. */
let dump: string;
let compressed: string;
let oids: Record<'customers' | 'orders', number>;

const sha256 = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lifeline-archive-'));
  const database = await pg.createDatabase('archive');
  await pg.query(
    database,
    `CREATE TABLE customers (id int PRIMARY KEY, name text);
     CREATE TABLE orders (id int PRIMARY KEY, customer int REFERENCES customers, note text);
     CREATE INDEX orders_customer ON orders (customer);
     GRANT SELECT ON orders TO PUBLIC;
     INSERT INTO customers SELECT i, 'customer ' || i FROM generate_series(1, 100) i;
     -- md5 text compresses about 2:1, so the compressed archive is some MB: far more than its table of contents.
     INSERT INTO orders SELECT i, 1 + i % 100, md5(i::text) || md5((i * 7)::text) FROM generate_series(1, 200000) i;`,
  );
  const rows = await pg.query<{ relname: 'customers' | 'orders'; oid: number }>(
    database,
    "SELECT relname, oid::int AS oid FROM pg_class WHERE relname IN ('customers', 'orders')",
  );
  oids = Object.fromEntries(rows.map((r) => [r.relname, r.oid])) as typeof oids;
  dump = join(dir, 'archive.dump');
  compressed = join(dir, 'archive.dump.zst');
  const connection = fromUrl(pg.url(database));
  const dumpStage = {
    command: pgBinary('pg_dump'),
    args: ['--format=custom', '--compress=0', '--no-password'],
    env: libpqEnv(connection),
    failure: 'DumpFailed' as const,
  };
  // One dump, kept and compressed: two runs of pg_dump differ in the header's timestamp once a second passes.
  const run = startPipeline({
    stages: [dumpStage, { command: 'tee', args: [dump], env: toolEnv(), failure: 'DumpFailed' }, compressStage()],
  });
  await Promise.all([pipeline(run.output, createWriteStream(compressed)), run.done]);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('archives', () => {
  it('decompress from a stream into a file byte for byte as pg_dump wrote them', async () => {
    const restored = join(dir, 'restored.dump');
    await runPipeline({ stages: [decompressStage('RestoreFailed', restored)], input: createReadStream(compressed) });
    expect(await sha256(restored)).toBe(await sha256(dump));
    expect((await stat(compressed)).size).toBeLessThan((await stat(dump)).size);
  });

  it('give their table of contents from the head of the compressed stream, without reading the rest', async () => {
    let read = 0;
    const counted = createReadStream(compressed, { highWaterMark: 64 * 1024 }).on('data', (chunk) => (read += chunk.length));
    const toc = await readTableOfContents(counted);
    for (const oid of Object.values(oids)) {
      expect(toc.some((line) => tableEntry(oid, 'TABLE DATA').test(line))).toBe(true);
      expect(toc.some((line) => tableEntry(oid, 'TABLE').test(line))).toBe(true);
    }
    expect(toc.every((line) => !line.startsWith(';'))).toBe(true);
    expect(read).toBeLessThan((await stat(compressed)).size / 2);
  });

  it('fail verification when the object is not a compressed archive, naming zstd', async () => {
    const error = await readTableOfContents(Readable.from(Buffer.from('not an archive at all'))).then(
      () => undefined,
      (e: unknown) => e as LifelineError,
    );
    expect(error?.name).toBe('VerificationFailed');
    expect(error?.message).toMatch(/^zstd exited with code 1: zstd: .*stdin.*: unsupported format$/);
  });

  it("fail verification when a compressed stream holds something that is not pg_dump's custom format", async () => {
    const text = join(dir, 'text.zst');
    await writeFile(join(dir, 'text'), 'SELECT 1;\n'.repeat(1000));
    await runPipeline({ stages: [{ ...compressStage(), args: [...compressStage().args, join(dir, 'text'), '-o', text] }] });
    const error = await readTableOfContents(createReadStream(text)).then(
      () => undefined,
      (e: unknown) => e as LifelineError,
    );
    expect(error?.name).toBe('VerificationFailed');
    expect(error?.message).toMatch(/^pg_restore exited with code 1: .*input file does not appear to be a valid archive/);
  });

  it("give the head's entries, with what they depend on, and the database's owner, reading only the head", async () => {
    let read = 0;
    const counted = createReadStream(compressed, { highWaterMark: 64 * 1024 }).on('data', (chunk) => (read += chunk.length));
    const head = await readArchiveHead(counted);
    expect(head.entries).toEqual(await archiveContents(dump));
    expect(head.databaseOwner).toBe(pg.user);
    expect(read).toBeLessThan((await stat(compressed)).size / 2);
  });

  it("read the database's owner whatever spaces its name and the owner's hold, and none where the archive has none", () => {
    const listing = (dbname: string, entry: string) =>
      `;\n; Archive created at 2026-11-23 02:00:00 UTC\n;     dbname: ${dbname}\n;     TOC Entries: 2\n;\n${entry}\n214; 1259 16386 TABLE public t postgres\n`;
    expect(databaseOwner(listing(`Shop's "Main" DB`, `3344; 1262 16385 DATABASE - Shop's "Main" DB Owner Rôle`))).toBe('Owner Rôle');
    expect(databaseOwner(listing('shop', '3344; 1262 16385 DATABASE - shop shop_owner'))).toBe('shop_owner');
    expect(databaseOwner(listing('shop', '3341; 0 0 ENCODING - ENCODING '))).toBeNull();
    expect(databaseOwner('214; 1259 16386 TABLE public t postgres\n')).toBeNull();
  });

  it('list each entry with the entries it depends on', async () => {
    const entries = await archiveContents(dump);
    const table = entries.find((e) => tableEntry(oids.orders, 'TABLE').test(e.line))!;
    const data = entries.find((e) => tableEntry(oids.orders, 'TABLE DATA').test(e.line))!;
    const index = entries.find((e) => / INDEX public orders_customer /.test(e.line))!;
    const foreignKey = entries.find((e) => / FK CONSTRAINT public orders orders_customer_fkey /.test(e.line))!;
    expect(data.dependencies).toContain(table.id);
    expect(index.dependencies).toContain(table.id);
    const customersKey = entries.find((e) => / CONSTRAINT public customers customers_pkey /.test(e.line))!;
    expect(foreignKey.dependencies).toEqual(expect.arrayContaining([table.id, customersKey.id]));
  });

  it('give the SQL of the entries a use-list selects, without running it', async () => {
    const entries = await archiveContents(dump);
    const grant = entries.filter((e) => / ACL public TABLE orders /.test(e.line));
    expect(grant).toHaveLength(1);
    const useList = join(dir, 'use-list');
    await writeFile(useList, `${grant[0]!.line}\n`);
    const sql = await archiveScript(dump, useList);
    expect(sql).toContain('GRANT SELECT ON TABLE public.orders TO PUBLIC;');
    expect(sql).not.toMatch(/CREATE TABLE|COPY /);
  });
});
