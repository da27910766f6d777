import type { Command } from 'commander';
import type { z } from 'zod';
import type { Decision } from '../../lambdas/core/operator/approvals.js';
import { requestDecision } from '../../lambdas/core/operator/approve-client.js';
import { ApproveCommandOptions, RejectCommandOptions } from '../../lambdas/core/operator/options.js';
import { lambdaFor } from '../cli/executions.js';
import { parseOptions } from '../cli/options.js';
import { print } from '../cli/output.js';

/**
 * `lifeline approve` and `lifeline reject`: what an execution waits for, decided through the deployment's approve
 * function URL, which records the caller's AWS identity as it authenticated the signed request.
 */
export function registerDecisions(program: Command): void {
  decisionCommand(
    program
      .command('approve')
      .description('approve what an execution waits for; your AWS identity and comment are recorded in it')
      .option('--comment <text>', 'why, for the record'),
    ApproveCommandOptions,
    (opts) => ({ approve: true, comment: opts.comment ?? null }),
  );
  decisionCommand(
    program
      .command('reject')
      .description('reject what an execution waits for: it cleans up what it created and fails with Rejected')
      .requiredOption('--reason <text>', 'why, recorded as the failure cause'),
    RejectCommandOptions,
    (opts) => ({ approve: false, reason: opts.reason }),
  );
}

/** What approve and reject share: the execution, --json, and recording the decision their options make. */
function decisionCommand<S extends z.ZodType<{ json: boolean }>>(
  command: Command,
  schema: S,
  decisionOf: (opts: z.infer<S>) => Decision,
): void {
  command
    .argument('<execution-arn>')
    .option('--json', 'print one JSON object')
    .action(async (executionArn: string, raw) => {
      const opts = parseOptions(schema, raw);
      const decision = decisionOf(opts);
      const recorded = await requestDecision(executionArn, decision, { lambda: lambdaFor(executionArn) });
      print(
        opts.json,
        recorded,
        `${decision.approve ? 'approved' : 'rejected'} ${recorded.state} of ${executionArn} as ${recorded.approver}`,
      );
    });
}
