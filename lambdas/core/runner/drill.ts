import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { DRILL_JOB_VARIABLE, DrillRunnerJob, runDrill } from '../drill/drill.js';
import { writeDrillReport, type DrillReport } from '../drill/report.js';
import { LifelineError } from '../errors.js';
import { runnerExitCode } from '../exit-codes.js';
import { parseInput } from '../validation.js';
import type { RunnerOutput } from './environment.js';

export interface DrillRunnerDeps {
  s3: S3Client;
  /** Aborted on SIGTERM (ECS StopTask): the drill tears its server down and stores no verdict; Conclude writes why. */
  signal?: AbortSignal;
}

const Environment = z.object({
  VAULT_BUCKET: z.string().min(3),
  LIFELINE_STAGING_DIR: z.string().startsWith('/'),
  [DRILL_JOB_VARIABLE]: z.string().min(1),
});

function jobFrom(text: string): DrillRunnerJob {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new LifelineError('InvalidInput', `${DRILL_JOB_VARIABLE} is not JSON: ${(error as Error).message}`);
  }
  return parseInput(DrillRunnerJob, json, DRILL_JOB_VARIABLE);
}

/**
 * The drill workflow's runner task: runs the job in LIFELINE_DRILL_JOB against the vault the task definition names,
 * with the throwaway server's data on the staging volume, and stores the report under the job's key. A local run
 * calls it in-process with the same environment.
 */
export async function drillFromEnvironment(env: NodeJS.ProcessEnv, deps: DrillRunnerDeps): Promise<DrillReport> {
  const parsed = parseInput(Environment, env, 'runner environment', 'InvalidConfig');
  const job = jobFrom(parsed[DRILL_JOB_VARIABLE]);
  const report = await runDrill(job, {
    s3: deps.s3,
    bucket: parsed.VAULT_BUCKET,
    stagingDir: parsed.LIFELINE_STAGING_DIR,
    env,
    signal: deps.signal,
  });
  await writeDrillReport(deps.s3, parsed.VAULT_BUCKET, job.reportKey, report);
  return report;
}

/**
 * `lifeline runner drill`: prints the report as one JSON line and returns 0 once a report with any verdict is stored;
 * else prints the error and returns the exit code that names it, and the workflow's Conclude stores a report saying so.
 */
export async function runDrillRunner(env: NodeJS.ProcessEnv, deps: DrillRunnerDeps & RunnerOutput): Promise<number> {
  try {
    deps.stdout(JSON.stringify(await drillFromEnvironment(env, deps)));
    return 0;
  } catch (error) {
    const { name, message } = error instanceof Error ? error : new Error(String(error));
    deps.stderr(`lifeline: ${name}: ${message}`);
    return runnerExitCode(error);
  }
}
