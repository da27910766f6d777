import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromUrl } from '../../../../lambdas/core/postgres/connection.js';
import { runRestore, type RestoreOptions } from '../../../../lambdas/core/restore/pipeline.js';
import { databaseDigest, type DatabaseDigest } from '../../../support/fixture.js';
import { backUpIntoNewBucket, sharedPostgres, sharedS3 } from '../../../support/shared.js';

const pg = sharedPostgres();
const s3 = sharedS3();

let bucket: string;
let key: string;
let role: string;
let sourceDigest: DatabaseDigest;
let staging: string;

beforeAll(async () => {
  const source = await pg.createDatabase('parts');
  role = `lifeline_parts_${randomBytes(4).toString('hex')}`;
  // `big` holds most of the rows (about 5 MB: several segments), with all that must wait for them.
  await pg.query(
    source,
    `CREATE ROLE ${role};
     CREATE TABLE big (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text NOT NULL CHECK (note <> ''), doc jsonb, at timestamptz);
     CREATE INDEX big_at_idx ON big (at);
     COMMENT ON TABLE big IS 'loaded in parts';
     GRANT SELECT ON big TO ${role};
     CREATE FUNCTION refuse_updates() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'big is append-only'; END $$;
     CREATE TRIGGER big_append_only BEFORE UPDATE ON big FOR EACH ROW EXECUTE FUNCTION refuse_updates();
     CREATE TABLE small (id int PRIMARY KEY, big_id bigint NOT NULL REFERENCES big);
     CREATE VIEW recent AS SELECT id, note FROM big WHERE at > '2026-06-01';
     INSERT INTO big (note, doc, at)
       SELECT E'row ' || g || E' with a tab\\there, a backslash \\\\ and a\\nnewline', jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g % 7)),
              timestamptz '2026-01-01' + g * interval '7 minutes'
       FROM generate_series(1, 50000) g;
     INSERT INTO big (note) VALUES (repeat('a row longer than a window ', 20000)), ('日本語 € is the last row');
     INSERT INTO small SELECT g, g * 100 FROM generate_series(1, 400) g;
     CREATE MATERIALIZED VIEW big_summary AS SELECT count(*) AS n, sum(length(note)) AS chars FROM big;`,
  );
  ({ bucket, key } = await backUpIntoNewBucket(pg, s3, source, 'parts'));
  sourceDigest = await databaseDigest(pg.url(source));
  staging = await mkdtemp(join(tmpdir(), 'lifeline-parts-'));
});

afterAll(async () => {
  await rm(staging, { recursive: true, force: true });
});

function restoreInto(database: string, options: Partial<RestoreOptions> = {}) {
  return runRestore({ s3: s3.client, bucket, selector: { key }, target: fromUrl(pg.url(database)), stagingDir: staging, ...options });
}

/** How many transactions wrote big's rows: one per loading connection that was given some. */
async function loads(database: string): Promise<number> {
  const [row] = await pg.query<{ n: number }>(database, 'SELECT count(DISTINCT xmin::text)::int AS n FROM big');
  return row!.n;
}

describe('rows loaded as the archive arrives', () => {
  it('load a large table over N connections at once, and the restore equals its source', async () => {
    for (const jobs of [2, 3]) {
      const target = `parts_${jobs}_${randomBytes(4).toString('hex')}`;
      const result = await restoreInto(target, { createTarget: true, jobs });
      expect(result.tables.every((table) => table.passed)).toBe(true);
      expect(result.tables).toContainEqual(expect.objectContaining({ name: 'big', rows: 50002, expectedRows: 50002 }));
      expect(await loads(target)).toBe(jobs);
      expect(await databaseDigest(pg.url(target))).toEqual(sourceDigest);
      // The materialized view was refreshed once every row was in, the foreign key checked against them all.
      expect(await pg.query(target, 'SELECT n::int FROM big_summary')).toEqual([{ n: 50002 }]);
      expect(await pg.query(target, "SELECT convalidated FROM pg_constraint WHERE conname = 'small_big_id_fkey'")).toEqual([
        { convalidated: true },
      ]);
    }
    expect(await readdir(staging)).toEqual([]);
  });

  it('load over one connection with one job', async () => {
    const target = `parts_1_${randomBytes(4).toString('hex')}`;
    await restoreInto(target, { createTarget: true, jobs: 1 });
    expect(await loads(target)).toBe(1);
    expect(await databaseDigest(pg.url(target))).toEqual(sourceDigest);
  });

  it('load over N connections in a table-level recovery too, with only what the selection holds', async () => {
    const target = `parts_side_${randomBytes(4).toString('hex')}`;
    const result = await restoreInto(target, { createTarget: true, jobs: 2, tables: ['big'] });
    expect(result.tables).toEqual([expect.objectContaining({ name: 'big', rows: 50002, passed: true })]);
    expect(result.leftOut).toEqual(expect.arrayContaining(['INDEX public big_at_idx', 'FK CONSTRAINT public small small_big_id_fkey']));
    expect(await loads(target)).toBe(2);
    expect((await databaseDigest(pg.url(target))).tables).toEqual({ 'public.big': sourceDigest.tables['public.big'] });
  });

  it('belong to the restore role, which loads them', async () => {
    const target = `parts_role_${randomBytes(4).toString('hex')}`;
    await restoreInto(target, { createTarget: true, jobs: 2, role });
    expect(await loads(target)).toBe(2);
    expect(await pg.query(target, "SELECT tableowner FROM pg_tables WHERE tablename IN ('big', 'small') ORDER BY 1")).toEqual([
      { tableowner: role },
      { tableowner: role },
    ]);
    expect((await databaseDigest(pg.url(target))).tables).toEqual(sourceDigest.tables);
  });

  it('leave the target as it was when a COPY fails, naming the table', async () => {
    // A database in an encoding that lacks the last row's characters: the COPY of the last segment fails.
    const target = `parts_latin1_${randomBytes(4).toString('hex')}`;
    await pg.query('postgres', `CREATE DATABASE "${target}" ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
    await expect(restoreInto(target, { jobs: 2 })).rejects.toMatchObject({
      name: 'RestoreFailed',
      message: expect.stringMatching(
        /^loading the rows of public\.big into \S+ failed: character with byte sequence .* has no equivalent in encoding "LATIN1"; what it had created in \S+ was dropped$/,
      ),
    });
    expect(await pg.query(target, "SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace")).toEqual([
      { n: 0 },
    ]);
    expect(await readdir(staging)).toEqual([]);
  });
});

describe('a table with inheritance children, loaded over N connections', () => {
  it('is counted with its children, as the backup counted it', async () => {
    const source = await pg.createDatabase('parts_inherited');
    await pg.query(
      source,
      `CREATE TABLE readings (id int, value text);
       CREATE TABLE readings_2025 () INHERITS (readings);
       INSERT INTO readings SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, 30000) g;
       INSERT INTO readings_2025 SELECT g, 'old' FROM generate_series(1, 700) g;`,
    );
    const inherited = await backUpIntoNewBucket(pg, s3, source, 'parts-inherited');
    const target = `parts_inherited_${randomBytes(4).toString('hex')}`;
    const result = await runRestore({
      s3: s3.client,
      bucket: inherited.bucket,
      selector: { key: inherited.key },
      target: fromUrl(pg.url(target)),
      createTarget: true,
      jobs: 2,
      stagingDir: staging,
    });
    expect(result.tables).toEqual([
      expect.objectContaining({ name: 'readings', rows: 30700, expectedRows: 30700, passed: true }),
      expect.objectContaining({ name: 'readings_2025', rows: 700, expectedRows: 700, passed: true }),
    ]);
    expect(await pg.query(target, 'SELECT count(DISTINCT xmin::text)::int AS n FROM ONLY readings')).toEqual([{ n: 2 }]);
  });
});

describe('an archive that loads but does not match its manifest', () => {
  it('is refused once it has arrived, its loaded rows rolled back and the target put back as it was', async () => {
    // Another backup's archive, valid in every byte, under this backup's key: only its SHA-256 tells.
    const other = await pg.createDatabase('parts_other');
    await pg.query(
      other,
      'CREATE TABLE big (id bigint, note text); INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 100000) g',
    );
    const swapped = await backUpIntoNewBucket(pg, s3, other, 'parts-other');
    const object = await s3.client.send(new GetObjectCommand({ Bucket: swapped.bucket, Key: swapped.key }));
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from(await object.Body!.transformToByteArray()) }));
    // Last in this file: the backup's archive stays swapped.
    const existing = await pg.createDatabase('parts_swapped');
    await pg.query(existing, 'CREATE SCHEMA keep');
    const before = await databaseDigest(pg.url(existing));
    await expect(restoreInto(existing, { jobs: 2 })).rejects.toMatchObject({
      name: 'ChecksumMismatch',
      message: expect.stringMatching(/does not match its manifest .*; what it had created in \S+ was dropped$/),
    });
    expect(await databaseDigest(pg.url(existing))).toEqual(before);

    const fresh = `parts_swapped_${randomBytes(4).toString('hex')}`;
    await expect(restoreInto(fresh, { createTarget: true, jobs: 2 })).rejects.toMatchObject({
      name: 'ChecksumMismatch',
      message: expect.stringMatching(/the database it had created, \S+, was dropped$/),
    });
    expect(await pg.query('postgres', 'SELECT 1 FROM pg_database WHERE datname = $1', [fresh])).toEqual([]);
    expect(await readdir(staging)).toEqual([]);
  });
});
