import { isDeepStrictEqual } from 'node:util';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, type HistoryEvent, type SFNClient } from '@aws-sdk/client-sfn';
import { LifelineError } from '../errors.js';
import { ApprovalDecision } from '../workflows/approval.js';
import { RestoreJob } from './job.js';

/**
 * The runner's own check, before it writes over a database in place, that a human approved exactly that: it trusts
 * no job for it, since whoever may run its task definition may write any job. Step Functions is asked (the task
 * role may read the restore workflow's executions only) whether the execution the job names runs, and its history
 * must show, newest first: RunRestore entered with this very job and an approval in its state, the Task left just
 * before it being VerifyApproval (which passes only the approve function's signed decisions), and the one before that
 * WaitForApproval, whose task succeeded with that approval decision (SendTaskSuccess's output, which only a human's
 * `lifeline approve` sends). Anything else refuses the job before anything is written.
 */

/** The states of restore.asl.json that the check reads. */
const RUN_RESTORE = 'RunRestore';
const WAIT_FOR_APPROVAL = 'WaitForApproval';
const VERIFY_APPROVAL = 'VerifyApproval';

/** GetExecutionHistory pages read at most: RunRestore and the approval come among an execution's newest events. */
const MAX_PAGES = 5;

function parsed(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** What the history holds of the approval of the RunRestore that runs now, newest first. */
interface Found {
  /** RunRestore's input: the execution's state as the runner was started. */
  runRestore?: Record<string, unknown>;
  /** The name of the Task state left last before it (VerifyApproval when a human approved). */
  before?: string;
  /** The name of the Task state left before that one (WaitForApproval when a human approved). */
  asked?: string;
  /** The answer of that Task (TaskSucceeded): its resource and output. */
  answer?: HistoryEvent['taskSucceededEventDetails'] | null;
}

function read(found: Found, event: HistoryEvent): boolean {
  if (!found.runRestore) {
    if (event.type === 'TaskStateEntered' && event.stateEnteredEventDetails?.name === RUN_RESTORE) {
      found.runRestore = (parsed(event.stateEnteredEventDetails.input) ?? {}) as Record<string, unknown>;
    }
    return false;
  }
  if (found.before === undefined) {
    if (event.type === 'TaskStateExited') found.before = event.stateExitedEventDetails?.name ?? '';
    return false;
  }
  if (found.before !== VERIFY_APPROVAL) return true;
  if (found.asked === undefined) {
    if (event.type === 'TaskStateExited') found.asked = event.stateExitedEventDetails?.name ?? '';
    return false;
  }
  // The event written just before a Task state is left is its answer.
  found.answer = event.type === 'TaskSucceeded' ? event.taskSucceededEventDetails : null;
  return true;
}

/**
 * Resolves with the approval when execution `job.execution` runs and approved this job in place; else rejects with
 * InvalidInput, saying why, before anything is written.
 */
export async function assertInPlaceApproved(sfn: SFNClient, job: RestoreJob, signal?: AbortSignal): Promise<ApprovalDecision> {
  const executionArn = job.execution;
  const refused = (why: string) =>
    new LifelineError(
      'InvalidInput',
      `inPlace: the runner restores over a database only for a running restore execution in which a human approved it; ${executionArn} ${why}; nothing was written to ${job.database}`,
    );
  const found: Found = {};
  try {
    const { status } = await sfn.send(new DescribeExecutionCommand({ executionArn }), { abortSignal: signal });
    if (status !== 'RUNNING') throw refused(`is ${status}, not running`);
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const answer = await sfn.send(
        new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, includeExecutionData: true, maxResults: 1000, nextToken }),
        { abortSignal: signal },
      );
      if ((answer.events ?? []).some((event) => read(found, event))) break;
      nextToken = answer.nextToken;
      if (!nextToken) break;
    }
  } catch (error) {
    if (error instanceof LifelineError) throw error;
    const { name, message } = error as Error;
    throw refused(`could not be read from Step Functions (${name}: ${message})`);
  }
  if (!found.runRestore) throw refused(`has not started ${RUN_RESTORE}`);
  if (found.before !== VERIFY_APPROVAL || found.asked !== WAIT_FOR_APPROVAL)
    throw refused(`entered ${RUN_RESTORE} after ${found.asked ?? found.before ?? 'nothing'}, not after a human's verified approval`);
  const details = found.answer;
  const decision = ApprovalDecision.safeParse(parsed(details?.output));
  if (details?.resourceType !== 'sns' || details.resource !== 'publish.waitForTaskToken' || !decision.success) {
    throw refused(`has no approval decision from ${WAIT_FOR_APPROVAL}'s task`);
  }
  const state = found.runRestore as { request?: { inPlace?: unknown }; target?: { job?: unknown }; approval?: unknown };
  const asked = RestoreJob.safeParse(state.target?.job);
  if (state.request?.inPlace !== true || !asked.success || !isDeepStrictEqual(asked.data, job)) {
    throw refused(`did not ask this job of ${RUN_RESTORE}`);
  }
  if (!isDeepStrictEqual(state.approval, decision.data)) throw refused(`carries another approval into ${RUN_RESTORE}`);
  return decision.data;
}
