/**
 * Restore benchmark (the RTO of a restore): builds a ~1 GiB database in a throwaway cluster, backs it up with
 * Lifeline into an S3-compatible server on loopback, and, in the same run and alternating, times
 * `lifeline restore` of that backup (download, checksum, decompression, pg_restore -j N, row-count validation)
 * against `pg_restore -j N` of a `pg_dump -Fc` file of the same data already on local disk. The CLI runs from the
 * image's bundle, built with the Dockerfile's own command, as the restore runner does in AWS (which leaves the row
 * counts to the workflow's next step; the CLI counts them here). Each restore goes into a new empty database.
 * Reports medians and their ratio.
 *
 *   npm run bench:restore              (BENCH_SIZE_MB=1024 BENCH_ROUNDS=5 BENCH_JOBS=<cores> by default)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pgBinary } from '../lambdas/core/child-process.js';
import { fromUrl, libpqEnv } from '../lambdas/core/postgres/connection.js';
import { startPostgres } from '../test/support/postgres.js';
import { buildBundle } from '../test/support/dockerfile.js';
import { startS3 } from '../test/support/s3.js';
import { alternate, buildDatabase, CLI, median, mib, ROUNDS, run, SIZE_MB, verdict, type Run } from './support.js';

const JOBS = Number(process.env.BENCH_JOBS ?? availableParallelism());
const TARGET_RATIO = 1.2;

async function main() {
  const cluster = await startPostgres();
  const s3 = await startS3();
  const staging = await mkdtemp(join(tmpdir(), 'lifeline-bench-'));
  try {
    const runner = join(staging, 'lifeline.mjs');
    await buildBundle('bin/lifeline.ts', runner);
    const source = await buildDatabase(cluster, SIZE_MB);
    const bucket = await s3.createBucket('bench');
    const backup = await run(
      process.execPath,
      [CLI, 'backup', '--json', '--database', 'bench', '--tier', 'daily', '--bucket', bucket, '--s3-endpoint', s3.endpoint],
      { ...process.env, DATABASE_URL: cluster.url(source.name) },
      false,
    );
    const { key, bytes } = JSON.parse(backup.stdout) as { key: string; bytes: number };
    const dumpFile = join(staging, 'fc.dump');
    await run(pgBinary('pg_dump'), ['--format=custom', `--file=${dumpFile}`], libpqEnv(fromUrl(cluster.url(source.name))), true);

    /** Each restore goes into a database of its own, dropped afterwards so that the cluster stays the same size. */
    const intoNewDatabase = async (restore: (database: string) => Promise<Run>) => {
      const target = await cluster.createDatabase('bench_target');
      try {
        return await restore(target);
      } finally {
        await cluster.query('postgres', `DROP DATABASE "${target}"`);
      }
    };
    const contenders: Record<string, () => Promise<Run>> = {
      'lifeline restore': () =>
        intoNewDatabase((target) =>
          run(
            process.execPath,
            [
              runner,
              'restore',
              '--json',
              '--bucket',
              bucket,
              '--key',
              key,
              '--jobs',
              String(JOBS),
              '--staging-dir',
              staging,
              '--s3-endpoint',
              s3.endpoint,
            ],
            { ...process.env, TARGET_DATABASE_URL: cluster.url(target) },
            false,
          ),
        ),
      [`pg_restore -j ${JOBS} local -Fc file`]: () =>
        intoNewDatabase((target) =>
          run(
            pgBinary('pg_restore'),
            [`--jobs=${JOBS}`, '--no-owner', '--exit-on-error', `--dbname=${target}`, dumpFile],
            libpqEnv(fromUrl(cluster.url(target))),
            true,
          ),
        ),
    };
    const names = Object.keys(contenders);
    const runs = await alternate(contenders, () => contenders[names[1]!]!());

    const wall = Object.fromEntries(names.map((n) => [n, median(runs[n]!.map((r) => r.seconds))])) as Record<string, number>;
    const ratio = wall[names[0]!]! / wall[names[1]!]!;
    console.log(
      `\ndatabase ${mib(source.bytes)} (pg_database_size), archive ${mib(bytes)}, ${JOBS} jobs, ${ROUNDS} alternating rounds, medians:`,
    );
    for (const name of names)
      console.log(`  ${name.padEnd(32)} ${wall[name]!.toFixed(2)} s   (${runs[name]!.map((r) => r.seconds.toFixed(2)).join(', ')})`);
    console.log(
      `restore wall / pg_restore -j ${JOBS}  ${ratio.toFixed(2)}x   target <= ${TARGET_RATIO.toFixed(2)}x  ${verdict(ratio <= TARGET_RATIO)}`,
    );
  } finally {
    await rm(staging, { recursive: true, force: true });
    await s3.stop();
    await cluster.stop();
  }
}

await main();
