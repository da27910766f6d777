import { PutMetricDataCommand, type CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { RDSClient } from '@aws-sdk/client-rds';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { setTimeout as wait } from 'node:timers/promises';
import { abortError } from '../abort.js';
import { backupSummary, type BackupResult } from '../backup/pipeline.js';
import { backUpTarget } from '../backup/target.js';
import {
  BACKUP_METRICS,
  backupSucceededMetrics,
  DATABASE_DIMENSION,
  METRICS_NAMESPACE,
  SERVICE_DIMENSION,
  SERVICE_NAMES,
  type RunnerBackupMetricName,
  type RunnerBackupMetrics,
} from '../telemetry.js';
import { backupRunFromEnvironment, type BackupRun, type RunnerOutput } from './environment.js';
import { runnerExitCode } from '../exit-codes.js';

/**
 * Lambda's retries of a failed asynchronous run, which the backup task keeps: two more attempts, one and then two
 * minutes after the failure.
 */
export const RETRY_DELAYS_MS = [60_000, 120_000] as const;

/** Failures another attempt cannot fix: a deployment or request set wrong, or a run someone stopped. */
const FINAL_FAILURES: ReadonlySet<string> = new Set(['InvalidConfig', 'InvalidInput', 'Interrupted']);

export interface BackupRunnerDeps {
  s3: S3Client;
  secrets: SecretsManagerClient;
  rds: RDSClient;
  cloudwatch: CloudWatchClient;
  sqs: SQSClient;
  /** Aborted on SIGTERM (ECS StopTask): the dump stops, the multipart upload is aborted, no attempt follows. */
  signal?: AbortSignal;
  /** Waits between attempts, and rejects when `signal` aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<unknown>;
  now?: () => Date;
}

/** What the dead-letter queue gets for a request the runner gave up on: enough to act on, never a credential. */
export interface BackupDeadLetter {
  source: 'lifeline runner backup';
  database: string;
  request: BackupRun['request'];
  attempts: number;
  error: { name: string; message: string };
  failedAt: string;
}

const errorOf = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

/**
 * The metrics the backup function emits as EMF, with the same namespace, units and dimensions (Powertools adds
 * `service`). A task's awslogs driver extracts no EMF, so they go through PutMetricData.
 */
async function putBackupMetrics(
  cloudwatch: CloudWatchClient,
  database: string,
  values: RunnerBackupMetrics,
  timestamp: Date,
): Promise<void> {
  const dimensions = [
    { Name: SERVICE_DIMENSION, Value: SERVICE_NAMES.backup },
    { Name: DATABASE_DIMENSION, Value: database },
  ];
  await cloudwatch.send(
    new PutMetricDataCommand({
      Namespace: METRICS_NAMESPACE,
      MetricData: Object.entries(values).map(([name, value]) => ({
        MetricName: name,
        Unit: BACKUP_METRICS[name as RunnerBackupMetricName],
        Value: value,
        Timestamp: timestamp,
        Dimensions: dimensions,
      })),
    }),
  );
}

/**
 * Backs up with Lambda's retries: up to RETRY_DELAYS_MS.length more attempts after a failure another attempt may fix,
 * each failed attempt counted as BackupFailed, as each failed invocation of the function is.
 */
async function backUpWithRetries(
  run: BackupRun,
  deps: BackupRunnerDeps & RunnerOutput,
  publish: (values: RunnerBackupMetrics) => Promise<void>,
): Promise<{ result: BackupResult } | { failure: Error; attempts: number }> {
  const sleep = deps.sleep ?? ((ms, signal) => wait(ms, undefined, { signal }));
  for (let attempt = 1; ; attempt++) {
    try {
      return { result: await backUpTarget(run.target, run.request, deps) };
    } catch (error) {
      const failure = errorOf(error);
      await publish({ BackupFailed: 1 });
      const delay = FINAL_FAILURES.has(failure.name) ? undefined : RETRY_DELAYS_MS[attempt - 1];
      if (delay === undefined) return { failure, attempts: attempt };
      deps.stderr(
        `lifeline: attempt ${attempt} of ${RETRY_DELAYS_MS.length + 1} failed: ${failure.name}: ${failure.message}; trying again in ${delay / 1000} s`,
      );
      try {
        await sleep(delay, deps.signal);
      } catch {
        const stopped = deps.signal ? abortError(deps.signal, 'the backup task was stopped while it waited to try again') : failure;
        return { failure: stopped, attempts: attempt };
      }
    }
  }
}

/**
 * `lifeline runner backup`, a Fargate backup task's command: backs up the database its environment names (the same
 * as the backup function's), with the function's retries and dead-letter queue, publishes the function's metrics,
 * prints the summary as one JSON line and returns 0, or prints the error and returns the exit code that names it.
 */
export async function runBackupRunner(env: NodeJS.ProcessEnv, deps: BackupRunnerDeps & RunnerOutput): Promise<number> {
  const fail = (error: Error) => {
    deps.stderr(`lifeline: ${error.name}: ${error.message}`);
    return runnerExitCode(error);
  };
  let run: BackupRun;
  try {
    run = backupRunFromEnvironment(env);
  } catch (error) {
    // Without a valid environment there is no database to report on: the task's exit code tells.
    return fail(errorOf(error));
  }
  const { label: database } = run.target;
  const now = deps.now ?? (() => new Date());
  // A metric or dead letter that cannot be sent must not turn a backup into a failure, nor hide the failure it reports.
  const warn = (what: string) => (error: unknown) => deps.stderr(`lifeline: warning: ${what}: ${errorOf(error).message}`);
  const publish = (values: RunnerBackupMetrics) =>
    putBackupMetrics(deps.cloudwatch, database, values, now()).catch(warn('the metrics were not published'));

  const outcome = await backUpWithRetries(run, deps, publish);
  if ('result' in outcome) {
    await publish(backupSucceededMetrics(outcome.result));
    deps.stdout(JSON.stringify(backupSummary(outcome.result)));
    return 0;
  }
  const { failure, attempts } = outcome;
  const letter: BackupDeadLetter = {
    source: 'lifeline runner backup',
    database,
    request: run.request,
    attempts,
    // Error messages never carry credentials (errors.ts): the engine redacts what comes from a child process.
    error: { name: failure.name, message: failure.message },
    failedAt: now().toISOString(),
  };
  await deps.sqs
    .send(new SendMessageCommand({ QueueUrl: run.deadLetterQueueUrl, MessageBody: JSON.stringify(letter) }))
    .catch(warn('the request was not sent to the dead-letter queue'));
  return fail(failure);
}
