import { z } from 'zod';
import { BackupRequest } from '../backup/request.js';
import { backupTargetEnvironment, backupTargetFromEnvironment, type BackupTarget } from '../backup/target.js';
import { LifelineError } from '../errors.js';
import { parseInput } from '../validation.js';
import { RESTORE_JOB_VARIABLE, RestoreJob } from '../restore/job.js';

/** The CLI that the image's Dockerfile (lambdas/Dockerfile) bundles beside the handlers, whose `runner` commands the runner containers run. */
const RUNNER_CLI = ['node', '/var/task/lifeline.mjs', 'runner'];

/** The restore workflow's runner container's command. */
export const RUNNER_RESTORE_COMMAND = [...RUNNER_CLI, 'restore'];

/** The drill workflow's runner container's command: it drills the job in LIFELINE_DRILL_JOB (runner/drill.ts). */
export const RUNNER_DRILL_COMMAND = [...RUNNER_CLI, 'drill'];

/** A Fargate backup task's command: it backs up the database its environment names (backupRunnerEnvironment). */
export const RUNNER_BACKUP_COMMAND = [...RUNNER_CLI, 'backup'];

/** The runner runs as nobody (uid:gid), never root, like the Lambda runtime. */
export const RUNNER_USER = '65534:65534';

/**
 * Where the runner stages an archive: a volume on the task's ephemeral storage (its root filesystem is read-only).
 * Fargate gives the volume the permissions the image gives this path, so the Dockerfile makes it RUNNER_USER's.
 */
export const RUNNER_STAGING_DIR = '/var/lib/lifeline/staging';

/** Where a runner command writes: the container's log. */
export interface RunnerOutput {
  /** One line each, into the container's log. */
  stdout(line: string): void;
  stderr(line: string): void;
}

export interface RunnerSettings {
  /** The vault bucket the runner restores from. */
  bucket: string;
  stagingDir: string;
}

/** The runner task definition's environment (the image adds PG_BIN_DIR and PGSSLROOTCERT). */
export function runnerEnvironment(settings: RunnerSettings): Record<string, string> {
  return { VAULT_BUCKET: settings.bucket, LIFELINE_STAGING_DIR: settings.stagingDir };
}

const Environment = z.object({
  VAULT_BUCKET: z.string().min(3),
  LIFELINE_STAGING_DIR: z.string().startsWith('/'),
  [RESTORE_JOB_VARIABLE]: z.string().min(1),
});

/** The runner's settings and restore job from its environment; a deployment or override that set them wrong fails with InvalidConfig. */
export function restoreRunFromEnvironment(env: NodeJS.ProcessEnv): { settings: RunnerSettings; job: RestoreJob } {
  const parsed = parseInput(Environment, env, 'runner environment', 'InvalidConfig');
  return {
    settings: { bucket: parsed.VAULT_BUCKET, stagingDir: parsed.LIFELINE_STAGING_DIR },
    job: parseInput(RestoreJob, jsonVariable(parsed, RESTORE_JOB_VARIABLE), RESTORE_JOB_VARIABLE, 'InvalidInput'),
  };
}

/** A variable that holds JSON (a job or a request, set per run), parsed; InvalidInput when it is not JSON. */
function jsonVariable(env: Record<string, string>, name: string): unknown {
  try {
    return JSON.parse(env[name]!);
  } catch (error) {
    throw new LifelineError('InvalidInput', `${name} is not JSON: ${(error as Error).message}`);
  }
}

/**
 * The variable that holds a backup task's request, as JSON: what the backup function's event holds, trigger and
 * tier. The task definition sets the schedule's; `aws ecs run-task` may override it with another.
 */
export const BACKUP_REQUEST_VARIABLE = 'LIFELINE_BACKUP_REQUEST';

/** Where a backup task sends the request it gave up on, as Lambda sends a backup function's. */
export const DEAD_LETTER_QUEUE_VARIABLE = 'BACKUP_DEAD_LETTER_QUEUE_URL';

export interface BackupRun {
  /** What the task backs up and where to: the same environment contract as the backup function's. */
  target: BackupTarget;
  request: BackupRequest;
  deadLetterQueueUrl: string;
}

/**
 * A backup task definition's environment: the backup function's, the request (checked against the function's own
 * schema, so a drift fails the synth; kept as written, the runner applies the defaults) and the dead-letter queue.
 */
export function backupRunnerEnvironment(
  run: Omit<BackupRun, 'request'> & { request: z.input<typeof BackupRequest> },
): Record<string, string> {
  BackupRequest.parse(run.request);
  return {
    ...backupTargetEnvironment(run.target),
    [BACKUP_REQUEST_VARIABLE]: JSON.stringify(run.request),
    [DEAD_LETTER_QUEUE_VARIABLE]: run.deadLetterQueueUrl,
  };
}

const BackupRunnerVariables = z.object({ [BACKUP_REQUEST_VARIABLE]: z.string().min(1), [DEAD_LETTER_QUEUE_VARIABLE]: z.url() });

/** A backup task's run from its environment: InvalidConfig for what the deployment set wrong, InvalidInput for a request that is not one. */
export function backupRunFromEnvironment(env: NodeJS.ProcessEnv): BackupRun {
  const target = backupTargetFromEnvironment(env);
  const parsed = parseInput(BackupRunnerVariables, env, 'runner environment', 'InvalidConfig');
  return {
    target,
    request: parseInput(BackupRequest, jsonVariable(parsed, BACKUP_REQUEST_VARIABLE), BACKUP_REQUEST_VARIABLE),
    deadLetterQueueUrl: parsed[DEAD_LETTER_QUEUE_VARIABLE],
  };
}
