import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createRichDatabase, databaseDigest, type DatabaseDigest } from './fixture.js';
import { connectPostgres, startPostgres } from './postgres.js';
import { sharedPostgres, sharedS3 } from './shared.js';

describe('PostgreSQL clusters', () => {
  it('start side by side, check passwords and stop answering when killed', async () => {
    const clusters = await Promise.all([startPostgres(), startPostgres()]);
    try {
      const [first, second] = clusters;
      expect(first.port).not.toBe(second.port);
      for (const cluster of clusters) {
        expect(await cluster.query('postgres', 'SELECT 42 AS answer')).toEqual([{ answer: 42 }]);
      }

      const impostor = connectPostgres({ ...first, password: 'not-the-password' });
      await expect(impostor.query('postgres', 'SELECT 1')).rejects.toThrow(/password authentication failed/);

      await first.kill();
      await expect(first.query('postgres', 'SELECT 1')).rejects.toThrow();
      expect(await second.query('postgres', 'SELECT 1 AS alive')).toEqual([{ alive: 1 }]);
    } finally {
      await Promise.all(clusters.map((cluster) => cluster.stop()));
    }
  });
});

describe('S3 server', () => {
  const s3 = sharedS3();

  it('round-trips an object', async () => {
    const bucket = await s3.createBucket('harness');
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'daily/app/backup.dump', Body: 'dump bytes' }));
    const object = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'daily/app/backup.dump' }));
    expect(await object.Body?.transformToString()).toBe('dump bytes');
    expect(await s3.listKeys(bucket)).toEqual(['daily/app/backup.dump']);
  });
});

describe('database digest', () => {
  const postgres = sharedPostgres();
  const changedParts = (a: DatabaseDigest, b: DatabaseDigest) => [
    ...Object.keys(a.tables).filter((table) => a.tables[table]?.md5 !== b.tables[table]?.md5),
    ...Object.keys(a.sequences).filter((name) => a.sequences[name]?.lastValue !== b.sequences[name]?.lastValue),
  ];

  it('is stable for a rich database and notices a changed row or sequence', async () => {
    const database = await postgres.createDatabase('harness_rich');
    await createRichDatabase(postgres, database);
    const original = await databaseDigest(postgres.url(database));
    expect(await databaseDigest(postgres.url(database))).toEqual(original);
    expect(Object.values(original.tables).reduce((sum, table) => sum + table.rows, 0)).toBeGreaterThan(2000);

    await postgres.query(database, `UPDATE app.documents SET filename = 'renamed.txt' WHERE id = 1`);
    const rowChanged = await databaseDigest(postgres.url(database));
    expect(rowChanged).not.toEqual(original);
    expect(changedParts(original, rowChanged)).toEqual(['app.documents']);

    await postgres.query(database, `SELECT setval('app.reserved_seq', 78, false)`);
    const sequenceChanged = await databaseDigest(postgres.url(database));
    expect(changedParts(rowChanged, sequenceChanged)).toEqual(['app.reserved_seq']);
  });
});
