import { Option, type Command } from 'commander';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { followExecution, startPitr, startRestore, type StartedExecution } from '../../lambdas/core/operator/executions.js';
import { StartPitrCommandOptions, StartRestoreCommandOptions } from '../../lambdas/core/operator/options.js';
import { readableCause } from '../../lambdas/core/workflows/execution-state.js';
import { executionError, sfnFor, stateMachineOptions } from '../cli/executions.js';
import { parseOptions, schemaOption } from '../cli/options.js';
import { print, time } from '../cli/output.js';

/** `lifeline start restore` and `lifeline start pitr`: a workflow in AWS Step Functions, followed to its end with --wait. */
export function registerStart(program: Command): void {
  const start = program.command('start').description('start a workflow in AWS Step Functions');

  stateMachineOptions(
    start
      .command('restore')
      .description(
        'start the restore workflow: the backup restored into a new database, validated, approved when it is to replace something',
      )
      .requiredOption('--database <name>', 'the configured database whose backup is restored')
      .option('--at <time>', 'the latest backup taken at or before this ISO 8601 time')
      .option('--key <key>', 'this backup (an archive key in the vault)')
      .option('--target-database <name>', 'the new database (default: <database>_restored_<UTC yyyymmddhhmmss>)')
      .option('--cutover <application>', 'switch this configured application to the restore once a human approves')
      .option('--jobs <n>', "pg_restore worker processes (default: the runner's vCPUs)")
      .option('--keep-on-failure', 'keep what the execution created when it fails, to investigate')
      .option('--wait', 'follow the execution to its end, printing each state it enters'),
  )
    .option('--json', 'print one JSON object')
    .action(async (raw) => {
      const opts = parseOptions(StartRestoreCommandOptions, raw);
      const sfn = sfnFor(opts.stateMachine);
      const started = await startRestore(sfn, opts.stateMachine, opts.input);
      await reportStarted(sfn, started, opts);
    });

  start
    .command('pitr')
    .description(
      "start the point-in-time recovery workflow: the database's RDS instance or Aurora cluster restored into a new identifier, validated, approved, optionally cut over",
    )
    .requiredOption('--database <name>', 'the configured database whose RDS instance or Aurora cluster is restored')
    .option('--at <time>', "this moment (ISO 8601 with a zone), within the source's restorable window")
    .option('--latest', "the source's latest restorable time")
    .option('--snapshot <identifier>', 'this snapshot of the source')
    .addOption(
      new Option('--latest-snapshot <type>', 'the newest available snapshot of the source of this type').choices(['automated', 'manual']),
    )
    .option('--target <identifier>', 'the new identifier, containing "-pitr-" (default: <source>-pitr-<UTC yyyymmddhhmmss>)')
    .option('--cutover <application>', 'switch this configured application to the restored database once a human approves')
    .option(
      '--strategy <rename>',
      "instead of --cutover, RDS instances only: rename the source aside and give the restore its identifier and endpoint (the config's pitr.renameSources must allow it)",
    )
    .option('--validate-as <application>', "validate as this configured application's role, when the database has several and no --cutover")
    .option('--copy-on-write', 'Aurora with --latest only: a copy-on-write clone, faster than a full copy (at most 15 per source)')
    .option('--final-snapshot', 'take a final snapshot when cleanup deletes what this execution restored')
    .option('--approval-timeout-hours <n>', "how long a human has to approve (default: the deployed config's)")
    .option('--wait', 'follow the execution to its end, printing each state it enters')
    .option('--state-machine <arn>', 'the PITR state machine (default: the one named <name>-pitr in the current region)')
    .addOption(
      schemaOption('--name <name>', "the config's name, which prefixes the state machine's", StartPitrCommandOptions.in.shape.name),
    )
    .option('--json', 'print one JSON object')
    .action(async (raw) => {
      const opts = parseOptions(StartPitrCommandOptions, raw);
      const sfn = sfnFor(opts.stateMachine);
      const started = await startPitr(sfn, opts.stateMachine, opts.input);
      await reportStarted(sfn, started, opts);
    });
}

/** Prints the started execution and, with --wait, each state it enters and how it ended: exit code 1 unless it succeeded. */
async function reportStarted(sfn: SFNClient, started: StartedExecution, opts: { json: boolean; wait: boolean }): Promise<void> {
  if (!opts.wait || !opts.json) print(opts.json, started, `started ${started.executionArn}\n  ${started.consoleUrl}`);
  if (!opts.wait) return;
  const ended = await followExecution(sfn, started.executionArn, {
    onStateEntered: (state) => {
      if (!opts.json) print(false, null, `  ${time(state.at)}  ${state.name}`);
    },
  });
  const outcome = {
    ...started,
    status: ended.status,
    error: ended.error ?? null,
    cause: readableCause(ended.cause) ?? null,
    output: ended.output ?? null,
  };
  if (opts.json) print(true, outcome, '');
  if (ended.status !== 'SUCCEEDED') throw executionError(ended);
  if (!opts.json) print(false, null, `SUCCEEDED in ${Math.round((ended.stopDate!.getTime() - started.startDate.getTime()) / 1000)} s`);
}
