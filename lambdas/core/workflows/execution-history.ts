import { DescribeExecutionCommand, GetExecutionHistoryCommand, type HistoryEvent, type SFNClient } from '@aws-sdk/client-sfn';
import { z } from 'zod';
import { LifelineError } from '../errors.js';
import type { ExecutionStatusLookup } from '../postgres/databases.js';

/**
 * An execution as Step Functions itself keeps it, read after it ended: its status (DescribeExecution) and, from its
 * history (GetExecutionHistory with its data, newest first, every page), the state data it last recorded, the states
 * it entered and the task it left running. What a stopped execution never got to say is here, and nowhere else.
 */

/** An execution's ARN, as EventBridge's `Step Functions Execution Status Change` event gives it. */
export const ExecutionArn = z
  .string()
  .regex(/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_-]{1,80}:[^:\s]{1,80}$/, 'must be a Step Functions execution ARN');

/** The statuses with which an execution has ended without succeeding. */
export const UNSUCCESSFUL_STATUSES = ['FAILED', 'TIMED_OUT', 'ABORTED'] as const;
export type UnsuccessfulStatus = (typeof UNSUCCESSFUL_STATUSES)[number];

export function isUnsuccessful(status: string | undefined): status is UnsuccessfulStatus {
  return (UNSUCCESSFUL_STATUSES as readonly string[]).includes(status ?? '');
}

/** A task the execution had started and not heard back from when it ended: it may still be running. */
export interface TaskInFlight {
  state: string;
  scheduledAt: Date;
  /** The state's TimeoutSeconds for that attempt, as Step Functions scheduled it; undefined without one. */
  timeoutSeconds: number | undefined;
}

export interface ExecutionRecord {
  executionArn: string;
  stateMachineArn: string;
  /** DescribeExecution's status: RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED or PENDING_REDRIVE. */
  status: string;
  /** The execution's own error and cause, when it ended with one. */
  error: string | undefined;
  cause: string | undefined;
  /**
   * The state data the execution last recorded: the newest state's input as it entered, or its output as it left,
   * whichever came later (each holds everything the steps before it put in the state); undefined before any state.
   */
  data: Record<string, unknown> | undefined;
  /** The state `data` was recorded at. */
  lastState: string | undefined;
  /** Every state it entered, oldest first (a loop's states once per pass). */
  entered: string[];
  /** The task it left running, if any. */
  inFlight: TaskInFlight | undefined;
  /** What each `.sync` task submitted (a child execution's ExecutionArn, an ECS task), by state name, the latest. */
  submitted: Record<string, Record<string, unknown>>;
}

/** The most pages read (1,000 events each): Step Functions keeps at most 25,000 events of an execution. */
const MAX_PAGES = 30;
const PAGE_SIZE = 1000;

function parseObject(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    // Truncated or not JSON: an older event holds the data.
    return undefined;
  }
}

/**
 * A task's answers: after one, nothing of that attempt runs on (a step stops before its state's timeout). An abort of
 * the state (TaskStateAborted) is none: StopExecution does not stop a Lambda that runs.
 */
const TASK_ANSWERED = new Set([
  'TaskSucceeded',
  'TaskFailed',
  'TaskTimedOut',
  'TaskStartFailed',
  'TaskSubmitFailed',
  'LambdaFunctionSucceeded',
  'LambdaFunctionFailed',
  'LambdaFunctionTimedOut',
  'LambdaFunctionStartFailed',
  'LambdaFunctionScheduleFailed',
]);

/** The whole history, newest first. */
async function historyOf(client: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const answer = await client.send(
      new GetExecutionHistoryCommand({ executionArn, includeExecutionData: true, reverseOrder: true, maxResults: PAGE_SIZE, nextToken }),
    );
    events.push(...(answer.events ?? []));
    nextToken = answer.nextToken;
    if (!nextToken) return events;
  }
  throw new LifelineError('InvalidInput', `execution ${executionArn} has more than ${MAX_PAGES * PAGE_SIZE} history events`);
}

/** The execution's status and what its history recorded. */
export async function readExecution(client: SFNClient, executionArn: string): Promise<ExecutionRecord> {
  const described = await client.send(new DescribeExecutionCommand({ executionArn }));
  const events = await historyOf(client, executionArn);

  let data: Record<string, unknown> | undefined;
  let lastState: string | undefined;
  let inFlight: TaskInFlight | undefined;
  let settled = false;
  const entered: string[] = [];
  const submitted: Record<string, Record<string, unknown>> = {};
  // Newest first, a task's events come before the entry of the state they belong to.
  let submission: Record<string, unknown> | undefined;
  events.forEach((event, index) => {
    const { type = '' } = event;
    const enteredState = event.stateEnteredEventDetails;
    const exitedState = event.stateExitedEventDetails;
    if (data === undefined && (enteredState || exitedState)) {
      data = parseObject(enteredState ? enteredState.input : exitedState?.output);
      if (data !== undefined) lastState = (enteredState ?? exitedState)?.name;
    }
    if (enteredState?.name !== undefined) {
      entered.unshift(enteredState.name);
      if (submission) submitted[enteredState.name] ??= submission;
      submission = undefined;
    }
    if (type === 'TaskSubmitted') submission ??= parseObject(event.taskSubmittedEventDetails?.output);
    if (settled) return;
    // The first of these, newest first, says whether a task was left running: an answer or a state left means none.
    if (TASK_ANSWERED.has(type) || exitedState) settled = true;
    const scheduled = event.taskScheduledEventDetails ?? event.lambdaFunctionScheduledEventDetails;
    if (!settled && scheduled && event.timestamp) {
      const state = events.slice(index).find((e) => e.stateEnteredEventDetails)?.stateEnteredEventDetails?.name ?? 'unknown';
      inFlight = { state, scheduledAt: event.timestamp, timeoutSeconds: scheduled.timeoutInSeconds };
      settled = true;
    }
  });
  return {
    executionArn,
    stateMachineArn: described.stateMachineArn ?? '',
    status: described.status ?? 'UNKNOWN',
    error: described.error,
    cause: described.cause,
    data,
    lastState,
    entered,
    inFlight,
    submitted,
  };
}

/**
 * When the task left running can do nothing more: its scheduling plus its TimeoutSeconds (each Lambda step stops
 * before its state's timeout; Step Functions stops a `.sync` task); `now` for none, or one without a timeout.
 */
export function inFlightSettlesAt(record: ExecutionRecord, now: Date): Date {
  const task = record.inFlight;
  if (!task || task.timeoutSeconds === undefined) return now;
  const at = new Date(task.scheduledAt.getTime() + task.timeoutSeconds * 1000);
  return at > now ? at : now;
}

/**
 * Step Functions' status of an execution (DescribeExecution), undefined for one it does not know (its history has
 * expired), for whether a mark or a hold it left still stands (postgres/databases.ts markStanding).
 */
export function executionStatusLookup(client: SFNClient): ExecutionStatusLookup {
  return async (executionArn, abortSignal) => {
    try {
      const described = await client.send(new DescribeExecutionCommand({ executionArn }), { abortSignal });
      if (!described?.status) throw new Error(`DescribeExecution of ${executionArn} gave no status`);
      return described.status;
    } catch (error) {
      if ((error as Error).name === 'ExecutionDoesNotExist') return undefined;
      throw error;
    }
  };
}
