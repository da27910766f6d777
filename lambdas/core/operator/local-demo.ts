import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBackup, type BackupResult } from '../backup/pipeline.js';
import { LifelineError } from '../errors.js';
import { fromUrl } from '../postgres/connection.js';
import { whenThisProcessEnds } from '../process-owner.js';
import type { CallbackAnswer, CallbackRequest } from '../workflows/local.js';
import type { RestoreOutcome } from '../restore/state.js';
import { localWorkloads } from './local-cutover.js';
import { connectPostgres, freePort, serverBinDir, startPostgres, type PostgresCluster } from '../postgres/throwaway-cluster.js';
import { runRestoreLocally } from './local-restore.js';
import { startS3, type S3Server } from './local-s3.js';
import type { LocalRestoreSettings } from './local-settings.js';

/**
 * `lifeline demo`: the whole recovery on this machine, with nothing prepared. A throwaway PostgreSQL and S3 on
 * loopback; a shop database owned by its application's role, and a sample application reading its connection from a
 * local secret file; a scheduled backup, more orders, then an accident (a DELETE without its WHERE); the real
 * restore.asl.json to the backup before the accident, validated and approved, handing over to the real
 * cutover.asl.json, which freezes the shop, swaps the secret file, restarts the application and proves it healthy on
 * the restored database. Everything it started is stopped and removed at the end, on failure and on Ctrl-C alike;
 * however else it ends (a second Ctrl-C, SIGKILL), guards stop and remove it (process-owner.ts whenThisProcessEnds).
 */

/** The sample application beside this module: its .ts under tsx, its .js in dist/. */
const SAMPLE_APPLICATION = fileURLToPath(import.meta.url).replace(/local-demo\.(ts|js)$/, 'sample-application.$1');
const APP_ROLE = 'shop_app';
const RESTORED = 'shop_restored';
const ORDERS_AT_BACKUP = 120;
const ORDERS_AFTER_BACKUP = 30;

export interface DemoSummary {
  /** Seconds of writes the backup did not hold (from its snapshot to the accident), and the orders lost with them. */
  rpo: { seconds: number; lostOrders: number };
  /** Seconds from the start of the restore to the application proved healthy on the restored database. */
  rto: { seconds: number };
  restored: { backupKey: string; database: string; tables: number; rows: number };
  changed: { application: string; from: string; to: string; secretVersionId: string; ordersServed: number };
  /** Where what it started listened: all stopped by the time the summary is returned. */
  ran: { postgres: string; s3: string; application: string };
  text: string;
}

export interface DemoOptions {
  /** A line of progress. */
  log: (line: string) => void;
  /** The restore's approval request, answered as `lifeline approve` would (or asked on the terminal). */
  answer: (request: CallbackRequest) => Promise<CallbackAnswer>;
  onStateEntered?: (state: string) => void;
  /** Ctrl-C: everything started so far is stopped and removed, and the demo rejects with Interrupted. */
  signal?: AbortSignal;
}

/**
 * A step of the demo: its failure says which step failed and what to do. A remedy that needs a log says what the log
 * ends with (a function, read on failure): the log goes with everything else the demo removes.
 */
async function step<T>(title: string, remedy: string | (() => Promise<string>), run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const { name, message } = error instanceof Error ? error : new Error(String(error));
    if (name === 'Interrupted') throw error;
    const what = typeof remedy === 'string' ? remedy : await remedy().catch((e: unknown) => `(its log could not be read: ${String(e)})`);
    throw new LifelineError(
      error instanceof LifelineError ? error.name : 'InvalidConfig',
      `${title} failed: ${message}\nWhat to do: ${what}`,
    );
  }
}

/** Stops what was started, last first; something started once stopping began (a step Ctrl-C caught midway) is stopped at once. */
type Track = (stop: () => Promise<void>) => void;

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const stops: (() => Promise<void>)[] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      for (const stop of stops.reverse()) await stop().catch(() => undefined);
    })());
  const track: Track = (stop) => {
    if (stopping) void stopping.then(stop).catch(() => undefined);
    else stops.push(stop);
  };
  const interrupted = new Promise<never>((_, reject) => {
    const stopNow = () =>
      void stopAll().then(() => reject(new LifelineError('Interrupted', 'the demo was stopped; everything it started was removed')));
    if (options.signal?.aborted) stopNow();
    options.signal?.addEventListener('abort', stopNow, { once: true });
  });
  interrupted.catch(() => undefined);
  try {
    return await Promise.race([demo(options, track), interrupted]);
  } finally {
    await stopAll();
  }
}

async function demo({ log, answer, onStateEntered, signal }: DemoOptions, track: Track): Promise<DemoSummary> {
  const directory = await mkdtemp(join(tmpdir(), 'lifeline-demo-'));
  // It holds the application's password: removed however the demo ends.
  const dismissGuard = whenThisProcessEnds('lifeline-demo-guard', 'rm -rf "$1"', [directory]);
  track(async () => {
    await rm(directory, { recursive: true, force: true });
    await dismissGuard();
  });

  log('1/5 Starting a throwaway PostgreSQL and S3 on loopback');
  const pg: PostgresCluster = await step(
    'Starting PostgreSQL',
    'install the PostgreSQL server package named above (or set LIFELINE_PG_SERVER_BIN), then run npm run demo again',
    async () => {
      // pg_dump and pg_restore of the server's own version.
      process.env.PG_BIN_DIR ??= serverBinDir();
      return startPostgres();
    },
  );
  track(async () => {
    await pg.stop();
  });
  // The S3 server runs in this process, its directory in the demo's: both end with the demo.
  const s3: S3Server = await step('Starting S3 on loopback', 'run npm ci in the repository (s3rver is one of its devDependencies)', () =>
    startS3({ parent: directory }),
  );
  track(() => s3.stop());
  const bucket = await step(
    'Creating the vault bucket',
    'read the S3 error above (s3rver keeps its buckets in the temp directory: is it full?), then run npm run demo again',
    () => s3.createBucket('lifeline-demo-vault'),
  );
  log(`    PostgreSQL on ${pg.host}:${pg.port}, S3 on ${s3.endpoint}, bucket ${bucket}`);

  log('2/5 Creating the shop database and starting its application');
  const password = randomBytes(12).toString('hex');
  const asApp = connectPostgres({ host: pg.host, port: pg.port, user: APP_ROLE, password });
  const appUrl = (database: string) => `postgresql://${APP_ROLE}:${password}@${pg.host}:${pg.port}/${database}`;
  const port = await freePort();
  const healthUrl = `http://127.0.0.1:${port}/health`;
  const settings: LocalRestoreSettings = {
    bucket,
    databases: [{ name: 'shop', url: pg.url('shop') }],
    applications: [
      {
        name: 'shop-api',
        database: 'shop',
        secretFile: 'shop-api.secret.json',
        start: `"${process.execPath}" "${SAMPLE_APPLICATION}" --port ${port}`,
        healthCheck: { url: healthUrl, count: 3, windowSeconds: 30, intervalSeconds: 0.5 },
        freeze: { mode: 'read-only-source' },
      },
    ],
    approvalTimeoutSeconds: 600,
    jobs: 2,
    directory,
  };
  await writeFile(join(settings.directory!, 'lifeline-local.json'), JSON.stringify(settings, null, 2));
  // One set of workloads for the demo and the workflows it runs: whatever starts the application, it ends with the demo.
  const workloads = localWorkloads(settings, { endWithThisProcess: true });
  track(() => workloads.close());
  const postgresLog = async () => `read the PostgreSQL error above; the server's log ends with:\n${await pg.serverLog()}`;
  const applicationLog = async () => `read what shop-api's log ends with:\n${await workloads.logTail('shop-api', 20)}`;
  await step('Creating the shop database', postgresLog, async () => {
    await pg.query('postgres', `CREATE ROLE ${APP_ROLE} LOGIN PASSWORD '${password}'`);
    await pg.query('postgres', `CREATE DATABASE shop OWNER ${APP_ROLE}`);
    // The application's role owns its objects, as its migrations create them; Prisma's migrations table records them.
    await asApp.query(
      'shop',
      `CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL, finished_at timestamptz,
         migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz, started_at timestamptz NOT NULL DEFAULT now(),
         applied_steps_count integer NOT NULL DEFAULT 0);
       INSERT INTO _prisma_migrations VALUES ('${randomBytes(8).toString('hex')}', 'demo', now(), '20261201090000_init', NULL, NULL, now(), 1);
       CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);
       CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, total numeric(10, 2) NOT NULL,
         created_at timestamptz NOT NULL DEFAULT now());
       INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 20) g;
       INSERT INTO orders (customer_id, total) SELECT 1 + g % 20, (g * 7 % 100) + 0.99 FROM generate_series(1, ${ORDERS_AT_BACKUP}) g;`,
    );
    await writeFile(join(directory, 'shop-api.secret.json'), JSON.stringify({ DATABASE_URL: appUrl('shop') }), { mode: 0o600 });
  });
  await step('Starting the sample application', applicationLog, () => workloads.restart('shop-api', signal));
  const answers = await step('Asking shop-api for its health', applicationLog, () => health(healthUrl));
  log(`    shop-api answers on ${healthUrl}: ${JSON.stringify(answers)}`);

  log('3/5 A scheduled backup, more orders, then an accident');
  const backup: BackupResult = await step('The scheduled backup', 'read the error above: pg_dump, the S3 server or the vault', () =>
    runBackup({
      connection: fromUrl(pg.url('shop')),
      database: 'shop',
      bucket,
      s3: s3.client,
      trigger: 'schedule',
      tier: 'auto',
      timeZone: 'UTC',
      signal,
    }),
  );
  log(`    backed up ${backup.key} (${backup.manifest.tier} tier, manifest written last)`);
  await step('Writing more orders', postgresLog, () =>
    asApp.query(
      'shop',
      `INSERT INTO orders (customer_id, total) SELECT 1 + g % 20, 42.00 FROM generate_series(1, ${ORDERS_AFTER_BACKUP}) g`,
    ),
  );
  log(`    ${ORDERS_AFTER_BACKUP} more orders came in`);
  const accidentAt = new Date();
  await step('The accident', postgresLog, () => asApp.query('shop', 'DELETE FROM orders'));
  const afterAccident = await step('Asking shop-api for its health after the accident', applicationLog, () => health(healthUrl));
  log(
    `    accident at ${accidentAt.toISOString()}: DELETE FROM orders, without its WHERE; /health now says ${JSON.stringify(afterAccident)}`,
  );

  log('4/5 The restore workflow (restore.asl.json) to the backup before the accident, handing over to the cutover workflow');
  const restoreStartedAt = Date.now();
  const result = await step(
    'The restore and cutover workflows',
    'read the failed state and its cause above; the application was left on (or rolled back to) the database it used before',
    async () => {
      const run = await runRestoreLocally({
        input: {
          database: 'shop',
          at: new Date(accidentAt.getTime() - 1).toISOString(),
          cutover: 'shop-api',
          target: { database: RESTORED },
        },
        settings,
        s3: s3.client,
        stagingDir: directory,
        answer,
        notify: () => undefined,
        onStateEntered,
        signal,
        workloads,
      });
      if (run.status !== 'SUCCEEDED') throw new LifelineError('RestoreFailed', `${run.status}: ${run.error}: ${run.cause}`);
      return run.output as RestoreOutcome;
    },
  );
  const healthy = await step('Asking shop-api for its health on the restored database', applicationLog, () => health(healthUrl));
  if (healthy.database !== RESTORED) {
    throw new LifelineError(
      'CutoverFailed',
      `shop-api answers from ${healthy.database}, not ${RESTORED}\nWhat to do: report this: the cutover said it succeeded`,
    );
  }

  log('5/5 Summary');
  const handedOver = result.cutover?.output as { secretVersionId?: string; health?: { timing?: { finishedAt?: string } } } | undefined;
  const healthyAt = Date.parse(handedOver?.health?.timing?.finishedAt ?? new Date().toISOString());
  const tables = backup.manifest.tables.length;
  const rows = backup.manifest.tables.reduce((sum, t) => sum + t.rows, 0);
  const summary = {
    rpo: { seconds: seconds(accidentAt.getTime() - Date.parse(backup.manifest.startedAt)), lostOrders: ORDERS_AFTER_BACKUP },
    ran: { postgres: `${pg.host}:${pg.port}`, s3: s3.endpoint, application: healthUrl },
    rto: { seconds: seconds(healthyAt - restoreStartedAt) },
    restored: { backupKey: backup.key, database: RESTORED, tables, rows },
    changed: {
      application: 'shop-api',
      from: 'shop',
      to: RESTORED,
      secretVersionId: handedOver?.secretVersionId ?? '',
      ordersServed: healthy.orders,
    },
  };
  const text = [
    `RPO  ${summary.rpo.seconds} s of writes: the ${ORDERS_AFTER_BACKUP} orders taken between the backup and the accident are lost (the backup holds the ${ORDERS_AT_BACKUP} before them)`,
    `RTO  ${summary.rto.seconds} s from the start of the restore to shop-api proved healthy on ${RESTORED}`,
    `Restored  ${backup.key} into ${RESTORED}: ${tables} tables, ${rows} rows, owned by ${APP_ROLE} and validated as it (row counts, migration ${result.backup.migration?.name ?? 'none'})`,
    `Changed  shop-api's secret file now names ${RESTORED} (version ${summary.changed.secretVersionId}; the previous one kept) and shop-api serves ` +
      `${healthy.orders} orders again; shop is kept as the accident left it, its write freeze lifted`,
  ].join('\n');
  return { ...summary, text };
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;

async function health(url: string): Promise<{ database?: string; orders: number }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return (await response.json()) as { database?: string; orders: number };
}
