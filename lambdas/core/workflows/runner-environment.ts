import { z } from 'zod';
import { LifelineError } from '../errors.js';
import { parseInput } from '../validation.js';
import { RestoreJob } from './restore-job.js';

/** The variable the restore workflow's `ecs:runTask.sync` container override sets to the job, as JSON. */
export const RESTORE_JOB_VARIABLE = 'LIFELINE_RESTORE_JOB';

/** The runner container's command: the CLI that the backup image's Dockerfile bundles beside the handler. */
export const RUNNER_RESTORE_COMMAND = ['node', '/var/task/lifeline.mjs', 'runner', 'restore'];

/** The runner runs as nobody (uid:gid), never root, like the Lambda runtime. */
export const RUNNER_USER = '65534:65534';

/**
 * Where the runner stages an archive: a volume on the task's ephemeral storage (its root filesystem is read-only).
 * Fargate gives the volume the permissions the image gives this path, so the Dockerfile makes it RUNNER_USER's.
 */
export const RUNNER_STAGING_DIR = '/var/lib/lifeline/staging';

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
  let job: unknown;
  try {
    job = JSON.parse(parsed[RESTORE_JOB_VARIABLE]);
  } catch (error) {
    throw new LifelineError('InvalidInput', `${RESTORE_JOB_VARIABLE} is not JSON: ${(error as Error).message}`);
  }
  return {
    settings: { bucket: parsed.VAULT_BUCKET, stagingDir: parsed.LIFELINE_STAGING_DIR },
    job: parseInput(RestoreJob, job, RESTORE_JOB_VARIABLE, 'InvalidInput'),
  };
}
