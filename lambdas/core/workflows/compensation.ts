import type { SFNClient } from '@aws-sdk/client-sfn';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { setTimeout as delay } from 'node:timers/promises';
import type { z } from 'zod';
import { describeIssues } from '../validation.js';
import { inFlightSettlesAt, isUnsuccessful, readExecution, type ExecutionRecord } from './execution-history.js';
import { notificationSubject } from './notifications.js';

/**
 * What the workflows' compensations share (restore/, pitr/ and cutover/compensation.ts). StopExecution
 * runs no Catch, a timed-out execution none either, and a failure such as States.DataLimitExceeded skips every Catch:
 * such an execution never reaches the states that undo what it did. EventBridge reports its end, and the workflow's
 * steps function then does what the execution's own cleanup would have, from what Step Functions recorded of it.
 */

/** The steps functions' variable naming the topic a compensation notifies (the vault's alarm topic). */
export const ALARM_TOPIC_VARIABLE = 'LIFELINE_ALARM_TOPIC_ARN';

/** What a compensation tells people; `page`: a person must act. */
export interface CompensationNotice {
  subject: string;
  message: string;
  page: boolean;
}

export interface CompensationDeps {
  stepFunctions: SFNClient;
  /** Sends the notice (the handler publishes it to the alarm topic). */
  notify: (notice: CompensationNotice) => Promise<void>;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

/** The compensate step's result: what was found, and what was done about it. */
export interface CompensationResult {
  executionArn: string;
  /** The execution's status as DescribeExecution gave it. */
  status: string;
  /** Whether anything was left to undo (and so tried, and notified). */
  compensated: boolean;
  /** Why nothing was done, or what was. */
  reason: string;
  notice: CompensationNotice | null;
}

/** How an unsuccessful execution ended, in words. */
export function endedHow(record: ExecutionRecord): string {
  switch (record.status) {
    case 'ABORTED':
      return 'was stopped';
    case 'TIMED_OUT':
      return 'timed out';
    default:
      return `failed${record.error ? ` with ${record.error}` : ''}`;
  }
}

/**
 * The execution, read only when it ended without succeeding: a running, succeeded or redrive-pending execution is
 * left alone whatever the event said (DescribeExecution is asked again; EventBridge delivers at least once, and an
 * execution may be redriven).
 */
export async function endedExecution(
  executionArn: string,
  deps: CompensationDeps,
): Promise<{ record: ExecutionRecord } | { leftAlone: CompensationResult }> {
  const record = await readExecution(deps.stepFunctions, executionArn);
  if (isUnsuccessful(record.status)) return { record };
  return {
    leftAlone: {
      executionArn,
      status: record.status,
      compensated: false,
      reason: `the execution is ${record.status}: only a stopped, timed-out or failed execution is compensated`,
      notice: null,
    },
  };
}

/** A result for an execution that left nothing to undo. */
export function nothingToUndo(record: ExecutionRecord, reason: string): CompensationResult {
  return { executionArn: record.executionArn, status: record.status, compensated: false, reason, notice: null };
}

/** How an execution ended, in words (endedHow), and in which state (`at`). */
export interface Ended {
  how: string;
  at: string;
}

export interface CompensationPrelude<T> {
  /** The workflow as notices name it: `restore`, `PITR`, `cutover`. */
  workflow: string;
  /** The first state that creates or changes anything (every state before it only reads), and what an execution that never entered it did: `created nothing`. */
  firstChange: { state: string; before: string };
  /** The schema of the execution's recorded state. */
  schema: z.ZodType<T>;
  /** Where its own undoing ends, as in "before its Cleanup finished". */
  undoneBy: string;
  /** What a person checks and undoes by hand when the recorded state cannot be read. */
  byHand: string;
  /**
   * An execution that recorded a `failure` ran its own failure path. By default that is Cleanup, which leaves nothing
   * to undo unless it recorded a `cleanupError`; this replaces that rule.
   */
  afterFailure?: (record: ExecutionRecord, data: Record<string, unknown>, ended: Ended) => Promise<CompensationResult>;
}

/**
 * What every compensation does first: reads the ended execution (endedExecution), leaves it alone if it changed nothing
 * or its own failure path ran, and parses its recorded state, or notifies that what it left is unknown (a page). A
 * `result` is the compensation's answer; else the rest is the workflow's to undo.
 */
export async function compensationPrelude<T>(
  executionArn: string,
  deps: CompensationDeps,
  prelude: CompensationPrelude<T>,
): Promise<{ result: CompensationResult } | ({ record: ExecutionRecord; state: T } & Ended)> {
  const read = await endedExecution(executionArn, deps);
  if ('leftAlone' in read) return { result: read.leftAlone };
  const { record } = read;
  const { state: first, before } = prelude.firstChange;
  if (!record.entered.includes(first)) return { result: nothingToUndo(record, `it ended before ${first}: it ${before}`) };
  const data = record.data ?? {};
  const ended = { how: endedHow(record), at: record.lastState ?? 'an unknown state' };
  if ('failure' in data) {
    if (prelude.afterFailure) return { result: await prelude.afterFailure(record, data, ended) };
    if (!('cleanupError' in data)) return { result: nothingToUndo(record, 'its own Cleanup ran') };
  }
  const parsed = prelude.schema.safeParse(data);
  if (parsed.success) return { record, state: parsed.data, ...ended };
  const { workflow } = prelude;
  const notice = compensationNotice(
    `a ${workflow} ${ended.how}, and what it left is unknown`,
    `A ${workflow} execution ${ended.how} (${record.status}) in ${ended.at} before ${prelude.undoneBy}, and its recorded state could not be read (${describeIssues(parsed.error).join('; ')}): ${prelude.byHand}. Execution ${executionArn}.`,
    true,
  );
  await deps.notify(notice);
  return { result: { executionArn, status: record.status, compensated: true, reason: 'its recorded state could not be read', notice } };
}

/**
 * Waits until a task the execution left running in one of `states` can change nothing more (its TimeoutSeconds after
 * it was scheduled: each step stops at its deadline before that), so that its late effect cannot land after the
 * compensation undid it. Returns a sentence for the notice, or '' when nothing was waited for.
 */
export async function waitForTaskInFlight(record: ExecutionRecord, states: readonly string[], deps: CompensationDeps): Promise<string> {
  const task = record.inFlight;
  if (!task || !states.includes(task.state)) return '';
  const now = (deps.now ?? (() => new Date()))();
  const waitMs = inFlightSettlesAt(record, now).getTime() - now.getTime();
  if (waitMs <= 0) return '';
  await (deps.sleep ?? ((ms: number) => delay(ms)))(waitMs);
  return ` Waited ${Math.ceil(waitMs / 1000)} s for ${task.state}, left running, to pass its time limit first.`;
}

/** The notice, its subject within SNS's limit; a page leads with ACTION NEEDED. */
export function compensationNotice(what: string, message: string, page: boolean): CompensationNotice {
  return {
    subject: notificationSubject(page ? `ACTION NEEDED: ${what}` : what),
    message: `${page ? 'ACTION NEEDED: ' : ''}${message}`,
    page,
  };
}

/** Publishes notices to `topicArn`: the alarm topic, whose subscribers are the people who act. */
export function publishNotices(sns: SNSClient, topicArn: string): (notice: CompensationNotice) => Promise<void> {
  return async ({ subject, message }) => {
    await sns.send(new PublishCommand({ TopicArn: topicArn, Subject: subject, Message: message }));
  };
}
