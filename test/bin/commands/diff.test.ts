import { beforeAll, describe, expect, it } from 'vitest';
import { DriftReport } from '../../../lambdas/core/drift/report.js';
import { runCli } from '../../support/cli.js';
import { backUp, sharedPostgres, sharedS3 } from '../../support/shared.js';

/**
 * `lifeline diff` on real backups of a database changed in known ways between them, and on a backup against the
 * live database, against PostgreSQL and the S3-compatible server.
 */
describe('lifeline diff', () => {
  const pg = sharedPostgres();
  const s3 = sharedS3();
  let source: string;
  let bucket: string;
  let first: string;
  let second: string;
  const vault = () => ['--bucket', bucket, '--s3-endpoint', s3.endpoint];

  beforeAll(async () => {
    source = await pg.createDatabase('drift');
    await pg.query(
      source,
      `CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, fax text, CONSTRAINT name_not_blank CHECK (name <> ''));
       CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL REFERENCES customers, total integer NOT NULL, note text);
       CREATE TABLE legacy (id int);
       INSERT INTO customers SELECT i, 'customer ' || i FROM generate_series(1, 100) i;
       -- md5 text compresses about 2:1, so the archive is some MB: far more than its table of contents.
       INSERT INTO orders SELECT i, 1 + i % 100, i, md5(i::text) || md5((i * 7)::text) FROM generate_series(1, 300000) i;`,
    );
    bucket = await s3.createBucket('drift');
    first = (await backUp(pg, s3, { source, label: 'shop', bucket, tier: 'daily' })).key;
    await pg.query(
      source,
      `ALTER TABLE orders ADD COLUMN shipped_at timestamptz;
       ALTER TABLE customers DROP COLUMN fax;
       ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2);
       CREATE INDEX orders_customer ON orders (customer);
       ALTER TABLE customers DROP CONSTRAINT name_not_blank;
       CREATE FUNCTION order_total(customer_id int) RETURNS numeric LANGUAGE sql STABLE
         AS $$ SELECT sum(total) FROM orders WHERE customer = customer_id $$;
       DROP TABLE legacy;
       CREATE TABLE refunds (id int PRIMARY KEY, order_id int REFERENCES orders);
       INSERT INTO customers SELECT i, 'customer ' || i FROM generate_series(101, 120) i;
       DELETE FROM orders WHERE id <= 500;`,
    );
    second = (await backUp(pg, s3, { source, label: 'shop', bucket, tier: 'daily' })).key;
  });

  const SCHEMA_CHANGES = [
    '  table added: public.refunds',
    '  table dropped: public.legacy',
    '  column added: public.orders.shipped_at timestamp with time zone',
    '  column dropped: public.customers.fax text',
    '  column changed: public.orders.total: type integer -> numeric(12,2)',
    '  index added: CREATE INDEX orders_customer ON public.orders USING btree (customer)',
    '  constraint added: refunds_pkey on public.refunds: PRIMARY KEY (id)',
    '  constraint added: refunds_order_id_fkey on public.refunds: FOREIGN KEY (order_id) REFERENCES public.orders(id)',
    "  constraint dropped: name_not_blank on public.customers: CHECK ((name <> ''::text))",
    '  function added: public.order_total(integer)',
  ];

  it('says what changed between the previous and the latest backup: schema from the archives, rows from the manifests', async () => {
    const { code, stdout, stderr } = await runCli(['diff', 'previous:shop', 'latest:shop', ...vault()]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^from backup ${first} \\(taken \\S+Z\\)$`)),
      expect.stringMatching(new RegExp(`^to   backup ${second} \\(taken \\S+Z\\)$`)),
      'schema: 10 differences',
      ...SCHEMA_CHANGES,
      'rows: 300100 -> 299620 (-480)',
      '  public.customers: 100 -> 120 rows (+20)',
      '  public.orders: 300000 -> 299500 rows (-500)',
      '  public.refunds: new, 0 rows',
      '  public.legacy: gone, had 0 rows',
      '',
    ]);
  });

  it('prints the same as one JSON object, reading only the head of each archive', async () => {
    const { code, stdout } = await runCli(['diff', first, second, '--json', ...vault()]);
    expect(code).toBe(0);
    const report = DriftReport.parse(JSON.parse(stdout));
    expect(report.from).toMatchObject({ kind: 'backup', key: first, database: 'shop' });
    expect(report.to).toMatchObject({ kind: 'backup', key: second, database: 'shop' });
    expect(report.differences).toBe(14);
    expect(report.schema.columns.changed).toEqual([
      {
        schema: 'public',
        table: 'orders',
        from: { name: 'total', type: 'integer', notNull: true, default: null, generated: null },
        to: { name: 'total', type: 'numeric(12,2)', notNull: true, default: null, generated: null },
      },
    ]);
    expect(report.schema.constraints.dropped).toEqual([
      { schema: 'public', table: 'customers', name: 'name_not_blank', definition: "CHECK ((name <> ''::text))" },
    ]);
    expect(report.schema.functions.added).toEqual([{ kind: 'FUNCTION', schema: 'public', name: 'order_total(integer)' }]);
    expect(report.rows.tables).toContainEqual({
      schema: 'public',
      name: 'orders',
      from: 300000,
      to: 299500,
      delta: -500,
      estimated: false,
    });
    expect(report.rows.total).toEqual({ from: 300100, to: 299620, delta: -480 });
    // The table of contents is at the head: of the rows behind it, only what the pipes buffer is read.
    for (const side of [report.from, report.to]) {
      if (side.kind !== 'backup') throw new Error('a backup side');
      expect(side.bytes).toBeGreaterThan(10 * 1024 * 1024);
      expect(side.bytesRead).toBeGreaterThan(0);
      expect(side.bytesRead).toBeLessThan(side.bytes / 3);
    }
  });

  it('finds no differences between a backup and itself', async () => {
    const { code, stdout } = await runCli(['diff', second, 'latest:shop', ...vault()]);
    expect(code).toBe(0);
    expect(stdout).toContain('\nschema: no differences\nrows: 299620 -> 299620 (+0), no table differs\n');
  });

  it('compares the latest backup with the live database, whose credentials stay out of argv and the output', async () => {
    await pg.query(source, `ALTER TABLE refunds ADD COLUMN reason text DEFAULT 'unknown' NOT NULL; INSERT INTO refunds VALUES (1, 1000)`);
    const { code, stdout, stderr } = await runCli(['diff', 'latest:shop', 'live', ...vault()], { DATABASE_URL: pg.url(source) });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^from backup ${second} `)),
      expect.stringMatching(new RegExp(`^to   live database ${pg.user}@${pg.host}:${pg.port}/${source} \\(read \\S+Z\\)$`)),
      'schema: 1 difference',
      "  column added: public.refunds.reason text DEFAULT 'unknown'::text NOT NULL",
      'rows: 299620 -> 299621 (+1)',
      '  public.refunds: 0 -> 1 rows (+1)',
      '  2 other tables unchanged',
      '',
    ]);
    expect(stdout).not.toContain(pg.password);
    const json = await runCli(['diff', 'live', 'latest:shop', '--json', ...vault()], { DATABASE_URL: pg.url(source) });
    const report = DriftReport.parse(JSON.parse(json.stdout));
    expect(report.from).toMatchObject({ kind: 'live', database: `${pg.user}@${pg.host}:${pg.port}/${source}` });
    expect(report.schema.columns.dropped).toEqual([
      {
        schema: 'public',
        table: 'refunds',
        column: { name: 'reason', type: 'text', notNull: true, default: "'unknown'::text", generated: null },
      },
    ]);
  });

  it('names a bad reference, a missing flag or a missing backup, and changes nothing', async () => {
    const bad = await runCli(['diff', 'nonsense', 'latest:shop', ...vault()]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(
      '\nlifeline: InvalidInput: A: "nonsense" is not a backup key, latest:<database>, previous:<database> or live\n',
    );
    const label = await runCli(['diff', 'latest:shop', 'previous:../etc', ...vault()]);
    expect(label.code).toBe(2);
    expect(label.stderr).toContain('lifeline: InvalidInput: B: "../etc" in "previous:../etc" must be 1-63 letters');
    const noBucket = await runCli(['diff', 'latest:shop', 'live']);
    expect(noBucket.code).toBe(2);
    expect(noBucket.stderr).toBe('\nlifeline: InvalidInput: --bucket: required when A or B is a backup\n');
    const noUrl = await runCli(['diff', 'latest:shop', 'live', ...vault()], { DATABASE_URL: '' });
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toBe('\nlifeline: InvalidInput: --database-url: give --database-url or set DATABASE_URL\n');

    const nobody = await runCli(['diff', 'latest:nobody', 'latest:shop', ...vault()]);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toBe(`\nlifeline: BackupNotFound: A: latest:nobody: "nobody" has no backups in s3://${bucket}\n`);
    const solo = await pg.createDatabase('drift_solo');
    await backUp(pg, s3, { source: solo, label: 'solo', bucket, tier: 'daily' });
    const previous = await runCli(['diff', 'previous:solo', 'latest:solo', ...vault()]);
    expect(previous.code).toBe(1);
    expect(previous.stderr).toBe(
      `\nlifeline: BackupNotFound: A: previous:solo: "solo" has only one backup, so no previous one in s3://${bucket}\n`,
    );
    const missing = 'daily/shop/2020/01/01/shop-20200101T000000.000Z.dump';
    const absent = await runCli(['diff', missing, 'latest:shop', ...vault()]);
    expect(absent.code).toBe(1);
    expect(absent.stderr).toBe(`\nlifeline: BackupNotFound: no manifest for s3://${bucket}/${missing}: it is not a complete backup\n`);
    expect((await s3.listKeys(bucket)).filter((key) => !key.startsWith('daily/solo/'))).toHaveLength(4);
  });
});
