import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { depsWithin, withinStepDeadline, type StepDeadline } from '../deadline.js';
import { latestPassedDrill } from './report.js';
import { LifelineError } from '../errors.js';
import { DeploymentName } from '../names.js';
import type { RestoreCatalog } from '../restore/catalog.js';
import { RunnerPlacement } from '../restore/catalog.js';
import { stagingBytesFor } from '../restore/pipeline.js';
import { classifyFailure } from '../restore/steps.js';
import type { DrillMetricName } from '../telemetry.js';
import { parseInput } from '../validation.js';
import { listBackups, readManifest } from '../vault/backups.js';
import { DatabaseLabel } from '../vault/keys.js';
import { MAX_ECS_OVERRIDES_LENGTH } from '../workflows/aws-limits.js';
import { CaughtError } from '../workflows/execution-state.js';
import { DRILL_JOB_VARIABLE, DrillRunnerJob } from './drill.js';
import { DrillInput } from './input.js';
import { drillReportKey, DrillReport, readDrillReport, writeDrillReport } from './report.js';

/** The drill workflow's steps (drill.asl.json): ValidateInput, which picks the backup and the runner's job, and Conclude. */

/** What the drill steps know of the deployment (LIFELINE_DRILL_SETTINGS). */
export const DrillSettings = z.strictObject({
  deployment: DeploymentName,
  backupStacks: z.number().int().min(1).max(200),
  bucket: z.string().min(3),
  /** The drill runner's task definition family. */
  runnerTaskDefinition: z.string().min(1),
  /** Its vCPUs: pg_restore's --jobs. */
  runnerVcpus: z.number().int().min(1).max(16),
});
export type DrillSettings = z.infer<typeof DrillSettings>;

const GIB = 1024 ** 3;
const DAY_MS = 86_400_000;

/** ValidateInput's result: what RunDrill runs and Conclude reports on. */
export const DrillRequest = z.strictObject({
  database: DatabaseLabel,
  /** The execution's start. */
  startedAt: z.iso.datetime(),
  backup: z.strictObject({ key: z.string(), tier: z.string(), takenAt: z.iso.datetime(), bytes: z.number().int().nonnegative() }),
  reportKey: z.string(),
  /** Ephemeral storage for the staged archive and the throwaway server's data (21-200 GiB). */
  storageGiB: z.number().int().min(21).max(200),
  runner: RunnerPlacement,
  job: DrillRunnerJob,
});
export type DrillRequest = z.infer<typeof DrillRequest>;

/** Conclude's result, the execution's output when the drill passed and its Fail state's error and cause when not. */
export interface DrillConclusion {
  database: string;
  verdict: DrillReport['verdict'];
  /** DrillFailed or DrillTimedOut; null when it passed. */
  error: 'DrillFailed' | 'DrillTimedOut' | null;
  reason: string;
  reportKey: string;
  report: DrillReport;
}

export const DrillStepEvent = z.discriminatedUnion('step', [
  z.strictObject({
    step: z.literal('validateInput'),
    input: z.unknown(),
    execution: z.strictObject({ id: z.string(), name: z.string(), startedAt: z.iso.datetime() }),
  }),
  z.strictObject({ step: z.literal('conclude'), request: DrillRequest, error: CaughtError.nullable() }),
  /** The daily check of each drilled database's schedule: DrillOverdue when no drill passed within `withinDays`. */
  z.strictObject({ step: z.literal('freshness'), database: DatabaseLabel, withinDays: z.number().int().min(1).max(400) }),
]);

export interface DrillStepDeps {
  settings: DrillSettings;
  catalog: RestoreCatalog;
  s3: S3Client;
  recordMetric?: (database: string, name: DrillMetricName, value: number) => void;
  lambdaRemainingMs?: number;
  deadline?: StepDeadline;
  now?: () => Date;
  /** A number in [0, 1): which backup a random drill takes. */
  random?: () => number;
}

/**
 * Ephemeral storage for drilling an archive of `bytes`: the restored server's data, taken as large as the archive
 * decompressed. The restore stages only the archive's table of contents (restore/pipeline.ts), within the margin.
 */
export function drillStorageFor(bytes: number): number {
  const needed = Math.ceil(stagingBytesFor(bytes) / GIB) + 2;
  if (needed > 200) {
    throw new LifelineError('InvalidInput', `the backup needs about ${needed} GiB to drill, more than Fargate's 200 GiB of task storage`);
  }
  return Math.max(21, needed);
}

/** RunDrill's task overrides for `request`, as drill.asl.json builds them. */
export function drillOverrides(request: Pick<DrillRequest, 'storageGiB' | 'job'>) {
  return {
    EphemeralStorage: { SizeInGiB: request.storageGiB },
    ContainerOverrides: [{ Name: 'runner', Environment: [{ Name: DRILL_JOB_VARIABLE, Value: JSON.stringify(request.job) }] }],
  };
}

/** The input checked, the database found in the catalog and its backup chosen: what RunDrill runs. */
export async function validateInput(
  value: unknown,
  execution: { id: string; name: string; startedAt: string },
  deps: DrillStepDeps,
): Promise<DrillRequest> {
  const input = parseInput(DrillInput, value, 'drill input');
  const { settings } = deps;
  const entry = (await deps.catalog.groupOf(input.database)).find((database) => database.name === input.database);
  if (!entry) {
    throw new LifelineError(
      'InvalidInput',
      `database: "${input.database}" is not a configured database of deployment ${settings.deployment}`,
    );
  }
  const now = (deps.now ?? (() => new Date()))();
  const backups = await listBackups(deps.s3, settings.bucket, input.database);
  const eligible =
    input.backup === 'latest'
      ? backups.slice(-1)
      : backups.filter((b) => now.getTime() - b.startedAt.getTime() <= input.withinDays * DAY_MS);
  if (eligible.length === 0) {
    const within = input.backup === 'random' ? ` taken within ${input.withinDays} days` : '';
    throw new LifelineError('BackupNotFound', `no backup of "${input.database}"${within} in s3://${settings.bucket} to drill`);
  }
  const chosen = eligible[Math.floor((deps.random ?? Math.random)() * eligible.length)] ?? eligible.at(-1)!;
  const reportKey = drillReportKey(input.database, new Date(execution.startedAt), execution.name);
  const request: DrillRequest = {
    database: input.database,
    startedAt: execution.startedAt,
    backup: { key: chosen.key, tier: chosen.tier, takenAt: chosen.startedAt.toISOString(), bytes: chosen.bytes },
    reportKey,
    storageGiB: drillStorageFor(chosen.bytes),
    runner: { ...entry.runner, taskDefinition: settings.runnerTaskDefinition },
    job: {
      database: input.database,
      key: chosen.key,
      execution: execution.id,
      smokeChecks: input.smokeChecks,
      timeoutSeconds: input.timeoutMinutes * 60,
      jobs: settings.runnerVcpus,
      reportKey,
    },
  };
  const length = JSON.stringify(drillOverrides(request)).length;
  if (length > MAX_ECS_OVERRIDES_LENGTH) {
    throw new LifelineError(
      'InvalidInput',
      `smokeChecks: they would make the runner's task overrides ${length} characters, more than the ${MAX_ECS_OVERRIDES_LENGTH} ECS takes; use fewer or shorter checks`,
    );
  }
  return request;
}

/**
 * The drill's report: the runner's, or, when the runner wrote none (it failed to start, crashed, or the state timed
 * out), one that says so, FAILED or TIMED_OUT. Publishes the outcome's metrics and returns the verdict.
 */
export async function conclude(request: DrillRequest, caught: CaughtError | null, deps: DrillStepDeps): Promise<DrillConclusion> {
  const { bucket } = deps.settings;
  let report = await readDrillReport(deps.s3, bucket, request.reportKey);
  if (!report) {
    const timedOut = caught?.Error === 'States.Timeout';
    const failure = caught ? classifyFailure(caught) : undefined;
    const manifest = await readManifest(deps.s3, bucket, request.backup.key).catch(() => undefined);
    const now = (deps.now ?? (() => new Date()))().toISOString();
    const written: DrillReport = {
      reportVersion: 1,
      database: request.database,
      execution: request.job.execution,
      verdict: timedOut ? 'TIMED_OUT' : 'FAILED',
      reason: timedOut
        ? `the runner did not finish within RunDrill's timeout (${request.job.timeoutSeconds} s of drill and the task's start)`
        : failure
          ? `${failure.error}: ${failure.cause}`
          : 'the runner ended without storing a report',
      backup: { ...request.backup, serverVersion: manifest?.source.serverVersion ?? null },
      server: null,
      startedAt: request.startedAt,
      finishedAt: now,
      restoreSeconds: null,
      restoreSecondsPerGiB: null,
      validation: null,
      teardown: 'the runner task ended; its server ended with it',
      drift: null,
    };
    try {
      await writeDrillReport(deps.s3, bucket, request.reportKey, written);
      report = written;
    } catch (error) {
      // The runner stored its report after all, between the read and this write: the runner's stands.
      if ((error as Error).name !== 'BackupExists') throw error;
      report = (await readDrillReport(deps.s3, bucket, request.reportKey)) ?? written;
    }
  }
  const passed = report.verdict === 'PASSED';
  deps.recordMetric?.(request.database, passed ? 'DrillSucceeded' : 'DrillFailed', 1);
  if (report.restoreSeconds !== null) deps.recordMetric?.(request.database, 'RestoreSeconds', report.restoreSeconds);
  if (report.restoreSecondsPerGiB !== null) deps.recordMetric?.(request.database, 'RestoreSecondsPerGiB', report.restoreSecondsPerGiB);
  return {
    database: request.database,
    verdict: report.verdict,
    error: passed ? null : report.verdict === 'TIMED_OUT' ? 'DrillTimedOut' : 'DrillFailed',
    reason: report.reason,
    reportKey: request.reportKey,
    report,
  };
}

/** The daily check: DrillOverdue 1 when no drill of `database` passed within `withinDays`, else 0. */
export async function freshness(
  database: string,
  withinDays: number,
  deps: DrillStepDeps,
): Promise<{ database: string; lastPassed: string | null; overdue: boolean }> {
  const latest = await latestPassedDrill(deps.s3, deps.settings.bucket, database);
  const now = (deps.now ?? (() => new Date()))().getTime();
  const overdue = latest === undefined || now - Date.parse(latest.finishedAt) > withinDays * DAY_MS;
  deps.recordMetric?.(database, 'DrillOverdue', overdue ? 1 : 0);
  return { database, lastPassed: latest?.finishedAt ?? null, overdue };
}

/** Runs one step of drill.asl.json (or the daily check) within its deadline; the drill steps Lambda is this function. */
export async function runDrillStep(event: unknown, deps: DrillStepDeps): Promise<unknown> {
  return withinStepDeadline('drill', event, deps.lambdaRemainingMs, async (step, deadline) => {
    const bounded = depsWithin(deps, deadline, ['s3']);
    const parsed = parseInput(DrillStepEvent, step, 'drill step event');
    switch (parsed.step) {
      case 'validateInput':
        return { request: await validateInput(parsed.input, parsed.execution, bounded), error: null };
      case 'conclude':
        return conclude(parsed.request, parsed.error, bounded);
      case 'freshness':
        return freshness(parsed.database, parsed.withinDays, bounded);
    }
  });
}
