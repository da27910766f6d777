import type { Command } from 'commander';
import { listApprovals } from '../../lambdas/core/operator/approvals.js';
import { resolveStateMachines } from '../../lambdas/core/operator/executions.js';
import { ApprovalsCommandOptions } from '../../lambdas/core/operator/options.js';
import { sfnFor } from '../cli/executions.js';
import { parseOptions, schemaOption } from '../cli/options.js';
import { print, time } from '../cli/output.js';

/** `lifeline approvals`: what waits for `lifeline approve` or `lifeline reject`. */
export function registerApprovals(program: Command): void {
  program
    .command('approvals')
    .description('list restore, PITR and cutover executions waiting for a human decision')
    .option(
      '--state-machine <arn>',
      'only this state machine (default: the ones named <name>-restore, <name>-pitr and <name>-cutover in the current region)',
    )
    .addOption(
      schemaOption('--name <name>', "the config's name, which prefixes the state machines'", ApprovalsCommandOptions.in.shape.name),
    )
    .option('--json', 'print one JSON object')
    .action(async (raw) => {
      const opts = parseOptions(ApprovalsCommandOptions, raw);
      const sfn = sfnFor(opts.stateMachines[0]!);
      const pending = [];
      for (const arn of await resolveStateMachines(sfn, opts.stateMachines)) pending.push(...(await listApprovals(sfn, arn)));
      const approvals = pending.sort((a, b) => a.since.getTime() - b.since.getTime()).map(({ token: _, ...shown }) => shown);
      const text = approvals.map((a) =>
        [
          a.executionArn,
          // A cutover's own approval has no restore behind it: its question says what it asks.
          `  ${a.database !== null && a.target !== null ? `${a.database} restored into ${a.target}` : (a.question ?? 'a decision')}, waiting in ${a.state} since ${time(a.since)}`,
          ...(a.report ? [`  validation ${a.report.passed ? 'passed' : 'failed'}: ${a.report.summary ?? ''}`] : []),
          `  lifeline approve ${a.executionArn} --comment "..."  |  lifeline reject ${a.executionArn} --reason "..."`,
        ].join('\n'),
      );
      print(opts.json, { approvals }, text.length > 0 ? text.join('\n') : 'no executions wait for approval');
    });
}
