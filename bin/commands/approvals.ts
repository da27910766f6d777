import type { Command } from 'commander';
import { listApprovals } from '../../lambdas/core/operator/approvals.js';
import { resolveStateMachine } from '../../lambdas/core/operator/executions.js';
import { ApprovalsCommandOptions } from '../../lambdas/core/operator/options.js';
import { sfnFor, stateMachineOptions } from '../cli/executions.js';
import { parseOptions } from '../cli/options.js';
import { print, time } from '../cli/output.js';

/** `lifeline approvals`: what waits for `lifeline approve` or `lifeline reject`. */
export function registerApprovals(program: Command): void {
  stateMachineOptions(program.command('approvals').description('list restore executions waiting for a human decision'))
    .option('--json', 'print one JSON object')
    .action(async (raw) => {
      const opts = parseOptions(ApprovalsCommandOptions, raw);
      const sfn = sfnFor(opts.stateMachine);
      const approvals = (await listApprovals(sfn, await resolveStateMachine(sfn, opts.stateMachine))).map(
        ({ token: _, ...shown }) => shown,
      );
      const text = approvals.map((a) =>
        [
          a.executionArn,
          `  ${a.database ?? '?'} restored into ${a.target ?? '?'}, waiting in ${a.state} since ${time(a.since)}`,
          ...(a.report ? [`  validation ${a.report.passed ? 'passed' : 'failed'}: ${a.report.summary ?? ''}`] : []),
          `  lifeline approve ${a.executionArn} --comment "..."  |  lifeline reject ${a.executionArn} --reason "..."`,
        ].join('\n'),
      );
      print(opts.json, { approvals }, text.length > 0 ? text.join('\n') : 'no executions wait for approval');
    });
}
