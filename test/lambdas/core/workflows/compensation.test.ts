import { SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  compensationPrelude,
  type CompensationDeps,
  type CompensationNotice,
  type CompensationPrelude,
} from '../../../../lambdas/core/workflows/compensation.js';
import { FakeStepFunctions, type TaskResource } from '../../../support/execution-history.js';

const MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:lifeline-sample';
const STEPS: TaskResource = {
  kind: 'lambda',
  functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:lifeline-sample',
  timeoutSeconds: 60,
};
const State = z.object({ request: z.object({ database: z.string() }), created: z.string().optional() });

const stepFunctions = new FakeStepFunctions();
afterAll(() => stepFunctions.reset());

let notices: CompensationNotice[];
let executions = 0;
const deps: CompensationDeps = {
  stepFunctions: new SFNClient({}),
  notify: (notice) => {
    notices.push(notice);
    return Promise.resolve();
  },
};
const prelude: CompensationPrelude<z.infer<typeof State>> = {
  workflow: 'sample',
  firstChange: { state: 'Create', before: 'created nothing' },
  schema: State,
  undoneBy: 'its Cleanup finished',
  byHand: 'delete what it created by hand',
};

/** An execution that read its request, then entered Create with `data` (and Cleanup, when `cleanup` says what it recorded). */
function execution(data: unknown, end: 'ABORTED' | 'FAILED' | 'SUCCEEDED' = 'ABORTED', cleanup?: unknown) {
  const executionArn = `${MACHINE.replace('stateMachine', 'execution')}:run-${++executions}`;
  const run = stepFunctions.start(executionArn, MACHINE, data, new Date('2026-11-23T10:50:00.000Z'));
  run.after(1).task('Read', data, STEPS, { output: data });
  run.after(1).task('Create', data, STEPS, { output: data });
  if (cleanup !== undefined) run.after(1).task('Cleanup', data, STEPS, { output: cleanup });
  run.after(1).end(end);
  return executionArn;
}

beforeEach(() => {
  notices = [];
});

describe('the prelude every compensation shares', () => {
  it('hands over the parsed state of an execution that ended after its first change, with how and where it ended', async () => {
    const data = { request: { database: 'shop' }, created: 'shop_restored' };
    const arn = execution(data);
    const start = await compensationPrelude(arn, deps, prelude);
    expect(start).toMatchObject({ state: data, how: 'was stopped', at: 'Create' });
    expect(notices).toEqual([]);
  });

  it('leaves alone an execution that succeeded, or ended before its first change', async () => {
    const succeeded = execution({ request: { database: 'shop' } }, 'SUCCEEDED');
    expect(await compensationPrelude(succeeded, deps, prelude)).toMatchObject({ result: { status: 'SUCCEEDED', compensated: false } });

    const early = stepFunctions.start(`${MACHINE.replace('stateMachine', 'execution')}:early`, MACHINE, {}, new Date());
    early.after(1).task('Read', {}, STEPS, { output: {} }).after(1).end('ABORTED');
    expect(await compensationPrelude(early.executionArn, deps, prelude)).toEqual({
      result: {
        executionArn: early.executionArn,
        status: 'ABORTED',
        compensated: false,
        reason: 'it ended before Create: it created nothing',
        notice: null,
      },
    });
    expect(notices).toEqual([]);
  });

  it('leaves alone an execution whose Cleanup ran, unless it recorded a cleanupError; afterFailure replaces that rule', async () => {
    const request = { database: 'shop' };
    const cleaned = execution({ request }, 'FAILED', { request, failure: { error: 'RestoreFailed' } });
    expect(await compensationPrelude(cleaned, deps, prelude)).toMatchObject({
      result: { compensated: false, reason: 'its own Cleanup ran' },
    });

    const cleanupFailed = execution({ request }, 'FAILED', { request, failure: { error: 'RestoreFailed' }, cleanupError: { Error: 'x' } });
    expect(await compensationPrelude(cleanupFailed, deps, prelude)).toMatchObject({ state: { request }, at: 'Cleanup' });

    const concluded = await compensationPrelude(cleaned, deps, {
      ...prelude,
      afterFailure: (record, data, ended) =>
        Promise.resolve({
          executionArn: record.executionArn,
          status: record.status,
          compensated: true,
          reason: `${ended.how} in ${ended.at} after ${JSON.stringify(data.failure)}`,
          notice: null,
        }),
    });
    expect(concluded).toMatchObject({ result: { reason: 'failed in Cleanup after {"error":"RestoreFailed"}' } });
    expect(notices).toEqual([]);
  });

  it('pages when the recorded state cannot be read, naming the field, what to undo by hand and the execution', async () => {
    const arn = execution({ request: { database: 7 } }, 'FAILED');
    const start = await compensationPrelude(arn, deps, prelude);
    expect(start).toMatchObject({ result: { status: 'FAILED', compensated: true, reason: 'its recorded state could not be read' } });
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({ subject: 'Lifeline: ACTION NEEDED: a sample failed, and what it left is unknown', page: true });
    expect(notices[0]!.message).toMatch(
      /^ACTION NEEDED: A sample execution failed \(FAILED\) in Create before its Cleanup finished, and its recorded state could not be read \(request\.database: .+\): delete what it created by hand\. Execution .+:run-\d+\.$/,
    );
  });
});
