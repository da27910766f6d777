/** What the benchmarks share: the ~1 GiB app-shaped database, timed child processes with their peak memory, and the report's figures. */
import { spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PostgresCluster } from '../test/support/postgres.js';

export const SIZE_MB = Number(process.env.BENCH_SIZE_MB ?? 1024);
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
export const MiB = 1024 * 1024;
export const CLI = join(import.meta.dirname, '..', 'bin', 'lifeline.js');

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

export async function buildDatabase(cluster: PostgresCluster, megabytes: number): Promise<{ name: string; bytes: number }> {
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

export interface Run {
  seconds: number;
  stdout: string;
}

export interface SampledRun extends Run {
  /** Peak RSS of the process itself, and of it plus its children (sum of each one's peak). */
  rss: number;
  rssWithChildren: number;
}

/** Runs a command and times it; `onPoll` is called with its pid every 50 ms and once it exits. */
function timed(command: string, args: string[], env: NodeJS.ProcessEnv, toDevNull: boolean, onPoll?: (pid: number) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { env, stdio: ['ignore', toDevNull ? openSync('/dev/null', 'w') : 'pipe', 'pipe'] });
    const poll = onPoll && setInterval(() => onPoll(child.pid!), 50);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk) => (stdout += chunk));
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    child.on('exit', () => onPoll?.(child.pid!));
    child.on('close', (code) => {
      clearInterval(poll);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) return reject(new Error(`${command} exited with ${code}: ${stderr.slice(-2000)}`));
      resolve({ seconds, stdout });
    });
  });
}

/**
 * A timed run. It does not sample memory: reading a process's /proc files every 50 ms slows it, the one with the
 * most children the most (the restore benchmark gave 1.38x sampled and 1.22x not, same code, same day).
 */
export function run(command: string, args: string[], env: NodeJS.ProcessEnv, toDevNull: boolean): Promise<Run> {
  return timed(command, args, env, toDevNull);
}

/** A run whose peak memory is sampled, and the process's children's; not for timing (see `run`). */
export async function runSamplingRss(command: string, args: string[], env: NodeJS.ProcessEnv, toDevNull: boolean): Promise<SampledRun> {
  const peaks = new Map<number, number>();
  let root = 0;
  const result = await timed(command, args, env, toDevNull, (pid) => {
    root = pid;
    for (const each of [pid, ...childPids(pid)]) peaks.set(each, Math.max(peaks.get(each) ?? 0, peakRss(each)));
  });
  return { ...result, rss: peaks.get(root) ?? 0, rssWithChildren: [...peaks.values()].reduce((a, b) => a + b, 0) };
}

/**
 * Runs every contender once a round for ROUNDS rounds, rotating which goes first, after `warmUp` (which warms the
 * caches so that the first contender is not penalised); each contender's runs, in order.
 */
export async function alternate(
  contenders: Record<string, () => Promise<Run>>,
  warmUp: () => Promise<unknown>,
): Promise<Record<string, Run[]>> {
  const names = Object.keys(contenders);
  const runs: Record<string, Run[]> = Object.fromEntries(names.map((n) => [n, []]));
  await warmUp();
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(round + i) % names.length]!;
      const result = await contenders[name]!();
      runs[name]!.push(result);
      process.stderr.write(`round ${round + 1}: ${name} ${result.seconds.toFixed(2)} s\n`);
    }
  }
  return runs;
}

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
export const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;
export const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
