/**
 * Drift benchmark (what `lifeline diff` of two backups costs): builds an app-shaped database in a throwaway
 * cluster, backs it up with Lifeline into an S3-compatible server on loopback, and, in the same run and alternating,
 * times comparing that backup with itself (diffBackups: each archive's schema from its head, rows from its manifest)
 * against downloading both archives whole, which comparing them without reading only their heads would take at
 * least. Reports medians, their ratio, and how many bytes of each archive the comparison read.
 *
 *   npm run bench:drift                (BENCH_SIZE_MB=1024 BENCH_ROUNDS=5 by default)
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { runBackup } from '../lambdas/core/backup/pipeline.js';
import { diffBackups } from '../lambdas/core/drift/diff.js';
import { fromUrl } from '../lambdas/core/postgres/connection.js';
import { startPostgres } from '../test/support/postgres.js';
import { startS3 } from '../test/support/s3.js';
import { alternate, buildDatabase, median, mib, MiB, ROUNDS, SIZE_MB, verdict, type Run } from './support.js';

/** What the comparison may read of each archive: its head and what the pipes between the stages hold. */
const MAX_READ_BYTES = 4 * MiB;

async function timed(work: () => Promise<string>): Promise<Run> {
  const started = process.hrtime.bigint();
  const stdout = await work();
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, stdout };
}

async function main() {
  const cluster = await startPostgres();
  const s3 = await startS3();
  try {
    const source = await buildDatabase(cluster, SIZE_MB);
    const bucket = await s3.createBucket('bench');
    const { key, bytes } = await runBackup({
      connection: fromUrl(cluster.url(source.name)),
      database: 'bench',
      bucket,
      s3: s3.client,
      trigger: 'manual',
      tier: 'daily',
      timeZone: 'UTC',
    });
    const download = async () => {
      const object = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      let read = 0;
      for await (const chunk of object.Body as Readable) read += (chunk as Buffer).length;
      return read;
    };
    let bytesRead: number[] = [];
    const contenders: Record<string, () => Promise<Run>> = {
      'diff of the backup with itself': () =>
        timed(async () => {
          const report = await diffBackups({ s3: s3.client, bucket }, key, key);
          bytesRead = [report.from, report.to].map((side) => (side.kind === 'backup' ? side.bytesRead : 0));
          return JSON.stringify(report);
        }),
      'download both archives whole': () => timed(async () => String((await download()) + (await download()))),
    };
    const names = Object.keys(contenders);
    const runs = await alternate(contenders, () => contenders[names[0]!]!());

    const wall = Object.fromEntries(names.map((n) => [n, median(runs[n]!.map((r) => r.seconds))])) as Record<string, number>;
    const mostRead = Math.max(...bytesRead);
    console.log(`\ndatabase ${mib(source.bytes)} (pg_database_size), archive ${mib(bytes)}, ${ROUNDS} alternating rounds, medians:`);
    for (const name of names)
      console.log(`  ${name.padEnd(32)} ${wall[name]!.toFixed(2)} s   (${runs[name]!.map((r) => r.seconds.toFixed(2)).join(', ')})`);
    console.log(`diff / download  ${(wall[names[0]!]! / wall[names[1]!]!).toFixed(3)}x`);
    console.log(
      `read of each ${mib(bytes)} archive: ${(mostRead / MiB).toFixed(2)} MiB at most   target <= ${mib(MAX_READ_BYTES)}  ${verdict(mostRead <= MAX_READ_BYTES)}`,
    );
  } finally {
    await s3.stop();
    await cluster.stop();
  }
}

await main();
