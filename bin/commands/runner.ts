import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Command } from 'commander';
import { createRdsClient } from '../../lambdas/core/postgres/rds.js';
import { runBackupRunner } from '../../lambdas/core/runner/backup.js';
import { runDrillRunner } from '../../lambdas/core/runner/drill.js';
import { runRestoreRunner } from '../../lambdas/core/runner/restore.js';
import { createS3Client } from '../../lambdas/core/vault/s3.js';
import type { Interruption } from '../cli/signals.js';

/** What both runners get: the task role's clients, the run's signal, and its lines on stdout and stderr. */
const runnerDeps = (interruption: Interruption) => ({
  s3: createS3Client(),
  secrets: new SecretsManagerClient({}),
  signal: interruption.signal(),
  stdout: (line: string) => process.stdout.write(`${line}\n`),
  stderr: (line: string) => process.stderr.write(`${line}\n`),
});

/** `lifeline runner restore`, `drill` and `backup`: the runner tasks' commands, whose exit code names the error. */
export function registerRunner(program: Command, interruption: Interruption): void {
  const runner = program.command('runner').description('what the workflows run in the runner container (ECS Fargate)');

  runner
    .command('restore')
    .description('restore the job in $LIFELINE_RESTORE_JOB (the restore workflow sets it); exit code names the error')
    .action(async () => {
      process.exitCode = await runRestoreRunner(process.env, { ...runnerDeps(interruption), sfn: new SFNClient({}) });
    });

  runner
    .command('drill')
    .description(
      'run the restore drill in $LIFELINE_DRILL_JOB (the drill workflow sets it) and store its report; exit code names the error',
    )
    .action(async () => {
      process.exitCode = await runDrillRunner(process.env, runnerDeps(interruption));
    });

  runner
    .command('backup')
    .description(
      "back up the database the task's environment names (a Fargate backup task), retrying as Lambda would; exit code names the error",
    )
    .action(async () => {
      process.exitCode = await runBackupRunner(process.env, {
        ...runnerDeps(interruption),
        rds: createRdsClient(),
        cloudwatch: new CloudWatchClient({}),
        sqs: new SQSClient({}),
      });
    });
}
