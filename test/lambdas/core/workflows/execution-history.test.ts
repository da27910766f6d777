import { SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, describe, expect, it } from 'vitest';
import { inFlightSettlesAt, readExecution } from '../../../../lambdas/core/workflows/execution-history.js';
import { FakeStepFunctions } from '../../../support/execution-history.js';

const MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:lifeline-cutover';
const STEPS = 'arn:aws:lambda:us-east-1:000000000000:function:lifeline-cutover';
const arn = (name: string) => `arn:aws:states:us-east-1:000000000000:execution:lifeline-cutover:${name}`;
const started = new Date('2026-11-23T10:50:00.000Z');
const stepFunctions = new FakeStepFunctions();
const client = new SFNClient({ region: 'us-east-1' });
const lambda = (timeoutSeconds: number) => ({ kind: 'lambda' as const, functionArn: STEPS, timeoutSeconds });

afterAll(() => stepFunctions.reset());

describe("an ended execution's record, from Step Functions", () => {
  it('reads the whole history newest first, with its data, a thousand events a page', async () => {
    const run = stepFunctions.start(arn('long'), MACHINE, { application: 'shop-api' }, started);
    let state: Record<string, unknown> = { request: { n: 0 } };
    // A restart polled 400 times: 2,802 events (7 a poll, the start and the end).
    for (let n = 1; n <= 400; n += 1) {
      const next = { ...state, restartProgress: { n } };
      run.after(1).flow('Wait', 'WaitForRestart', state).task('CheckRestart', state, lambda(60), { output: next });
      state = next;
    }
    run.after(1).end('ABORTED');

    const record = await readExecution(client, arn('long'));
    expect(stepFunctions.historyRequests.filter((r) => r.executionArn === arn('long'))).toEqual([
      { executionArn: arn('long'), includeExecutionData: true, reverseOrder: true, maxResults: 1000, nextToken: undefined },
      { executionArn: arn('long'), includeExecutionData: true, reverseOrder: true, maxResults: 1000, nextToken: 'page-1000' },
      { executionArn: arn('long'), includeExecutionData: true, reverseOrder: true, maxResults: 1000, nextToken: 'page-2000' },
    ]);
    expect(record).toMatchObject({ status: 'ABORTED', stateMachineArn: MACHINE, lastState: 'CheckRestart', inFlight: undefined });
    expect(record.data).toEqual({ request: { n: 0 }, restartProgress: { n: 400 } });
    expect(record.entered).toHaveLength(800);
    expect(record.entered.slice(0, 2)).toEqual(['WaitForRestart', 'CheckRestart']);
  });

  it("takes the newest state's input or output, whichever came last, passing over data it cannot read", async () => {
    const run = stepFunctions
      .start(arn('latest'), MACHINE, {}, started)
      .task('ValidateInput', {}, lambda(60), { output: { request: 1 } })
      .task('Record', { request: 1 }, lambda(120), { output: { request: 1, recorded: 2 } });
    run.task('Freeze', { request: 1, recorded: 2 }, lambda(120), { running: true }).end('ABORTED');
    expect((await readExecution(client, arn('latest'))).data).toEqual({ request: 1, recorded: 2 });

    // Truncated data (not JSON) gives way to the event before it.
    const truncated = stepFunctions
      .start(arn('truncated'), MACHINE, {}, started)
      .task('ValidateInput', {}, lambda(60), { output: { request: 1 } })
      .task('Record', { request: 1 }, lambda(120), { running: true });
    truncated.events.at(-3)!.stateEnteredEventDetails!.input = '{"request": 1, "reco';
    truncated.end('FAILED', { error: 'States.DataLimitExceeded', cause: 'too large' });
    const record = await readExecution(client, arn('truncated'));
    expect(record).toMatchObject({
      data: { request: 1 },
      lastState: 'ValidateInput',
      error: 'States.DataLimitExceeded',
      cause: 'too large',
    });
  });

  it('names the task left running, since when and for how long; an answered or aborted-state task is none', async () => {
    const run = stepFunctions
      .start(arn('running'), MACHINE, {}, started)
      .task('ValidateInput', {}, lambda(60), { output: { request: 1 } })
      .after(2)
      .task('Freeze', { request: 1 }, lambda(120), { running: true })
      .after(5);
    run.events.push({ ...run.events.at(-1)!, id: run.events.length + 1, type: 'TaskStateAborted', stateEnteredEventDetails: undefined });
    run.end('ABORTED');
    const record = await readExecution(client, arn('running'));
    expect(record.inFlight).toEqual({ state: 'Freeze', scheduledAt: new Date(started.getTime() + 2000), timeoutSeconds: 120 });
    // The step stops by its state's timeout: nothing it does lands later.
    expect(inFlightSettlesAt(record, new Date(started.getTime() + 30_000))).toEqual(new Date(started.getTime() + 122_000));
    expect(inFlightSettlesAt(record, new Date(started.getTime() + 200_000))).toEqual(new Date(started.getTime() + 200_000));

    stepFunctions
      .start(arn('answered'), MACHINE, {}, started)
      .task('ValidateInput', {}, lambda(60), { output: { request: 1 } })
      .task('Swap', { request: 1 }, lambda(60), { failed: { error: 'States.Timeout', cause: '' } })
      .end('ABORTED');
    expect((await readExecution(client, arn('answered'))).inFlight).toBeUndefined();
  });

  it('keeps what a .sync task submitted (a child execution) under its state', async () => {
    const child = 'arn:aws:states:us-east-1:000000000000:execution:lifeline-cutover:parent';
    stepFunctions
      .start(arn('parent'), MACHINE, {}, started)
      .task(
        'HandOver',
        { handOver: {} },
        {
          kind: 'service',
          resourceType: 'states',
          resource: 'startExecution.sync:2',
          timeoutSeconds: 7500,
          submitted: { ExecutionArn: child },
        },
        { running: true },
      )
      .end('ABORTED');
    const record = await readExecution(client, arn('parent'));
    expect(record.submitted).toEqual({ HandOver: { ExecutionArn: child } });
    expect(record.inFlight).toMatchObject({ state: 'HandOver', timeoutSeconds: 7500 });
  });

  it("reports a running or succeeded execution's status as Step Functions gives it", async () => {
    stepFunctions.start(arn('still-running'), MACHINE, {}, started).task('ValidateInput', {}, lambda(60), { running: true });
    expect((await readExecution(client, arn('still-running'))).status).toBe('RUNNING');
    stepFunctions.start(arn('done'), MACHINE, {}, started).end('SUCCEEDED', { output: {} });
    expect((await readExecution(client, arn('done'))).status).toBe('SUCCEEDED');
  });
});
