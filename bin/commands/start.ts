import type { Command } from 'commander';
import { followExecution, startRestore } from '../../lambdas/core/operator/executions.js';
import { StartRestoreCommandOptions } from '../../lambdas/core/operator/options.js';
import { executionError, sfnFor, stateMachineOptions } from '../cli/executions.js';
import { parseOptions } from '../cli/options.js';
import { print, time } from '../cli/output.js';

/** `lifeline start restore`: the restore workflow in AWS Step Functions, followed to its end with --wait. */
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
      .option('--target-database <name>', 'the new database (default: <database>_restored_<UTC yyyymmddhhmm>)')
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
        cause: ended.cause ?? null,
        output: ended.output ?? null,
      };
      if (opts.json) print(true, outcome, '');
      if (ended.status !== 'SUCCEEDED') throw executionError(ended);
      if (!opts.json) print(false, null, `SUCCEEDED in ${Math.round((ended.stopDate!.getTime() - started.startDate.getTime()) / 1000)} s`);
    });
}
