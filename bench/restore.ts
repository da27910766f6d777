/**
 * Restore benchmark (the RTO of a restore): builds an app-shaped database of each size in a throwaway cluster, backs
 * it up with Lifeline into an S3-compatible server on loopback, and, in the same run and alternating which goes
 * first, times `lifeline restore` of that backup (download, checksum, decompression, rows loaded as they arrive,
 * pg_restore -j N of the rest, row-count validation) against `pg_restore -j N` of a `pg_dump -Fc` file of the same
 * data already on local disk. The CLI runs from the image's bundle, built with the Dockerfile's own command, with the
 * image's NODE_OPTIONS, as the restore runner does in AWS (which leaves the row counts to the workflow's next step; the
 * CLI counts them here).
 *
 * Fair by construction: each restore goes into a new database that is then dropped and CHECKPOINTed before the next
 * starts, so neither contender pays for the other's autovacuum and checkpoint; the rounds alternate which goes
 * first, and the medians are reported for either order as well as overall. Also reported: the time to the first
 * row (the first COPY under way in the target), the most the restore staged on disk, and, in one extra run that is
 * not timed (sampling /proc slows what it samples), the restore's peak RSS.
 *
 * Placements (BENCH_PLACEMENTS): `shared`, the server and the clients on every core, so that a client's own work
 * (Lifeline's download, checksum, decompression and framing of the rows; pg_restore's decompression) takes CPU from
 * the server's; `separate`, the server on half the cores and the clients (and the S3-compatible server) on the
 * other half (taskset), as in AWS, where the database and the runner are separate machines.
 *
 *   npm run bench:restore              (BENCH_SIZES_MB=1024 BENCH_ROUNDS=5 BENCH_JOBS=<cores> BENCH_PLACEMENTS=shared
 *                                       by default; BENCH_SIZES_MB=1024,4096 BENCH_PLACEMENTS=shared,separate for
 *                                       issue 24's figures)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pgBinary } from '../lambdas/core/child-process.js';
import { fromUrl, libpqEnv } from '../lambdas/core/postgres/connection.js';
import { serverBinDir, startPostgres, type PostgresCluster } from '../test/support/postgres.js';
import { buildBundle, imageEnvironment } from '../test/support/dockerfile.js';
import { startS3 } from '../test/support/s3.js';
import { alternate, buildDatabase, median, mib, ROUNDS, run, runSamplingRss, verdict, type Run } from './support.js';

const JOBS = Number(process.env.BENCH_JOBS ?? availableParallelism());
const SIZES_MB = (process.env.BENCH_SIZES_MB ?? process.env.BENCH_SIZE_MB ?? '1024').split(',').map(Number);
const PLACEMENTS = (process.env.BENCH_PLACEMENTS ?? 'shared').split(',') as Placement[];
/** The runner image's NODE_OPTIONS, which the CLI runs with. */
const IMAGE_NODE_OPTIONS = (await imageEnvironment()).NODE_OPTIONS;
const TARGET_RATIO = 1.1;
const MAX_RSS = 512 * 1024 * 1024;
const POLL_MS = 100;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;

/** A timed restore, with when its first row started loading and the most its staging directory held. */
interface RestoreRun extends Run {
  firstRow: number;
  stagedBytes: number;
}

type Placement = 'shared' | 'separate';

/** The cores the server runs on and the cores the clients run on, as taskset masks. */
function coreMasks(placement: Placement): { server: string; clients: string } {
  // The machine's cores, not this process's: a previous placement pinned it to some of them.
  const cores = cpus().length;
  const all = (2 ** cores - 1).toString(16);
  if (placement === 'shared') return { server: all, clients: all };
  if (cores < 2) throw new Error('BENCH_PLACEMENTS=separate needs two cores or more');
  const serverCores = Math.ceil(cores / 2);
  return { server: (2 ** serverCores - 1).toString(16), clients: (2 ** cores - 2 ** serverCores).toString(16) };
}

/**
 * Pins the server (its postmaster, whose new backends inherit the cores, and every process it started) and this
 * process (the S3-compatible server, and the restores it starts) to their cores.
 */
async function place(cluster: PostgresCluster, placement: Placement): Promise<void> {
  const masks = coreMasks(placement);
  // The checkpointer lives as long as the server; its parent is the postmaster.
  const [checkpointer] = await cluster.query<{ pid: number }>(
    'postgres',
    "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'",
  );
  const postmaster = Number(readFileSync(`/proc/${checkpointer!.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
  const children = readFileSync(`/proc/${postmaster}/task/${postmaster}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  for (const pid of [String(postmaster), ...children]) await run('taskset', ['-a', '-p', masks.server, pid], process.env, true);
  await run('taskset', ['-a', '-p', masks.clients, String(process.pid)], process.env, true);
}

/** Bytes under `dir` (the staging directory holds a few files at most). */
function bytesUnder(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    try {
      total += statSync(join(entry.parentPath, entry.name)).size;
    } catch {
      // removed meanwhile
    }
  }
  return total;
}

async function benchSize(
  cluster: PostgresCluster,
  s3: Awaited<ReturnType<typeof startS3>>,
  runner: string,
  staging: string,
  megabytes: number,
) {
  const source = await buildDatabase(cluster, megabytes);
  const bucket = await s3.createBucket(`bench-${megabytes}`);
  const backup = await run(
    process.execPath,
    [runner, 'backup', '--json', '--database', 'bench', '--tier', 'daily', '--bucket', bucket, '--s3-endpoint', s3.endpoint],
    { ...process.env, DATABASE_URL: cluster.url(source.name) },
    false,
  );
  const { key, bytes } = JSON.parse(backup.stdout) as { key: string; bytes: number };
  const dumpFile = join(staging, `fc-${megabytes}.dump`);
  await run(pgBinary('pg_dump'), ['--format=custom', `--file=${dumpFile}`], libpqEnv(fromUrl(cluster.url(source.name))), true);
  await cluster.query(source.name, 'CHECKPOINT');
  for (const placement of PLACEMENTS) {
    await place(cluster, placement);
    await compare(cluster, runner, staging, {
      placement,
      databaseBytes: source.bytes,
      endpoint: s3.endpoint,
      bucket,
      key,
      bytes,
      dumpFile,
    });
  }
  await place(cluster, 'shared');
  await cluster.query('postgres', `DROP DATABASE "${source.name}"`);
}

interface Backup {
  placement: Placement;
  /** The source database's size. */
  databaseBytes: number;
  /** The S3-compatible server's. */
  endpoint: string;
  bucket: string;
  key: string;
  /** The archive's. */
  bytes: number;
  /** pg_dump -Fc of the same database. */
  dumpFile: string;
}

/** Lifeline's restore of `backup` against pg_restore of its pg_dump -Fc file, alternating; prints the figures. */
async function compare(cluster: PostgresCluster, runner: string, staging: string, backup: Backup) {
  const { placement, bucket, key, bytes, dumpFile } = backup;

  /**
   * Each restore goes into a database of its own, dropped and checkpointed afterwards: the cluster is settled
   * (same size, its dirty pages written) before the next. Polls the target for the first COPY and the staging
   * directory for its size while the restore runs.
   */
  const dumpsBytes = bytesUnder(staging);
  const intoNewDatabase = async <R extends Run>(restore: (database: string) => Promise<R>): Promise<R & RestoreRun> => {
    const target = await cluster.createDatabase('bench_target');
    const started = process.hrtime.bigint();
    let firstRow = Number.NaN;
    let stagedBytes = 0;
    let polling = false;
    const poll = setInterval(() => {
      stagedBytes = Math.max(stagedBytes, bytesUnder(staging) - dumpsBytes);
      if (!Number.isNaN(firstRow) || polling) return;
      polling = true;
      cluster
        .query('postgres', "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'COPY %'", [target])
        .then((rows) => {
          if (rows.length > 0 && Number.isNaN(firstRow)) firstRow = Number(process.hrtime.bigint() - started) / 1e9;
        })
        .catch(() => undefined)
        .finally(() => (polling = false));
    }, POLL_MS);
    try {
      const result = await restore(target);
      return { ...result, firstRow, stagedBytes };
    } finally {
      clearInterval(poll);
      await cluster.query('postgres', `DROP DATABASE IF EXISTS "${target}"`);
      await cluster.query('postgres', 'CHECKPOINT');
    }
  };
  const lifelineArgs = (target: string) => ({
    args: [
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
      backup.endpoint,
    ],
    env: { ...process.env, NODE_OPTIONS: IMAGE_NODE_OPTIONS, TARGET_DATABASE_URL: cluster.url(target) },
  });
  const lifeline = 'lifeline restore';
  const baseline = `pg_restore -j ${JOBS} local -Fc file`;
  const results: Record<string, RestoreRun[]> = { [lifeline]: [], [baseline]: [] };
  const contenders: Record<string, () => Promise<Run>> = {
    [lifeline]: async () => {
      const result = await intoNewDatabase((target) => {
        const { args, env } = lifelineArgs(target);
        return run(process.execPath, args, env, false);
      });
      results[lifeline]!.push(result);
      return result;
    },
    [baseline]: async () => {
      const result = await intoNewDatabase((target) =>
        run(
          pgBinary('pg_restore'),
          [`--jobs=${JOBS}`, '--no-owner', '--exit-on-error', `--dbname=${target}`, dumpFile],
          libpqEnv(fromUrl(cluster.url(target))),
          true,
        ),
      );
      results[baseline]!.push(result);
      return result;
    },
  };
  const names = [lifeline, baseline];
  // The warm-up reads the dump file and the archive once each, so that neither contender meets a cold cache.
  await alternate(contenders, async () => {
    await contenders[baseline]!();
    await contenders[lifeline]!();
    results[lifeline]!.length = 0;
    results[baseline]!.length = 0;
  });
  const sampled = await intoNewDatabase((target) => {
    const { args, env } = lifelineArgs(target);
    return runSamplingRss(process.execPath, args, env, false);
  });

  const seconds = (list: RestoreRun[]) => median(list.map((r) => r.seconds));
  // Round r runs names[r % 2] first (bench/support.ts alternate).
  const inOrder = (name: string, first: boolean) => results[name]!.filter((_, round) => (names[round % names.length] === name) === first);
  console.log(
    `\ndatabase ${mib(backup.databaseBytes)} (pg_database_size), archive ${mib(bytes)}, ${JOBS} jobs, cores ${placement}, ${ROUNDS} alternating rounds, each into a new database dropped and checkpointed after; medians:`,
  );
  for (const name of names) {
    const list = results[name]!;
    console.log(
      `  ${name.padEnd(30)} ${seconds(list).toFixed(2)} s   (${list.map((r) => r.seconds.toFixed(2)).join(', ')})   first row ${median(list.map((r) => r.firstRow)).toFixed(2)} s   staged ${kib(median(list.map((r) => r.stagedBytes)))}`,
    );
  }
  for (const first of [true, false]) {
    const own = inOrder(lifeline, first);
    const other = inOrder(baseline, !first);
    if (own.length === 0 || other.length === 0) continue;
    console.log(
      `  lifeline ${first ? 'first ' : 'second'}: ${seconds(own).toFixed(2)} s against ${seconds(other).toFixed(2)} s   ${(seconds(own) / seconds(other)).toFixed(2)}x   (${own.length} rounds)`,
    );
  }
  const ratio = seconds(results[lifeline]!) / seconds(results[baseline]!);
  console.log(
    `restore wall / pg_restore -j ${JOBS}  ${ratio.toFixed(2)}x   target <= ${TARGET_RATIO.toFixed(2)}x  ${verdict(ratio <= TARGET_RATIO)}`,
  );
  console.log(
    `restore peak RSS ${mib(sampled.rss)} (with its children ${mib(sampled.rssWithChildren)})   target <= ${mib(MAX_RSS)}  ${verdict(sampled.rss <= MAX_RSS)}`,
  );
  console.log(
    `restore peak staged ${kib(Math.max(...results[lifeline]!.map((r) => r.stagedBytes)))} (archive ${mib(bytes)}, pg_dump -Fc file ${mib(dumpsBytes)})`,
  );
}

async function main() {
  // Both contenders run PostgreSQL's client binaries themselves, as the runner image does (PG_BIN_DIR), not Debian's
  // /usr/bin/pg_restore, a Perl wrapper that takes 0.1-0.2 s to start the binary. (With the server of another major,
  // LIFELINE_PG_SERVER_BIN, set PG_BIN_DIR to the client's.)
  process.env.PG_BIN_DIR ??= serverBinDir();
  const cluster = await startPostgres();
  const s3 = await startS3();
  const staging = await mkdtemp(join(tmpdir(), 'lifeline-bench-'));
  // Beside the staging directory, whose size is what the restore staged.
  const runner = join(tmpdir(), `lifeline-bench-${process.pid}.mjs`);
  try {
    await buildBundle('bin/lifeline.ts', runner);
    for (const megabytes of SIZES_MB) {
      await benchSize(cluster, s3, runner, staging, megabytes);
      await rm(join(staging, `fc-${megabytes}.dump`), { force: true });
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
    await Promise.all([rm(runner, { force: true }), rm(`${runner}.map`, { force: true })]);
    await s3.stop();
    await cluster.stop();
  }
}

await main();
