import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { RestoreResult } from '../restore/pipeline.js';
import { connectionFromSecret } from '../postgres/connection-secrets.js';
import { runRestoreJob } from '../restore/job.js';
import { assertInPlaceApproved } from '../restore/in-place-approval.js';
import { runnerExitCode } from '../exit-codes.js';
import { restoreRunFromEnvironment, type RunnerOutput } from './environment.js';

export interface RestoreRunnerDeps {
  s3: S3Client;
  secrets: SecretsManagerClient;
  /** Step Functions, asked whether the execution an in-place job names runs and approved it (in-place-approval.ts). */
  sfn: SFNClient;
  /** Aborted on SIGTERM (ECS StopTask): the restore removes its staged files and puts the target back. */
  signal?: AbortSignal;
}

/**
 * The restore workflow's runner task: the job from LIFELINE_RESTORE_JOB (the state machine's container
 * override), the vault and staging directory from the task definition, the server's credentials from
 * Secrets Manager. A local run calls it in-process with the same environment. An in-place job runs only for the
 * running execution it names, in which a human approved it.
 */
export async function restoreFromEnvironment(env: NodeJS.ProcessEnv, deps: RestoreRunnerDeps): Promise<RestoreResult> {
  const { settings, job } = restoreRunFromEnvironment(env);
  if (job.inPlace) await assertInPlaceApproved(deps.sfn, job, deps.signal);
  return runRestoreJob(job, {
    s3: deps.s3,
    bucket: settings.bucket,
    connection: (secretArn, defaults) => connectionFromSecret(deps.secrets, secretArn, { ...defaults, sslRootCert: env.PGSSLROOTCERT }),
    stagingDir: settings.stagingDir,
    signal: deps.signal,
  });
}

/**
 * `lifeline runner restore`: prints the result as one JSON line and returns 0, or prints the error and returns
 * the exit code that names it, which is all ECS tells the workflow.
 */
export async function runRestoreRunner(env: NodeJS.ProcessEnv, deps: RestoreRunnerDeps & RunnerOutput): Promise<number> {
  try {
    deps.stdout(JSON.stringify(await restoreFromEnvironment(env, deps)));
    return 0;
  } catch (error) {
    const { name, message } = error instanceof Error ? error : new Error(String(error));
    deps.stderr(`lifeline: ${name}: ${message}`);
    return runnerExitCode(error);
  }
}
