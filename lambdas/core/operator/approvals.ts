import {
  paginateGetExecutionHistory,
  paginateListExecutions,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { z } from 'zod';
import { LifelineError } from '../errors.js';
import { parseInput } from '../validation.js';
import { parseExecutionArn } from './arns.js';
import { ApprovalDecision, signedDecision, type ApprovalSeal } from '../workflows/approval.js';

/** A `.waitForTaskToken` SNS publish, as history events name its resource. */
const WAITING_RESOURCE = { resourceType: 'sns', resource: 'publish.waitForTaskToken' };

/** What the approval states publish (restore.asl.json's WaitForApproval): what a human decides on. */
const ApprovalMessage = z.object({
  question: z.string().optional(),
  report: z.object({ passed: z.boolean().optional(), summary: z.string().optional() }).optional(),
});

/**
 * The publish's parameters as the history keeps them: Step Functions passes a JSON object Message to SNS as text, and
 * the task token travels as a message attribute, which e-mail subscriptions do not show (only SQS, HTTP and Lambda
 * subscribers receive attributes): the token is no secret, since only the approve function's signed decision counts.
 */
const ApprovalParameters = z.object({
  Message: z.preprocess((message) => {
    if (typeof message !== 'string') return message;
    try {
      return JSON.parse(message) as unknown;
    } catch {
      return message;
    }
  }, ApprovalMessage),
  MessageAttributes: z.object({ taskToken: z.object({ StringValue: z.string().min(1) }) }),
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
          `execution ${executionArn} waits in ${event.stateEnteredEventDetails?.name} without a task token in its message attributes`,
        );
      }
      const { question, report } = parameters.data.Message;
      const taskToken = parameters.data.MessageAttributes.taskToken.StringValue;
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

/** Who decides: the identity AWS authenticated (the approve function's caller), or the local operator of a rehearsal. */
export interface Approver {
  identity: string;
}

/** The answer a waiting task gets: SendTaskSuccess's output, or SendTaskFailure's error and cause. */
export type TaskAnswer = { output: ApprovalDecision } | { error: 'Rejected'; cause: string };

/**
 * The answer to the approval `state` of `executionArn` asks, as `approver` decided: an approval signed for that
 * state (VerifyApproval takes no other), or the error `Rejected`, which ends the execution in its cleanup. The
 * approve function and local runs answer through here alike.
 */
export async function answerDecision(
  waiting: { executionArn: string; state: string },
  approver: Approver,
  decision: Decision,
  deps: { seal: ApprovalSeal; now?: () => Date },
): Promise<TaskAnswer> {
  if (!decision.approve) return { error: 'Rejected', cause: `${decision.reason} (rejected by ${approver.identity})` };
  const decidedAt = (deps.now?.() ?? new Date()).toISOString();
  const unsigned = parseInput(ApprovalDecision, { approver: approver.identity, comment: decision.comment, decidedAt }, 'approval decision');
  return { output: await signedDecision(waiting.executionArn, waiting.state, unsigned, deps.seal) };
}

export interface DecisionDeps {
  sfn: SFNClient;
  seal: ApprovalSeal;
  /** With `approval.separateDuties`: who started an execution (starter.ts), who may then not approve it. */
  starterOf?: (executionArn: string) => Promise<string>;
  now?: () => Date;
}

export interface DecisionRecorded {
  executionArn: string;
  state: string;
  approver: string;
  decision: 'approved' | 'rejected';
}

/**
 * Whom separated duties tell apart: an IAM user; an IAM Identity Center user (its role session is named after the
 * person, who cannot choose it); any other role as a whole, since whoever may assume it chooses the session's name.
 */
export function dutyHolder(identity: string): string {
  const session = /^(arn:aws[a-z-]*:sts::\d{12}:assumed-role\/([^/]+))\/.+$/.exec(identity);
  if (!session || session[2]!.startsWith('AWSReservedSSO_')) return identity;
  return session[1]!;
}

/** SendTaskSuccess/Failure answers fail this way once the task has ended: the decision came too late or twice. */
const ENDED_TASK_ERRORS = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

/**
 * Answers the approval an execution waits for, as `approver` (the approve function's authenticated caller): the
 * token is the one the execution's own history holds. With separated duties, whoever started the execution may
 * reject it but not approve it.
 */
export async function decide(executionArn: string, approver: Approver, decision: Decision, deps: DecisionDeps): Promise<DecisionRecorded> {
  parseExecutionArn(executionArn);
  const pending = await pendingApproval(deps.sfn, executionArn);
  if (!pending) throw new LifelineError('InvalidInput', `execution ${executionArn} is not waiting for an approval`);
  if (decision.approve && deps.starterOf) {
    const starter = await deps.starterOf(executionArn);
    if (dutyHolder(starter) === dutyHolder(approver.identity)) {
      const who = starter === approver.identity ? approver.identity : `${starter}, of the same role as ${approver.identity},`;
      throw new LifelineError(
        'NotAllowedToApprove',
        `${who} started ${executionArn}, and approval.separateDuties lets only someone else approve it (you may still reject it); nothing was decided`,
      );
    }
  }
  const answer = await answerDecision(pending, approver, decision, deps);
  try {
    if ('output' in answer) {
      await deps.sfn.send(new SendTaskSuccessCommand({ taskToken: pending.token, output: JSON.stringify(answer.output) }));
    } else {
      await deps.sfn.send(new SendTaskFailureCommand({ taskToken: pending.token, error: answer.error, cause: answer.cause }));
    }
  } catch (error) {
    const name = (error as Error).name;
    if (!ENDED_TASK_ERRORS.has(name)) throw error;
    throw new LifelineError('InvalidInput', `execution ${executionArn}: ${pending.state} no longer takes a decision (${name})`);
  }
  return { executionArn, state: pending.state, approver: approver.identity, decision: decision.approve ? 'approved' : 'rejected' };
}
