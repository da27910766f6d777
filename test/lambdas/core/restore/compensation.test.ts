import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CreatedTarget, RestoreRequest } from '../../../../lambdas/core/restore/state.js';
import { runRestoreStep, type RestoreStepDeps } from '../../../../lambdas/core/restore/steps.js';
import type { CompensationNotice, CompensationResult } from '../../../../lambdas/core/workflows/compensation.js';
import { FakeStepFunctions, type RecordedExecution } from '../../../support/execution-history.js';
import { databaseComment, RESTORE_GROUP_NETWORK_STEPS, restoreStepsFixture } from '../../../support/restore-steps.js';
import { sharedPostgres } from '../../../support/shared.js';

const ACCOUNT = 'arn:aws:states:us-east-1:000000000000';
const MACHINE = `${ACCOUNT}:stateMachine:lifeline-restore`;
const STEPS = 'arn:aws:lambda:us-east-1:000000000000:function:lifeline-restore';
const ADMIN_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:lifeline/compensation-admin-AbC123';

const pg = sharedPostgres();
/** This file's own database label, so that its target names meet no other file's in the shared cluster. */
const label = `comp${randomBytes(3).toString('hex')}`;
// networkDeps: the steps function in the database's network, as the compensation invokes it.
const { deps: networkDeps, backup } = restoreStepsFixture(pg, label, { secretArn: ADMIN_SECRET, approvalTimeoutSeconds: 3600 });
const secrets = mockClient(SecretsManagerClient);
const lambda = mockClient(LambdaClient);
const stepFunctions = new FakeStepFunctions();
const created: string[] = [];

let notices: CompensationNotice[];
let invoked: unknown[];
let waits: number[];
/** What happens while the compensation waits: a step left running may finish then. */
let whileWaiting: () => Promise<void>;
let now: Date;

/** The steps function outside any VPC, which EventBridge targets. */
const mainDeps = (): RestoreStepDeps => ({
  ...networkDeps,
  now: () => now,
  compensation: {
    stepFunctions: new SFNClient({}),
    lambda: new LambdaClient({}),
    notify: (notice) => {
      notices.push(notice);
      return Promise.resolve();
    },
    sleep: async (ms) => {
      waits.push(ms);
      await whileWaiting();
    },
  },
});

/** EventBridge's event for the execution, through the steps function's own entry. */
const compensate = (executionArn: string, status = 'ABORTED') =>
  runRestoreStep({ step: 'compensate', executionArn, status }, mainDeps()) as Promise<CompensationResult>;

const comment = (database: string) => databaseComment(pg, database);

const lambdaStep = (timeoutSeconds: number) => ({ kind: 'lambda' as const, functionArn: STEPS, timeoutSeconds });
const invokeStep = (timeoutSeconds: number) => ({ kind: 'service' as const, resourceType: 'lambda', resource: 'invoke', timeoutSeconds });

interface Run {
  run: RecordedExecution;
  executionArn: string;
  request: RestoreRequest;
  state: Record<string, unknown>;
}

/** An execution of restore.asl.json up to ResolveBackup's end, its ValidateInput the real step's. */
async function begin(name: string, input: Record<string, unknown> = {}): Promise<Run> {
  const executionArn = `${ACCOUNT}:execution:lifeline-restore:${label}-${name}`;
  const startedAt = new Date('2026-11-23T10:50:00.000Z');
  const executionInput = { database: label, ...input };
  const run = stepFunctions.start(executionArn, MACHINE, executionInput, startedAt);
  const execution = { id: executionArn, startedAt: startedAt.toISOString() };
  const { request } = (await runRestoreStep({ step: 'validateInput', input: executionInput, execution }, networkDeps)) as {
    request: RestoreRequest;
  };
  run.after(1).task('ValidateInput', executionInput, lambdaStep(60), { output: { request } });
  const state = { request, backup };
  run.after(1).task('ResolveBackup', { request }, lambdaStep(300), { output: state });
  return { run, executionArn, request, state };
}

/** CreateTarget, the real step in the database's network, as the execution runs it. */
async function createTarget({ request }: Run): Promise<CreatedTarget> {
  const target = (await runRestoreStep({ step: 'createTarget', request, backup }, networkDeps)) as CreatedTarget;
  created.push(target.database);
  return target;
}

/** The execution on, through CreateTarget (the real step) and RestoresInPlace. */
async function throughCreateTarget(current: Run): Promise<Run & { target: CreatedTarget }> {
  const target = await createTarget(current);
  const state = { ...current.state, target };
  current.run
    .after(1)
    .task('CreateTarget', current.state, invokeStep(300), { output: state, result: { StatusCode: 200, Payload: target } });
  current.run.flow('Choice', 'RestoresInPlace', state);
  return { ...current, state, target };
}

const runRestore = { kind: 'service' as const, resourceType: 'ecs', resource: 'runTask.sync', timeoutSeconds: 86_400 };

beforeAll(() => {
  const value = { host: pg.host, port: pg.port, username: pg.user, password: pg.password, dbname: backup.source.databaseName };
  secrets.on(GetSecretValueCommand, { SecretId: ADMIN_SECRET }).resolves({ ARN: ADMIN_SECRET, SecretString: JSON.stringify(value) });
  // The network's steps function, invoked as Lambda runs it: its result as the payload, or its error as Lambda reports one.
  lambda.on(InvokeCommand).callsFake(async ({ FunctionName, Payload }) => {
    const event: unknown = JSON.parse(new TextDecoder().decode(Payload as Uint8Array));
    invoked.push({ FunctionName, event });
    if (FunctionName !== RESTORE_GROUP_NETWORK_STEPS)
      throw Object.assign(new Error(`Function not found: ${FunctionName}`), { name: 'ResourceNotFoundException' });
    try {
      const result = await runRestoreStep(event, networkDeps);
      return { StatusCode: 200, ExecutedVersion: '$LATEST', Payload: new TextEncoder().encode(JSON.stringify(result)) };
    } catch (error) {
      const payload = { errorType: (error as Error).name, errorMessage: (error as Error).message, trace: [] };
      return {
        StatusCode: 200,
        FunctionError: 'Unhandled',
        ExecutedVersion: '$LATEST',
        Payload: new TextEncoder().encode(JSON.stringify(payload)),
      };
    }
  });
});

beforeEach(() => {
  notices = [];
  invoked = [];
  waits = [];
  whileWaiting = () => Promise.resolve();
  now = new Date('2026-11-23T11:00:00.000Z');
});

afterAll(async () => {
  for (const name of created) await pg.query('postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  secrets.reset();
  lambda.reset();
  stepFunctions.reset();
});

describe('the compensation of a restore execution that ended without its Cleanup', () => {
  it('drops the database a restore stopped after CreateTarget created, and a second delivery changes nothing', async () => {
    const current = await throughCreateTarget(await begin('stopped-restoring', { target: { database: `${label}_stopped` } }));
    current.run
      .after(1)
      .task(
        'RunRestore',
        current.state,
        { ...runRestore, submitted: { TaskArn: 'arn:aws:ecs:us-east-1:000000000000:task/runner/1' } },
        { running: true },
      )
      .after(60)
      .end('ABORTED');
    // Another execution's database, on the same server, is not this compensation's.
    const other = await createTarget(await begin('bystander', { target: { database: `${label}_bystander` } }));
    expect(await comment(current.target.database)).toBe(`lifeline restore ${current.executionArn}`);

    const result = await compensate(current.executionArn);
    expect(await comment(current.target.database)).toBeUndefined();
    expect(await comment(other.database)).toMatch(/^lifeline restore .*-bystander$/);
    expect(result).toMatchObject({ status: 'ABORTED', compensated: true, reason: `dropped ${current.target.database}` });
    // In the network's steps function, as Cleanup runs there, with what the execution had recorded.
    expect(invoked).toEqual([{ FunctionName: RESTORE_GROUP_NETWORK_STEPS, event: { step: 'releaseTarget', record: current.state } }]);
    expect(waits).toEqual([]);
    expect(notices).toEqual([
      {
        subject: `Lifeline: restore of ${label} was stopped: dropped ${current.target.database}`,
        message:
          `Restore of ${label} was stopped (ABORTED) in RunRestore before its Cleanup finished; this compensation did what Cleanup does. ` +
          `Dropped ${current.target.database}, which this execution had created. Execution ${current.executionArn}.`,
        page: false,
      },
    ]);

    // EventBridge delivers at least once.
    const again = await compensate(current.executionArn);
    expect(again.notice?.message).toContain(`${current.target.database}, which this execution had created, is gone already.`);
    expect(again.notice?.page).toBe(false);
    expect(await comment(other.database)).toMatch(/^lifeline restore .*-bystander$/);
  });

  it('waits for a CreateTarget left running to pass its time limit, then drops the database it created unreported', async () => {
    const current = await begin('stopped-creating', { target: { database: `${label}_late` } });
    current.run.after(1).task('CreateTarget', current.state, invokeStep(300), { running: true });
    const scheduledAt = current.run.events.at(-2)!.timestamp!;
    current.run.after(10).end('ABORTED');
    now = new Date(scheduledAt.getTime() + 10_000);
    // Its Lambda goes on after StopExecution, and creates the database while the compensation waits.
    whileWaiting = async () => {
      await createTarget(current);
    };

    const result = await compensate(current.executionArn);
    expect(waits).toEqual([290_000]);
    expect(await comment(`${label}_late`)).toBeUndefined();
    expect(result.notice).toMatchObject({
      page: false,
      message:
        `Restore of ${label} was stopped (ABORTED) in CreateTarget before its Cleanup finished; this compensation did what Cleanup does. ` +
        `Waited 290 s for CreateTarget, left running, to pass its time limit first. Dropped ${label}_late, which this execution's ` +
        `CreateTarget had created without reporting it. Execution ${current.executionArn}.`,
    });
  });

  it('keeps the database of a restore stopped during HandOver, saying which cutover decides what the application uses', async () => {
    const current = await throughCreateTarget(await begin('stopped-handing-over', { target: { database: `${label}_handed_over` } }));
    const handOver = {
      application: 'shop-api',
      database: { serverSecretArn: ADMIN_SECRET, name: current.target.database, server: current.target.server },
      origin: { workflow: 'restore', executionArn: current.executionArn, backupKey: backup.key },
    };
    const state = { ...current.state, restore: { taskArn: 'arn:aws:ecs:us-east-1:000000000000:task/runner/2' }, handOver };
    const child = `${ACCOUNT}:execution:lifeline-cutover:${label}-stopped-handing-over`;
    current.run
      .after(1)
      .flow('Pass', 'PrepareHandOver', current.state, state)
      .task(
        'HandOver',
        state,
        {
          kind: 'service',
          resourceType: 'states',
          resource: 'startExecution.sync:2',
          timeoutSeconds: 7500,
          submitted: { ExecutionArn: child },
        },
        { running: true },
      )
      .after(30)
      .end('ABORTED');

    const result = await compensate(current.executionArn);
    expect(await comment(current.target.database)).toBe(`lifeline restore ${current.executionArn}`);
    expect(result).toMatchObject({ compensated: true, reason: `kept ${current.target.database}` });
    expect(result.notice).toEqual({
      subject: `Lifeline: restore of ${label} was stopped: kept ${current.target.database}`,
      message:
        `Restore of ${label} was stopped (ABORTED) in HandOver before its Cleanup finished; this compensation did what Cleanup does. ` +
        `Kept ${current.target.database}: it was handed over to cutover of shop-api. Which database shop-api uses is the cutover's to say ` +
        `(execution ${child}): its own outcome, or its compensation when it did not succeed, reports it. Execution ${current.executionArn}.`,
      page: false,
    });
  });

  it('drops the database of a restore that failed past every Catch (States.DataLimitExceeded), not of one whose Cleanup ran', async () => {
    const tooLarge = await throughCreateTarget(await begin('too-large', { target: { database: `${label}_too_large` } }));
    tooLarge.run
      .after(1)
      .task('RunRestore', tooLarge.state, runRestore, { output: { ...tooLarge.state, restore: { taskArn: 'x' } } })
      .task('ValidateRestore', { ...tooLarge.state, restore: { taskArn: 'x' } }, invokeStep(900), { running: true });
    // Its answer was too large for the state: the task succeeded, the state never exited.
    tooLarge.run.events.push({
      ...tooLarge.run.events.at(-1)!,
      id: tooLarge.run.events.length + 1,
      type: 'TaskSucceeded',
      taskSucceededEventDetails: { resourceType: 'lambda', resource: 'invoke', output: '{"Payload":', outputDetails: { truncated: true } },
    });
    tooLarge.run.end('FAILED', {
      error: 'States.DataLimitExceeded',
      cause: 'The state/task returned a result with a size exceeding the maximum',
    });
    const result = await compensate(tooLarge.executionArn, 'FAILED');
    expect(await comment(tooLarge.target.database)).toBeUndefined();
    expect(result.notice?.message).toMatch(
      new RegExp(`^Restore of ${label} failed with States.DataLimitExceeded \\(FAILED\\) in ValidateRestore before its Cleanup finished;`),
    );

    // Cleanup ran (keepOnFailure kept the database): the execution's own end stands.
    const cleaned = await throughCreateTarget(await begin('cleaned-up', { target: { database: `${label}_kept` }, keepOnFailure: true }));
    const failure = {
      error: 'RestoreFailed',
      cause: 'the runner stopped',
      dropped: null,
      kept: cleaned.target.database,
      subject: 's',
      message: 'm',
    };
    const failed = { ...cleaned.state, error: { Error: 'States.TaskFailed', Cause: '{}' } };
    cleaned.run
      .after(1)
      .task('RunRestore', cleaned.state, runRestore, { failed: { error: 'States.TaskFailed', cause: '{}' } })
      .task('Cleanup', failed, invokeStep(300), { output: { ...failed, failure } })
      .task(
        'NotifyFailure',
        { ...failed, failure },
        { kind: 'service', resourceType: 'sns', resource: 'publish', timeoutSeconds: 60 },
        {
          output: { ...failed, failure },
        },
      )
      .fail('Failed', { ...failed, failure }, 'RestoreFailed', 'the runner stopped');
    invoked = [];
    expect(await compensate(cleaned.executionArn, 'FAILED')).toMatchObject({
      compensated: false,
      reason: 'its own Cleanup ran',
      notice: null,
    });
    expect(await comment(cleaned.target.database)).toBe(`lifeline restore ${cleaned.executionArn}`);
    expect(invoked).toEqual([]);
    expect(notices).toHaveLength(1);
  });

  it('never acts on a running or succeeded execution, whatever the event says, nor on one that ended before CreateTarget', async () => {
    const running = await throughCreateTarget(await begin('redriven', { target: { database: `${label}_running` } }));
    running.run.after(1).task('RunRestore', running.state, runRestore, { running: true });
    expect(await compensate(running.executionArn)).toEqual({
      executionArn: running.executionArn,
      status: 'RUNNING',
      compensated: false,
      reason: 'the execution is RUNNING: only a stopped, timed-out or failed execution is compensated',
      notice: null,
    });
    running.run.after(600).task('ValidateRestore', running.state, invokeStep(900), { output: running.state }).end('SUCCEEDED');
    expect(await compensate(running.executionArn)).toMatchObject({ status: 'SUCCEEDED', compensated: false });
    expect(await comment(running.target.database)).toBe(`lifeline restore ${running.executionArn}`);

    const early = await begin('stopped-early');
    early.run.after(1).end('ABORTED');
    expect(await compensate(early.executionArn)).toMatchObject({
      compensated: false,
      reason: 'it ended before CreateTarget: it created nothing',
    });
    expect(invoked).toEqual([]);
    expect(notices).toEqual([]);
  });

  it('pages when the database could not be dropped, naming its mark', async () => {
    const current = await throughCreateTarget(await begin('unreachable', { target: { database: `${label}_unreachable` } }));
    current.run.after(1).task('RunRestore', current.state, runRestore, { running: true }).end('ABORTED');
    // The execution's request names a steps function that is gone.
    const gone = { ...current.state, request: { ...current.request, stepsFunctionArn: `${RESTORE_GROUP_NETWORK_STEPS}-gone` } };
    current.run.events.at(-4)!.stateEnteredEventDetails!.input = JSON.stringify(gone);
    const result = await compensate(current.executionArn);
    expect(result.notice).toMatchObject({
      subject: `Lifeline: ACTION NEEDED: restore of ${label} was stopped: drop its database by hand`,
      page: true,
      message: expect.stringContaining(
        `Could not release ${current.target.database}: Function not found: ${RESTORE_GROUP_NETWORK_STEPS}-gone; if it exists and its comment is "lifeline restore ${current.executionArn}", drop it by hand.`,
      ),
    });
    expect(await comment(current.target.database)).toBe(`lifeline restore ${current.executionArn}`);
  });
});
