import { GetObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { BackupManifest } from '../../lambdas/core/vault/manifest.js';
import { runCli } from '../support/cli.js';
import { createRichDatabase, databaseDigest, RICH_DATABASE_LATEST_MIGRATION, type DatabaseDigest } from '../support/fixture.js';
import { sharedPostgres, sharedS3 } from '../support/shared.js';

const pg = sharedPostgres();
const s3 = sharedS3();

describe('backup and restore of a real application database through the CLI', () => {
  let source: string;
  let bucket: string;
  let sourceDigest: DatabaseDigest;
  let backup: { key: string; manifestKey: string; bytes: number; sha256: string; tier: string; durationMs: number };

  beforeAll(async () => {
    source = await pg.createDatabase('rich_source');
    await createRichDatabase(pg, source);
    sourceDigest = await databaseDigest(pg.url(source));
    bucket = await s3.createBucket('round-trip');
    const run = await runCli(['backup', '--database', 'shop', '--bucket', bucket, '--s3-endpoint', s3.endpoint, '--json'], {
      DATABASE_URL: pg.url(source),
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    backup = JSON.parse(run.stdout);
  });

  it('stores the archive under the monthly tier on first backup, with a manifest written last', async () => {
    expect(backup.key).toMatch(/^monthly\/shop\/\d{4}\/\d{2}\/\d{2}\/shop-\d{8}T\d{6}\.\d{3}Z\.dump$/);
    expect(backup.manifestKey).toBe(`${backup.key}.manifest.json`);
    expect((await s3.listKeys(bucket)).sort()).toEqual([backup.key, backup.manifestKey].sort());
    expect(await s3.listIncompleteUploads(bucket)).toEqual([]);

    const object = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: backup.key }));
    const bytes = Buffer.from(await object.Body!.transformToByteArray());
    expect(bytes.length).toBe(backup.bytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(backup.sha256);
    expect(bytes.subarray(0, 4).toString('hex')).toBe('28b52ffd'); // a zstd frame

    const manifestObject = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: backup.manifestKey }));
    const manifest = BackupManifest.parse(JSON.parse(await manifestObject.Body!.transformToString()));
    expect(manifest).toMatchObject({
      manifestVersion: 1,
      database: 'shop',
      tier: 'monthly',
      key: backup.key,
      trigger: 'manual',
      archive: { format: 'pg_dump-custom', compression: 'zstd', bytes: backup.bytes, sha256: backup.sha256 },
      source: { databaseName: source },
      latestMigration: { tool: 'prisma', name: RICH_DATABASE_LATEST_MIGRATION },
    });
    expect(manifest.source.serverVersion).toMatch(/^\d+\.\d+/);
    expect(manifest.source.pgDumpVersion).toMatch(/^pg_dump \(PostgreSQL\) \d+/);
    const invoiceLines = manifest.tables.find((t) => t.schema === 'Billing' && t.name === 'InvoiceLine');
    const [{ n }] = (await pg.query<{ n: string }>(source, 'SELECT count(*) AS n FROM "Billing"."InvoiceLine"')) as [{ n: string }];
    const [{ oid }] = (await pg.query<{ oid: number }>(source, `SELECT '"Billing"."InvoiceLine"'::regclass::oid::int AS oid`)) as [
      { oid: number },
    ];
    expect(invoiceLines).toEqual({ oid, schema: 'Billing', name: 'InvoiceLine', rows: Number(n), exact: true });
    expect(manifest.source).toMatchObject({ host: '127.0.0.1', port: pg.port });
    expect(manifest.tables.map((t) => `${t.schema}.${t.name}`)).toContain('metrics.events_2026_h1'); // a leaf partition
  });

  it('lists the backup, and the next backup the same day is daily', async () => {
    const second = await runCli(['backup', '--database', 'shop', '--bucket', bucket, '--s3-endpoint', s3.endpoint, '--json'], {
      DATABASE_URL: pg.url(source),
    });
    expect(second.code).toBe(0);
    // The monthly backup stands for this ISO week too.
    expect(JSON.parse(second.stdout).tier).toBe('daily');

    const list = await runCli(['list', '--bucket', bucket, '--database', 'shop', '--s3-endpoint', s3.endpoint, '--json']);
    expect(list.code).toBe(0);
    const { backups } = JSON.parse(list.stdout);
    expect(backups.map((b: { key: string }) => b.key)).toEqual([backup.key, JSON.parse(second.stdout).key]);
    expect(backups[0]).toMatchObject({ tier: 'monthly', database: 'shop', bytes: backup.bytes });
  });

  it('restores into a new database with identical tables, sequences, large objects and schema', async () => {
    const target = await pg.createDatabase('rich_restored');
    const run = await runCli(['restore', '--bucket', bucket, '--key', backup.key, '--jobs', '2', '--s3-endpoint', s3.endpoint, '--json'], {
      TARGET_DATABASE_URL: pg.url(target),
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.key).toBe(backup.key);
    expect(result.tables.length).toBeGreaterThan(5);
    for (const table of result.tables) expect(table.rows).toBe(table.expectedRows);
    expect(await databaseDigest(pg.url(target))).toEqual(sourceDigest);
  });

  it('recovers a single table into a side database', async () => {
    const side = await pg.createDatabase('rich_side');
    const run = await runCli(
      [
        'restore',
        '--bucket',
        bucket,
        '--latest',
        '--database',
        'shop',
        '--tables',
        'InvoiceLine',
        '--schemas',
        'Billing',
        '--s3-endpoint',
        s3.endpoint,
        '--json',
      ],
      { TARGET_DATABASE_URL: pg.url(side) },
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const sideDigest = await databaseDigest(pg.url(side));
    expect(Object.keys(sideDigest.tables)).toEqual(['"Billing"."InvoiceLine"']);
    expect(sideDigest.tables['"Billing"."InvoiceLine"']).toEqual(sourceDigest.tables['"Billing"."InvoiceLine"']);
    // Only what the table needs: not app.account_label(app.accounts), which would fail without app.accounts.
    expect(sideDigest.schema.schemas).toEqual(['Billing', 'public']);
    expect(sideDigest.schema.functions).toEqual({});
    const { leftOut } = JSON.parse(run.stdout);
    expect(leftOut).toEqual(
      expect.arrayContaining([
        'CONSTRAINT Billing InvoiceLine InvoiceLine_pkey',
        'FK CONSTRAINT Billing InvoiceLine InvoiceLine_invoice_id_fkey',
        'TRIGGER Billing InvoiceLine InvoiceLine_refresh_total',
        'SEQUENCE Billing InvoiceLine_id_seq', // its identity
      ]),
    );
  });

  it('recovers a table with what its definition needs from other schemas, and says what it left out', async () => {
    const side = await pg.createDatabase('rich_side_invoice');
    // "Billing"."Invoice" numbers its rows from app.ticket_number_seq and has a foreign key to app.accounts.
    const run = await runCli(['restore', '--bucket', bucket, '--key', backup.key, '--tables', 'Invoice', '--s3-endpoint', s3.endpoint], {
      TARGET_DATABASE_URL: pg.url(side),
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const sideDigest = await databaseDigest(pg.url(side));
    expect(Object.keys(sideDigest.tables)).toEqual(['"Billing"."Invoice"']);
    expect(sideDigest.tables['"Billing"."Invoice"']).toEqual(sourceDigest.tables['"Billing"."Invoice"']);
    expect(Object.keys(sideDigest.sequences)).toEqual(['app.ticket_number_seq']);
    expect(run.stdout).toMatch(/^ {2}Billing\.Invoice: 800 rows$/m);
    expect(run.stdout).toMatch(/^left out of the selected tables:$/m);
    expect(run.stdout).toMatch(/^ {2}FK CONSTRAINT Billing Invoice Invoice_account_id_fkey$/m);
    expect(run.stdout).toMatch(/^ {2}MATERIALIZED VIEW Billing AccountRevenue$/m);
  });

  it('refuses to restore into the source, or over a database that has tables, touching nothing', async () => {
    const before = await databaseDigest(pg.url(source));
    const intoSource = await runCli(
      ['restore', '--bucket', bucket, '--key', backup.key, '--tables', 'accounts', '--s3-endpoint', s3.endpoint],
      {
        TARGET_DATABASE_URL: pg.url(source),
      },
    );
    expect(intoSource.code).toBe(2);
    expect(intoSource.stderr).toMatch(/InvalidInput: target .* is the source of backup/);
    expect(await databaseDigest(pg.url(source))).toEqual(before);

    const occupied = await pg.createDatabase('occupied');
    await pg.query(occupied, 'CREATE TABLE keep_me (id int); INSERT INTO keep_me VALUES (1)');
    const overTables = await runCli(['restore', '--bucket', bucket, '--key', backup.key, '--s3-endpoint', s3.endpoint], {
      TARGET_DATABASE_URL: pg.url(occupied),
    });
    expect(overTables.code).toBe(2);
    expect(overTables.stderr).toMatch(/InvalidInput: target .* is not empty \(public.keep_me\)/);
    expect(
      await pg.query(occupied, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"),
    ).toEqual([{ n: 1 }]);
  });

  it('restores the latest backup at or before a time, and says when there is none', async () => {
    const target = await pg.createDatabase('rich_pit');
    const none = await runCli(
      ['restore', '--bucket', bucket, '--at', '2000-01-01T00:00:00Z', '--database', 'shop', '--s3-endpoint', s3.endpoint],
      {
        TARGET_DATABASE_URL: pg.url(target),
      },
    );
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/BackupNotFound: no backup of "shop" at or before 2000-01-01T00:00:00.000Z/);

    const noZone = await runCli(['restore', '--bucket', bucket, '--at', '2026-11-23 10:00', '--database', 'shop'], {
      TARGET_DATABASE_URL: pg.url(target),
    });
    expect(noZone.code).toBe(2);
    expect(noZone.stderr).toMatch(/--at: must be an ISO 8601 time with a zone/);

    // Between the two backups: the first one is the latest at or before that time.
    const backups = JSON.parse((await runCli(['list', '--bucket', bucket, '--s3-endpoint', s3.endpoint, '--json'])).stdout).backups;
    expect(backups).toHaveLength(2);
    const between = new Date(new Date(backups[1].startedAt).getTime() - 1).toISOString();
    const run = await runCli(
      ['restore', '--bucket', bucket, '--at', between, '--database', 'shop', '--s3-endpoint', s3.endpoint, '--json'],
      {
        TARGET_DATABASE_URL: pg.url(target),
      },
    );
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).key).toBe(backups[0].key);
  });

  it('rejects contradictory or incomplete restore selections before doing anything', async () => {
    const both = await runCli(['restore', '--bucket', bucket, '--key', backup.key, '--latest', '--database', 'shop'], {
      TARGET_DATABASE_URL: pg.url(),
    });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/give exactly one of --key, --latest or --at/);
    const unknownTable = await runCli(
      ['restore', '--bucket', bucket, '--key', backup.key, '--tables', 'nope', '--s3-endpoint', s3.endpoint],
      {
        TARGET_DATABASE_URL: pg.url(),
      },
    );
    expect(unknownTable.code).toBe(2);
    expect(unknownTable.stderr).toMatch(/tables: "nope" is not in backup/);
    const wrongSchema = await runCli(
      ['restore', '--bucket', bucket, '--key', backup.key, '--tables', 'InvoiceLine', '--schemas', 'app', '--s3-endpoint', s3.endpoint],
      {
        TARGET_DATABASE_URL: pg.url(),
      },
    );
    expect(wrongSchema.code).toBe(2);
    expect(wrongSchema.stderr).toMatch(/tables: "InvoiceLine" is not in backup .* in schemas app/);
  });
});
