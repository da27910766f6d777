import type { Command } from 'commander';
import { consoleUrl } from '../../lambdas/core/operator/arns.js';
import { executionStatus } from '../../lambdas/core/operator/executions.js';
import { StatusCommandOptions } from '../../lambdas/core/operator/options.js';
import { sfnOfExecution } from '../cli/executions.js';
import { parseOptions } from '../cli/options.js';
import { print, time } from '../cli/output.js';

/** `lifeline status`. */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('where an execution is: status, state, times, error, outcome')
    .argument('<execution-arn>')
    .option('--json', 'print one JSON object')
    .action(async (executionArn: string, raw) => {
      const opts = parseOptions(StatusCommandOptions, raw);
      const status = await executionStatus(sfnOfExecution(executionArn), executionArn);
      const running = status.status === 'RUNNING';
      print(
        opts.json,
        status,
        [
          executionArn,
          `  ${status.status}, ${running ? 'in' : 'last state'} ${status.state ?? '-'} since ${time(status.stateEnteredAt)}`,
          `  started ${time(status.startDate)}, stopped ${time(status.stopDate)}`,
          ...(status.error !== null ? [`  ${status.error}: ${status.cause ?? ''}`] : []),
          ...(status.output !== null ? [`  ${status.output}`] : []),
          `  ${consoleUrl(executionArn)}`,
        ].join('\n'),
      );
    });
}
