import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { compressStage } from '../../../../lambdas/core/archive/format.js';
import { pgBinary, startPipeline } from '../../../../lambdas/core/child-process.js';
import { compareSchemas } from '../../../../lambdas/core/drift/report.js';
import { archiveSchema, liveSchema } from '../../../../lambdas/core/drift/schema.js';
import { fromUrl, libpqEnv } from '../../../../lambdas/core/postgres/connection.js';
import { sharedPostgres } from '../../../support/shared.js';

const pg = sharedPostgres();

/** `pg_dump -Fc -Z0 | zstd` of a database, as a backup archives it, as a stream. */
function compressedArchive(database: string): Readable {
  const connection = fromUrl(pg.url(database));
  const dump = {
    command: pgBinary('pg_dump'),
    args: ['--format=custom', '--compress=0', '--no-password'],
    env: libpqEnv(connection),
    failure: 'DumpFailed' as const,
  };
  return startPipeline({ stages: [dump, compressStage()] }).output;
}

describe("a database's schema", () => {
  it('is read from pg_dump, names and definitions as they are, whatever characters they hold', async () => {
    const database = await pg.createDatabase('drift_schema');
    await pg.query(
      database,
      `CREATE SCHEMA "Sales Dept";
       CREATE TABLE "Sales Dept"."We;ird ""T""" (
         "a b" int, x text COLLATE "C" DEFAULT E'a,\\nb' NOT NULL, id serial, g int GENERATED ALWAYS AS ("a b" * 2) STORED
       );
       CREATE UNIQUE INDEX "odd idx" ON "Sales Dept"."We;ird ""T""" (lower(x)) WHERE x <> '';
       ALTER TABLE "Sales Dept"."We;ird ""T""" ADD CONSTRAINT "positive a b" CHECK ("a b" > 0) NOT VALID;
       CREATE TYPE mood AS ENUM ('happy');
       CREATE VIEW answers AS SELECT 42 AS answer;
       CREATE PROCEDURE tidy(days int) LANGUAGE sql AS $$ SELECT 1 $$;`,
    );
    const schema = await liveSchema(fromUrl(pg.url(database)));
    expect(schema.tables).toEqual([
      {
        schema: 'Sales Dept',
        name: 'We;ird "T"',
        columns: [
          { name: 'a b', type: 'integer', notNull: false, default: null, generated: null },
          { name: 'x', type: 'text COLLATE pg_catalog."C"', notNull: true, default: "'a,\nb'::text", generated: null },
          {
            name: 'id',
            type: 'integer',
            notNull: true,
            default: `nextval('"Sales Dept"."We;ird ""T""_id_seq"'::regclass)`,
            generated: null,
          },
          { name: 'g', type: 'integer', notNull: false, default: null, generated: '("a b" * 2)' },
        ],
      },
    ]);
    expect(schema.indexes).toEqual([
      {
        schema: 'Sales Dept',
        table: 'We;ird "T"',
        name: 'odd idx',
        definition: `CREATE UNIQUE INDEX "odd idx" ON "Sales Dept"."We;ird ""T""" USING btree (lower(x)) WHERE (x <> ''::text)`,
      },
    ]);
    expect(schema.constraints).toEqual([
      { schema: 'Sales Dept', table: 'We;ird "T"', name: 'positive a b', definition: 'CHECK (("a b" > 0)) NOT VALID' },
    ]);
    expect(schema.functions).toEqual([
      {
        kind: 'PROCEDURE',
        schema: 'public',
        name: 'tidy(integer)',
        definition: expect.stringContaining('CREATE PROCEDURE public.tidy(IN days integer)'),
      },
    ]);
    expect(schema.others.map(({ kind, schema, name }) => `${kind} ${schema}.${name}`).sort()).toEqual([
      'SCHEMA .Sales Dept',
      'SEQUENCE Sales Dept.We;ird "T"_id_seq',
      'TYPE public.mood',
      'VIEW public.answers',
    ]);
  });

  it("is the same from a backup's archive as from the database, reading only the archive's head", async () => {
    const database = await pg.createDatabase('drift_archive');
    await pg.query(
      database,
      `CREATE TABLE customers (id int PRIMARY KEY, email varchar(200) UNIQUE, CONSTRAINT has_at CHECK (email LIKE '%@%'));
       CREATE TABLE orders (id bigserial PRIMARY KEY, customer int REFERENCES customers ON DELETE CASCADE, note text);
       CREATE INDEX orders_note ON orders (note);
       CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql AS $$ SELECT a + b $$;
       INSERT INTO customers SELECT i, i || '@example.com' FROM generate_series(1, 100) i;
       -- md5 text compresses about 2:1, so the archive is some MB: far more than its table of contents.
       INSERT INTO orders (customer, note) SELECT 1 + i % 100, md5(i::text) || md5((i * 7)::text) FROM generate_series(1, 300000) i;`,
    );
    const chunks: Buffer[] = [];
    for await (const chunk of compressedArchive(database)) chunks.push(chunk as Buffer);
    const archive = Buffer.concat(chunks);

    // In the 64 KiB pieces a download comes in.
    const pieces = Array.from({ length: Math.ceil(archive.length / 65536) }, (_, i) => archive.subarray(i * 65536, (i + 1) * 65536));
    const { schema, bytesRead } = await archiveSchema(Readable.from(pieces), 'the test archive');
    expect(archive.length).toBeGreaterThan(10 * 1024 * 1024);
    expect(bytesRead).toBeGreaterThan(0);
    expect(bytesRead).toBeLessThan(archive.length / 3);
    const live = await liveSchema(fromUrl(pg.url(database)));
    expect(schema).toEqual(live);
    expect(schema.tables.map((t) => t.name)).toEqual(['customers', 'orders']);
    expect(schema.tables[1]!.columns[0]).toEqual({
      name: 'id',
      type: 'bigint',
      notNull: true,
      default: "nextval('public.orders_id_seq'::regclass)",
      generated: null,
    });
    expect(Object.values(compareSchemas(schema, live)).every((kind) => Object.values(kind).every((list) => list.length === 0))).toBe(true);
  });

  it('fails, naming the archive, when the object is not a compressed pg_dump archive', async () => {
    await expect(archiveSchema(Readable.from([Buffer.from('not an archive at all')]), 's3://vault/daily/x.dump')).rejects.toMatchObject({
      name: 'VerificationFailed',
      message: expect.stringMatching(
        /^reading the schema of s3:\/\/vault\/daily\/x\.dump failed: zstd exited with code 1: .*unsupported format$/,
      ),
    });
  });

  it('fails, naming the database and never its password, when the live database cannot be read', async () => {
    const settings = { ...fromUrl(pg.url('postgres')), database: 'no_such_database', password: 'sekr1t-pw' };
    const error = await liveSchema(settings).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toMatchObject({ name: 'DumpFailed', message: expect.stringContaining(`reading the schema of ${pg.user}@`) });
    expect(error!.message).not.toContain('sekr1t-pw');
  });
});
