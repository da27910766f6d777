/**
 * Backup benchmark: builds a ~1 GiB database in a throwaway cluster and, in the same run and alternating,
 * times `lifeline backup` (to an S3-compatible server on loopback) against `pg_dump -Fc > /dev/null` and
 * `pg_dump -Fc -Z0 > /dev/null`. Reports medians as ratios, the archive size against pg_dump -Fc's, and the
 * peak RSS of the backup process at two database sizes (full and half).
 *
 *   npm run bench                      (BENCH_SIZE_MB=1024 BENCH_ROUNDS=5 by default)
 */
import { spawn } from 'node:child_process';
import { openSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pgBinary } from '../lambdas/core/child-process.js';
import { fromUrl, libpqEnv } from '../lambdas/core/connection.js';
import { startPostgres, type PostgresCluster } from '../test/support/postgres.js';
import { startS3 } from '../test/support/s3.js';

const SIZE_MB = Number(process.env.BENCH_SIZE_MB ?? 1024);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const MiB = 1024 * 1024;
const CLI = join(import.meta.dirname, '..', 'bin', 'lifeline.js');

/** App-shaped rows: repeated vocabularies, JSON documents, timestamps and some random tokens. */
const SCHEMA = `
  CREATE TABLE customers (id bigint PRIMARY KEY, email text, full_name text, country text, plan text,
                          created_at timestamptz, bio text);
  CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, status text, total_cents int, currency text,
                       items jsonb, created_at timestamptz, note text);
  CREATE TABLE events (id bigint, occurred_at timestamptz, actor_id bigint, kind text, payload jsonb);`;

const batch = (from: number, to: number) => `
  INSERT INTO customers SELECT g, 'user' || g || '@example.com',
    (ARRAY['Ana','Bo','Chen','Dmitri','Eva','Farah','Gus'])[1 + g % 7] || ' ' || (ARRAY['Smith','Ng','Garcia','Kowalski','Okafor'])[1 + g % 5],
    (ARRAY['US','DE','IN','BR','JP','NG','FR'])[1 + g % 7], (ARRAY['free','pro','team'])[1 + g % 3],
    timestamptz '2024-01-01' + g * interval '17 seconds', repeat('likes hiking and databases; ', g % 4) || md5(g::text)
  FROM generate_series(${from}, ${to}) g;
  INSERT INTO orders SELECT g, 1 + (g::bigint * 7919) % ${to}, (ARRAY['paid','shipped','refunded','pending'])[1 + g % 4],
    (random() * 100000)::int, 'EUR',
    jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (g % 5000), 'qty', 1 + g % 4, 'price_cents', (g * 37) % 10000),
                      jsonb_build_object('sku', 'SKU-' || (g % 777), 'qty', 1, 'gift', g % 9 = 0)),
    timestamptz '2024-01-01' + g * interval '11 seconds', CASE WHEN g % 3 = 0 THEN 'leave at door ' || substr(md5(random()::text), 1, 12) END
  FROM generate_series(${from}, ${to}) g;
  INSERT INTO events SELECT g, timestamptz '2024-01-01' + g * interval '3 seconds', 1 + g % ${to},
    (ARRAY['page_view','click','login','checkout','search'])[1 + g % 5],
    jsonb_build_object('path', '/api/v1/orders/' || (g % 100000), 'ip', '10.' || (g % 256) || '.' || (g * 3 % 256) || '.7',
                       'user_agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/' || (100 + g % 30),
                       'latency_ms', round((random() * 500)::numeric, 2), 'trace', substr(md5(random()::text), 1, 16))
  FROM generate_series(${from} * 2, ${to} * 2 + 1) g;`;

async function buildDatabase(cluster: PostgresCluster, megabytes: number): Promise<{ name: string; bytes: number }> {
  const name = await cluster.createDatabase(`bench_${megabytes}mb`);
  await cluster.query(name, SCHEMA);
  const step = 50_000;
  let bytes = 0;
  for (let from = 1; bytes < megabytes * MiB; from += step) {
    await cluster.query(name, batch(from, from + step - 1));
    const [size] = await cluster.query<{ bytes: string }>(name, 'SELECT pg_database_size(current_database()) AS bytes');
    bytes = Number(size!.bytes);
    process.stderr.write(`\rbuilding ${name}: ${(bytes / MiB).toFixed(0)} MiB`);
  }
  await cluster.query(name, 'VACUUM ANALYZE');
  process.stderr.write('\n');
  return { name, bytes };
}

/** VmHWM (peak resident set) of a process, in bytes; 0 once it is gone. */
function peakRss(pid: number): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

interface Run {
  seconds: number;
  stdout: string;
  /** Peak RSS of the process itself, and of it plus its children (sum of each one's peak). */
  rss: number;
  rssWithChildren: number;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, toDevNull: boolean): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { env, stdio: ['ignore', toDevNull ? openSync('/dev/null', 'w') : 'pipe', 'pipe'] });
    const peaks = new Map<number, number>();
    const sample = () => {
      for (const pid of [child.pid!, ...childPids(child.pid!)]) peaks.set(pid, Math.max(peaks.get(pid) ?? 0, peakRss(pid)));
    };
    const poll = setInterval(sample, 50);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk) => (stdout += chunk));
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    child.on('exit', sample);
    child.on('close', (code) => {
      clearInterval(poll);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) return reject(new Error(`${command} exited with ${code}: ${stderr.slice(-2000)}`));
      const rss = peaks.get(child.pid!) ?? 0;
      resolve({ seconds, stdout, rss, rssWithChildren: [...peaks.values()].reduce((a, b) => a + b, 0) });
    });
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;
const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');

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
    const lifeline = (database: string) =>
      run(
        process.execPath,
        [CLI, 'backup', '--json', '--database', 'bench', '--tier', 'daily', '--bucket', bucket, '--s3-endpoint', s3.endpoint],
        env(database),
        false,
      );
    const pgEnv = libpqEnv(fromUrl(cluster.url(large.name)));
    const pgDump = (...flags: string[]) => run(pgBinary('pg_dump'), ['--format=custom', ...flags], pgEnv, true);

    const contenders: Record<string, () => Promise<Run>> = {
      'lifeline backup': () => lifeline(large.name),
      'pg_dump -Fc > /dev/null': () => pgDump(),
      'pg_dump -Fc -Z0 > /dev/null': () => pgDump('--compress=0'),
    };
    const names = Object.keys(contenders);
    const runs: Record<string, Run[]> = Object.fromEntries(names.map((n) => [n, []]));
    await pgDump(); // warm the cache so that the first contender is not penalised
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < names.length; i++) {
        const name = names[(round + i) % names.length]!;
        const result = await contenders[name]!();
        runs[name]!.push(result);
        process.stderr.write(`round ${round + 1}: ${name} ${result.seconds.toFixed(2)} s\n`);
      }
    }
    const fcFile = join(staging, 'fc.dump');
    await run(pgBinary('pg_dump'), ['--format=custom', `--file=${fcFile}`], pgEnv, true);
    const fcBytes = statSync(fcFile).size;
    const ours = runs['lifeline backup']!;
    const archiveBytes = (JSON.parse(ours[0]!.stdout) as { bytes: number }).bytes;
    const smallRun = await lifeline(small.name);

    const wall = Object.fromEntries(names.map((n) => [n, median(runs[n]!.map((r) => r.seconds))])) as Record<string, number>;
    const vsFc = wall['lifeline backup']! / wall['pg_dump -Fc > /dev/null']!;
    const vsZ0 = wall['lifeline backup']! / wall['pg_dump -Fc -Z0 > /dev/null']!;
    const sizeRatio = archiveBytes / fcBytes;
    const peak = Math.max(...ours.map((r) => r.rss));
    const peakAll = Math.max(...ours.map((r) => r.rssWithChildren));

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
