/**
 * Backup benchmark: builds a ~1 GiB database in a throwaway cluster and, in the same run and alternating,
 * times `lifeline backup` (to an S3-compatible server on loopback) against `pg_dump -Fc > /dev/null` and
 * `pg_dump -Fc -Z0 > /dev/null`. Reports medians as ratios, the archive size against pg_dump -Fc's, and the
 * peak RSS of the backup process at two database sizes (full and half).
 *
 *   npm run bench                      (BENCH_SIZE_MB=1024 BENCH_ROUNDS=5 by default)
 */
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pgBinary } from '../lambdas/core/child-process.js';
import { fromUrl, libpqEnv } from '../lambdas/core/postgres/connection.js';
import { startPostgres } from '../test/support/postgres.js';
import { startS3 } from '../test/support/s3.js';
import { alternate, buildDatabase, CLI, median, MiB, mib, ROUNDS, run, runSamplingRss, SIZE_MB, verdict, type Run } from './support.js';

async function main() {
  const cluster = await startPostgres();
  const s3 = await startS3();
  const staging = await mkdtemp(join(tmpdir(), 'lifeline-bench-'));
  try {
    // Half size: large enough to fill the upload pipeline, so a memory figure that grows with size would show.
    const small = await buildDatabase(cluster, Math.max(64, Math.round(SIZE_MB / 2)));
    const large = await buildDatabase(cluster, SIZE_MB);
    const bucket = await s3.createBucket('bench');
    const env = (database: string): NodeJS.ProcessEnv => ({ ...process.env, DATABASE_URL: cluster.url(database) });
    const backup = [CLI, 'backup', '--json', '--database', 'bench', '--tier', 'daily', '--bucket', bucket, '--s3-endpoint', s3.endpoint];
    const lifeline = (database: string) => run(process.execPath, backup, env(database), false);
    const pgEnv = libpqEnv(fromUrl(cluster.url(large.name)));
    const pgDump = (...flags: string[]) => run(pgBinary('pg_dump'), ['--format=custom', ...flags], pgEnv, true);

    const contenders: Record<string, () => Promise<Run>> = {
      'lifeline backup': () => lifeline(large.name),
      'pg_dump -Fc > /dev/null': () => pgDump(),
      'pg_dump -Fc -Z0 > /dev/null': () => pgDump('--compress=0'),
    };
    const names = Object.keys(contenders);
    const runs = await alternate(contenders, () => pgDump());
    const fcFile = join(staging, 'fc.dump');
    await run(pgBinary('pg_dump'), ['--format=custom', `--file=${fcFile}`], pgEnv, true);
    const fcBytes = statSync(fcFile).size;
    const ours = runs['lifeline backup']!;
    const archiveBytes = (JSON.parse(ours[0]!.stdout) as { bytes: number }).bytes;
    // Memory from runs of their own, at both sizes: sampling it would slow the timed runs.
    const largeRun = await runSamplingRss(process.execPath, backup, env(large.name), false);
    const smallRun = await runSamplingRss(process.execPath, backup, env(small.name), false);

    const wall = Object.fromEntries(names.map((n) => [n, median(runs[n]!.map((r) => r.seconds))])) as Record<string, number>;
    const vsFc = wall['lifeline backup']! / wall['pg_dump -Fc > /dev/null']!;
    const vsZ0 = wall['lifeline backup']! / wall['pg_dump -Fc -Z0 > /dev/null']!;
    const sizeRatio = archiveBytes / fcBytes;
    const peak = largeRun.rss;
    const peakAll = largeRun.rssWithChildren;

    console.log(`\ndatabase ${mib(large.bytes)} (pg_database_size), ${ROUNDS} alternating rounds, medians:`);
    for (const name of names)
      console.log(`  ${name.padEnd(28)} ${wall[name]!.toFixed(2)} s   (${runs[name]!.map((r) => r.seconds.toFixed(2)).join(', ')})`);
    console.log(`backup wall / pg_dump -Fc      ${vsFc.toFixed(2)}x   target <= 0.60x  ${verdict(vsFc <= 0.6)}`);
    console.log(`backup wall / pg_dump -Fc -Z0  ${vsZ0.toFixed(2)}x   target <= 1.35x  ${verdict(vsZ0 <= 1.35)}`);
    console.log(
      `archive ${mib(archiveBytes)} / pg_dump -Fc ${mib(fcBytes)} = ${sizeRatio.toFixed(2)}x   target <= 1.00x  ${verdict(sizeRatio <= 1)}`,
    );
    // Flat: doubling the database adds no more than 15% (noise, and a pipeline not quite full at half size).
    const flat = peak <= smallRun.rss * 1.15;
    console.log(
      `peak RSS of the backup process ${mib(peak)} at ${mib(large.bytes)}, ${mib(smallRun.rss)} at ${mib(small.bytes)}   target <= 256 MiB  ${verdict(peak <= 256 * MiB)}, flat  ${verdict(flat)}`,
    );
    console.log(`peak RSS with pg_dump and zstd ${mib(peakAll)} (sum of each process's peak)`);
  } finally {
    await rm(staging, { recursive: true, force: true });
    await s3.stop();
    await cluster.stop();
  }
}

await main();
