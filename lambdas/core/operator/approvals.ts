import {
  paginateGetExecutionHistory,
  paginateListExecutions,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { z } from 'zod';
import { LifelineError } from '../errors.js';
import { parseInput } from '../validation.js';
import { parseExecutionArn } from './executions.js';
import { ApprovalDecision } from '../workflows/approval.js';

/** A `.waitForTaskToken` SNS publish, as history events name its resource. */
const WAITING_RESOURCE = { resourceType: 'sns', resource: 'publish.waitForTaskToken' };

/** What the approval states publish (restore.asl.json's WaitForApproval): the token and what a human decides on. */
const ApprovalMessage = z.object({
  taskToken: z.string().min(1),
  question: z.string().optional(),
  report: z.object({ passed: z.boolean().optional(), summary: z.string().optional() }).optional(),
});

/** Step Functions passes a JSON object Message to SNS as text; the history keeps it as the state built it. */
const ApprovalParameters = z.object({
  Message: z.preprocess((message) => {
    if (typeof message !== 'string') return message;
    try {
      return JSON.parse(message) as unknown;
    } catch {
      return message;
    }
  }, ApprovalMessage),
});

/**
 * The state's input: the execution's state, with the database restored and the target it went into (a restore's
 * `target.database`, a PITR's `request.target.identifier`, the new instance or cluster).
 */
const WaitingStateInput = z.object({
  request: z.object({ database: z.string(), target: z.object({ identifier: z.string() }).optional().catch(undefined) }).optional(),
  target: z.object({ database: z.string() }).optional(),
});

export interface PendingApproval {
  executionArn: string;
  /** The waiting state, e.g. WaitForApproval. */
  state: string;
  since: Date;
  database: string | null;
  target: string | null;
  question: string | null;
  report: { passed: boolean | null; summary: string | null } | null;
  /** Answers the decision; never printed. */
  token: string;
}

function waits(event: HistoryEvent): boolean {
  const details = event.taskScheduledEventDetails ?? event.taskStartedEventDetails ?? event.taskSubmittedEventDetails;
  return details?.resourceType === WAITING_RESOURCE.resourceType && details.resource === WAITING_RESOURCE.resource;
}

function parseJson(text: string | undefined): unknown {
  try {
    return JSON.parse(text ?? '');
  } catch {
    return undefined;
  }
}

/**
 * The decision an execution waits for: its newest events are a `.waitForTaskToken` task scheduled (then
 * started and submitted) without an outcome. Anything newer (succeeded, failed, timed out, another state) means none.
 */
export async function pendingApproval(sfn: SFNClient, executionArn: string): Promise<PendingApproval | undefined> {
  let scheduled: HistoryEvent | undefined;
  for await (const page of paginateGetExecutionHistory({ client: sfn }, { executionArn, reverseOrder: true })) {
    for (const event of page.events ?? []) {
      if (!scheduled) {
        if (!waits(event)) return undefined;
        if (event.type === 'TaskScheduled') scheduled = event;
        continue;
      }
      if (event.type !== 'TaskStateEntered') continue;
      const parameters = ApprovalParameters.safeParse(parseJson(scheduled.taskScheduledEventDetails?.parameters));
      if (!parameters.success) {
        throw new LifelineError(
          'InvalidInput',
          `execution ${executionArn} waits in ${event.stateEnteredEventDetails?.name} without a task token in its message`,
        );
      }
      const { taskToken, question, report } = parameters.data.Message;
      const input = WaitingStateInput.safeParse(parseJson(event.stateEnteredEventDetails?.input));
      return {
        executionArn,
        state: event.stateEnteredEventDetails?.name ?? '?',
        since: scheduled.timestamp!,
        database: (input.success && input.data.request?.database) || null,
        target: (input.success && (input.data.target?.database ?? input.data.request?.target?.identifier)) || null,
        question: question ?? null,
        report: report ? { passed: report.passed ?? null, summary: report.summary ?? null } : null,
        token: taskToken,
      };
    }
  }
  return undefined;
}

/** Every running execution of the state machine that waits for a human, oldest request first. */
export async function listApprovals(sfn: SFNClient, stateMachineArn: string): Promise<PendingApproval[]> {
  const pending: PendingApproval[] = [];
  for await (const page of paginateListExecutions({ client: sfn }, { stateMachineArn, statusFilter: 'RUNNING' })) {
    for (const execution of page.executions ?? []) {
      const approval = await pendingApproval(sfn, execution.executionArn!);
      if (approval) pending.push(approval);
    }
  }
  return pending.sort((a, b) => a.since.getTime() - b.since.getTime());
}

export type Decision = { approve: true; comment: string | null } | { approve: false; reason: string };

export interface DecisionDeps {
  sfn: SFNClient;
  sts: STSClient;
  now?: () => Date;
}

export interface DecisionRecorded {
  executionArn: string;
  state: string;
  approver: string;
  decision: 'approved' | 'rejected';
}

/** SendTaskSuccess/Failure answers fail this way once the task has ended: the decision came too late or twice. */
const ENDED_TASK_ERRORS = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

/**
 * Answers the approval an execution waits for, recording who decided (the caller's AWS identity): approve with
 * the ApprovalDecision the workflow reads, or reject with the error `Rejected`, which ends it in its cleanup.
 */
export async function decide(executionArn: string, decision: Decision, deps: DecisionDeps): Promise<DecisionRecorded> {
  parseExecutionArn(executionArn);
  const pending = await pendingApproval(deps.sfn, executionArn);
  if (!pending) throw new LifelineError('InvalidInput', `execution ${executionArn} is not waiting for an approval`);
  const { Arn: approver } = await deps.sts.send(new GetCallerIdentityCommand({}));
  if (!approver) throw new LifelineError('InvalidInput', 'STS GetCallerIdentity returned no ARN for the approver');
  const decidedAt = (deps.now?.() ?? new Date()).toISOString();
  const answer = decision.approve
    ? () => {
        const output = parseInput(ApprovalDecision, { approver, comment: decision.comment, decidedAt }, 'approval decision');
        return deps.sfn.send(new SendTaskSuccessCommand({ taskToken: pending.token, output: JSON.stringify(output) }));
      }
    : () =>
        deps.sfn.send(
          new SendTaskFailureCommand({
            taskToken: pending.token,
            error: 'Rejected',
            cause: `${decision.reason} (rejected by ${approver})`,
          }),
        );
  try {
    await answer();
  } catch (error) {
    const name = (error as Error).name;
    if (!ENDED_TASK_ERRORS.has(name)) throw error;
    throw new LifelineError('InvalidInput', `execution ${executionArn}: ${pending.state} no longer takes a decision (${name})`);
  }
  return { executionArn, state: pending.state, approver, decision: decision.approve ? 'approved' : 'rejected' };
}
