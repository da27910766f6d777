import type { S3Client } from '@aws-sdk/client-s3';
import { tmpdir } from 'node:os';
import { z } from 'zod';
import { LifelineError } from '../errors.js';
import { connectClient } from '../postgres/connection.js';
import { quoteIdent } from '../postgres/inventory.js';
import { serverBinDir, serverMajor, startThrowawayCluster, type ThrowawayCluster } from '../postgres/throwaway-cluster.js';
import { runRestore } from '../restore/pipeline.js';
import { checkRestored } from '../restore/validation.js';
import { readManifest } from '../vault/backups.js';
import { DatabaseLabel } from '../vault/keys.js';
import type { BackupManifest } from '../vault/manifest.js';
import { diffBackups } from '../drift/diff.js';
import { describeDrift } from '../drift/report.js';
import { DRILLS_PREFIX, MAX_DRIFT_LINES, previousDrill, type DrillReport, type DrillVerdict } from './report.js';

/** The variable the drill workflow's `ecs:runTask.sync` container override sets to the job, as JSON. */
export const DRILL_JOB_VARIABLE = 'LIFELINE_DRILL_JOB';

export const SmokeCheck = z.strictObject({
  name: z.string().min(1).max(100),
  /** One statement, run read-only as the restored objects' owner; it passes when its first column is true. */
  sql: z.string().min(1).max(2000),
});

/** What a drill restores and checks: the drill workflow's ValidateInput chooses it, the runner (or the CLI) runs it. */
export const DrillJob = z.strictObject({
  database: DatabaseLabel,
  key: z.string().min(1),
  /** The drill's execution ARN, or a local run's name: the report names it. */
  execution: z.string().min(1),
  smokeChecks: z.array(SmokeCheck).max(20),
  /** The restore and its checks stop at this many seconds and the verdict is TIMED_OUT. */
  timeoutSeconds: z.number().int().min(1),
  jobs: z.number().int().min(1).max(64),
});
export type DrillJob = z.infer<typeof DrillJob>;

/** What the drill workflow gives its runner (in LIFELINE_DRILL_JOB): the job, and where the runner stores its report. */
export const DrillRunnerJob = DrillJob.extend({ reportKey: z.string().startsWith(DRILLS_PREFIX) });
export type DrillRunnerJob = z.infer<typeof DrillRunnerJob>;

/** The role the restored objects belong to and the checks run as: an ordinary role, as an application's is. */
export const DRILL_OWNER = 'lifeline_drill_owner';
/** The restored database's name in the throwaway server. */
export const DRILL_DATABASE = 'drill';

const GIB = 1024 ** 3;

export interface DrillDeps {
  s3: S3Client;
  bucket: string;
  /** Where the archive is staged and the throwaway server keeps its data (the runner's volume); default the OS temp directory. */
  stagingDir?: string;
  /** Where the server binaries are looked up (PG_SERVER_BIN_DIR); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** SIGTERM or SIGINT: the drill stops, tears down, and rejects with Interrupted instead of giving a verdict. */
  signal?: AbortSignal;
  now?: () => Date;
}

const round = (value: number) => Math.round(value * 10) / 10;

function failure(error: unknown): string {
  const { name, message } = error instanceof Error ? error : new Error(String(error));
  return `${name}: ${message}`;
}

/**
 * A restore drill: the job's backup restored into a throwaway PostgreSQL of the backup's major (or newer) started
 * here, its objects owned by an ordinary role, validated as that role as a restore is (every table's rows against
 * the manifest, the latest migration, the smoke checks), and the server stopped and removed on every path. Returns
 * the report with its verdict: PASSED, FAILED with the reason (a tampered archive, rows that differ, a failed
 * check...), or TIMED_OUT past `timeoutSeconds`. Rejects only when `signal` stopped it (after tearing down).
 */
export async function runDrill(job: DrillJob, deps: DrillDeps): Promise<DrillReport> {
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const timeout = new AbortController();
  const timer = setTimeout(
    () => timeout.abort(new LifelineError('StepTimedOut', `the drill did not finish within its ${job.timeoutSeconds} s`)),
    job.timeoutSeconds * 1000,
  );
  const signal = deps.signal ? AbortSignal.any([deps.signal, timeout.signal]) : timeout.signal;
  let manifest: BackupManifest | undefined;
  let cluster: ThrowawayCluster | undefined;
  let restoreSeconds: number | null = null;
  let validation: DrillReport['validation'] = null;
  let verdict: DrillVerdict;
  let reason: string;
  // A time-out stops the server, which ends whatever query or pg_restore still runs against it.
  const stopOnAbort = () => void cluster?.stop().catch(() => undefined);
  signal.addEventListener('abort', stopOnAbort, { once: true });
  try {
    manifest = await readManifest(deps.s3, deps.bucket, job.key);
    if (manifest.database !== job.database) {
      throw new LifelineError('InvalidInput', `key: backup ${job.key} is of database "${manifest.database}", not "${job.database}"`);
    }
    const major = serverMajor(manifest.source.serverVersion);
    if (major === undefined) throw new LifelineError('VerificationFailed', `backup ${job.key} records no server version`);
    // Socket only, as nothing but this drill may reach the restored data; in the staging volume, as the runner's root
    // filesystem is read-only.
    cluster = await startThrowawayCluster({
      listen: 'socket',
      parent: deps.stagingDir ?? tmpdir(),
      binDir: serverBinDir({ major, variable: 'PG_SERVER_BIN_DIR', env: deps.env }),
      auth: 'trust',
      locale: 'C',
      errorName: 'RestoreFailed',
    });
    if (signal.aborted) throw signal.reason;
    const admin = await connectClient(cluster.connection('postgres'));
    try {
      await admin.query(`CREATE ROLE ${quoteIdent(DRILL_OWNER)} LOGIN`);
    } finally {
      await admin.end().catch(() => undefined);
    }
    const restored = await runRestore({
      s3: deps.s3,
      bucket: deps.bucket,
      selector: { key: job.key },
      target: cluster.connection(DRILL_DATABASE),
      createTarget: true,
      role: DRILL_OWNER,
      // The GRANTs name the source server's roles, which this server has no reason to have.
      privileges: false,
      jobs: job.jobs,
      // Counted below as the owner, as a restore's ValidateRestore counts them.
      verifyRows: false,
      stagingDir: deps.stagingDir,
      signal,
    });
    restoreSeconds = restored.durationMs / 1000;
    const client = await connectClient(cluster.connection(DRILL_DATABASE, DRILL_OWNER));
    client.on('error', () => undefined); // a time-out stops the server under it
    try {
      const as = cluster.connection(DRILL_DATABASE, DRILL_OWNER);
      const execution = { id: job.execution, startedAt: startedAt.toISOString() };
      const request = { tables: null, schemas: null, smokeChecks: job.smokeChecks, cutover: null, execution };
      const backup = { key: job.key, takenAt: manifest.startedAt };
      // A drill runs no migrations: the backup is checked as it is.
      validation = {
        ...(await checkRestored(client, manifest, request, backup, { database: DRILL_DATABASE }, as, undefined)),
        migrations: null,
      };
    } finally {
      await client.end().catch(() => undefined);
    }
    if (signal.aborted) throw signal.reason;
    verdict = validation.passed ? 'PASSED' : 'FAILED';
    reason = validation.summary;
  } catch (error) {
    if (deps.signal?.aborted) {
      await cluster?.stop().catch(() => undefined);
      throw new LifelineError('Interrupted', 'the drill was stopped; its server was stopped and removed', { cause: error });
    }
    verdict = timeout.signal.aborted ? 'TIMED_OUT' : 'FAILED';
    reason = timeout.signal.aborted ? (timeout.signal.reason as Error).message : failure(error);
    if (timeout.signal.aborted) validation = null;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', stopOnAbort);
  }
  const drift = manifest ? await driftSincePreviousDrill(job, deps, signal) : null;
  let teardown: string | null = null;
  if (cluster) {
    teardown = await cluster.stop().catch((error: unknown) => `the server could not be removed: ${failure(error)}`);
  }
  const bytes = manifest?.archive.bytes ?? 0;
  return {
    reportVersion: 1,
    database: job.database,
    execution: job.execution,
    verdict,
    reason,
    backup: manifest
      ? {
          key: manifest.key,
          tier: manifest.tier,
          takenAt: manifest.startedAt,
          bytes,
          serverVersion: manifest.source.serverVersion,
        }
      : null,
    server: cluster?.version ?? null,
    startedAt: startedAt.toISOString(),
    finishedAt: now().toISOString(),
    restoreSeconds: restoreSeconds === null ? null : round(restoreSeconds),
    restoreSecondsPerGiB: restoreSeconds === null || bytes === 0 ? null : round(restoreSeconds / (bytes / GIB)),
    validation,
    teardown,
    drift,
  };
}

/**
 * What changed from the backup the previous drill restored to this one's, from the archives' tables of contents and
 * the manifests (no restore): null for the first drill or the same backup; a line saying why where it cannot be read.
 */
async function driftSincePreviousDrill(job: DrillJob, deps: DrillDeps, signal: AbortSignal): Promise<DrillReport['drift']> {
  const previous = await previousDrill(deps.s3, deps.bucket, job.database, job.execution).catch(() => undefined);
  const fromKey = previous?.backup?.key;
  if (!previous || !fromKey || fromKey === job.key) return null;
  let lines: string[];
  try {
    lines = describeDrift(await diffBackups({ s3: deps.s3, bucket: deps.bucket }, fromKey, job.key, signal));
  } catch (error) {
    lines = [`drift not computed: ${failure(error)}`];
  }
  const cut =
    lines.length > MAX_DRIFT_LINES
      ? [...lines.slice(0, MAX_DRIFT_LINES), `... ${lines.length - MAX_DRIFT_LINES} more: lifeline diff ${fromKey} ${job.key}`]
      : lines;
  return { previousExecution: previous.execution, fromKey, toKey: job.key, lines: cut };
}
