import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alarmBackupRequest } from '../../../../lambdas/core/alarms/starter.js';
import { runBackup } from '../../../../lambdas/core/backup/pipeline.js';
import { BackupRequest } from '../../../../lambdas/core/backup/request.js';
import { fromUrl } from '../../../../lambdas/core/postgres/connection.js';
import { readManifest } from '../../../../lambdas/core/vault/backups.js';
import { BackupManifest } from '../../../../lambdas/core/vault/manifest.js';
import { parseInput } from '../../../../lambdas/core/validation.js';
import { sharedPostgres, sharedS3 } from '../../../support/shared.js';

/** A backup an alarm asked for, through the real pipeline into an S3-compatible vault: its manifest says which alarm and when. */

const pg = sharedPostgres();
const s3 = sharedS3();
let source: string;
let bucket: string;

beforeAll(async () => {
  source = await pg.createDatabase('alarm_backup');
  await pg.query(source, 'CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 25)');
  bucket = await s3.createBucket('alarm-backup');
});
afterAll(() => pg.query('postgres', `DROP DATABASE IF EXISTS "${source}" WITH (FORCE)`));

/** As the backup function runs the starter's request: the request's fields, then the deployment's target. */
const backUpFor = (event: unknown, at: string) =>
  runBackup({
    ...parseInput(BackupRequest, event, 'backup request'),
    connection: fromUrl(pg.url(source)),
    database: 'shop',
    bucket,
    s3: s3.client,
    timeZone: 'UTC',
    now: () => new Date(at),
  });

describe('a backup started by an alarm', () => {
  it("records trigger alarm, the alarm's name and its transition in the manifest; other backups record none", async () => {
    const request = alarmBackupRequest({ alarmName: 'shop orders: DELETE spike', changedAt: new Date('2026-11-23T10:50:12.345Z') });
    // The request crosses Lambda's asynchronous invocation as JSON.
    const alarmed = await backUpFor(JSON.parse(JSON.stringify(request)), '2026-11-23T10:51:00.000Z');
    const manual = await backUpFor({ trigger: 'manual' }, '2026-11-23T11:00:00.000Z');

    const manifest = await readManifest(s3.client, bucket, alarmed.key);
    expect(manifest).toMatchObject({
      trigger: 'alarm',
      alarm: { name: 'shop orders: DELETE spike', changedAt: '2026-11-23T10:50:12.345Z' },
    });
    expect(manifest.tables).toMatchObject([{ name: 'orders', rows: 25 }]);
    expect(await readManifest(s3.client, bucket, manual.key)).not.toHaveProperty('alarm');
  });

  it('reads manifests written before alarms were recorded', () => {
    const older = {
      manifestVersion: 1,
      database: 'shop',
      tier: 'daily',
      key: 'daily/shop/2026/11/23/shop-20261123T020000.000Z.dump',
      trigger: 'alarm',
      startedAt: '2026-11-23T02:00:00.000Z',
      finishedAt: '2026-11-23T02:03:10.000Z',
      archive: { format: 'pg_dump-custom', compression: 'zstd', compressionLevel: 2, bytes: 1234, sha256: 'a'.repeat(64) },
      source: { host: 'db.internal', port: 5432, databaseName: 'shop', serverVersion: '16.4', pgDumpVersion: 'pg_dump (PostgreSQL) 16.4' },
      tables: [],
      latestMigration: null,
    };
    expect(BackupManifest.parse(older)).toEqual(older);
  });

  it('is asked for only with trigger alarm, and the request names its fields when it is not', () => {
    const alarm = { name: 'shop-replication-lag', changedAt: '2026-11-23T10:50:12.345Z' };
    expect(() => parseInput(BackupRequest, { trigger: 'manual', alarm }, 'backup request')).toThrow(
      expect.objectContaining({ name: 'InvalidInput', message: 'invalid backup request: alarm: only with "trigger": "alarm"' }),
    );
    expect(() => parseInput(BackupRequest, { trigger: 'alarm', alarm: { name: 'x' } }, 'backup request')).toThrow(/alarm\.changedAt/);
    expect(() => parseInput(BackupRequest, { trigger: 'alarm', database: 'other' }, 'backup request')).toThrow(
      /an event holds only "trigger", "tier" and "alarm"/,
    );
  });
});
