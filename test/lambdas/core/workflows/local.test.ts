import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ECS_OVERRIDES_LENGTH, MAX_PAYLOAD_BYTES } from '../../../../lambdas/core/workflows/aws-limits.js';
import { runLocalExecution, type LocalExecutionOptions, type Notification } from '../../../../lambdas/core/workflows/local.js';

/** The local engine held to AWS's limits, on small definitions that each reach one of them. */

const STEP = 'arn:aws:lambda:us-east-1:000000000000:function:step';
const CHILD = 'arn:aws:states:us-east-1:000000000000:stateMachine:child';
const TOPIC = 'arn:aws:sns:us-east-1:000000000000:notices';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lifeline-local-engine-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A definition written to a file of its own, as the engine reads deployed ones. */
async function definition(name: string, states: Record<string, object>, startAt = Object.keys(states)[0]!): Promise<string> {
  const file = path.join(dir, `${name}.asl.json`);
  await writeFile(file, JSON.stringify({ StartAt: startAt, States: states }));
  return file;
}

/** Runs `file`; `calls` records every state whose handler acted. */
async function run(file: string, options: Partial<LocalExecutionOptions> & { input?: unknown } = {}) {
  const notifications: Notification[] = [];
  const result = await runLocalExecution({
    definitionFile: file,
    substitutions: {},
    functions: {},
    input: {},
    notify: (notification) => notifications.push(notification),
    answer: () => Promise.reject(new Error('nobody is asked')),
    ...options,
  });
  return { ...result, notifications };
}

const task = (resource: string, next: object, extra: object = {}) => ({
  Type: 'Task',
  Resource: resource,
  TimeoutSeconds: 60,
  ...next,
  ...extra,
});
const catchAll = { Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }] };

describe('the local engine, as strict as AWS', () => {
  it('fails the execution with States.DataLimitExceeded when a result makes the state too large, past any Catch, and runs nothing after', async () => {
    const acted: string[] = [];
    const file = await definition('payload', {
      Grow: task(STEP, { Next: 'Act', ResultPath: '$.report' }, catchAll),
      Act: task(`${STEP}-act`, { End: true }),
      Caught: task(`${STEP}-act`, { End: true }),
    });
    const result = await run(file, {
      functions: {
        [STEP]: () => Promise.resolve({ tables: 'x'.repeat(MAX_PAYLOAD_BYTES) }),
        [`${STEP}-act`]: () => {
          acted.push('act');
          return Promise.resolve({});
        },
      },
    });
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
    expect(result.cause).toMatch(/state 'Grow' has \d+ bytes, more than the service limit of 262144 bytes/);
    expect(acted).toEqual([]);
  });

  it('fails a state entered with too large an input before it acts, wherever the input grew', async () => {
    const acted: string[] = [];
    const file = await definition('pass', {
      Half: task(`${STEP}-half`, { Next: 'Grow' }),
      // Each copy fits; both together do not.
      Grow: { Type: 'Pass', Parameters: { 'a.$': '$.half', 'b.$': '$.half' }, Next: 'Act' },
      Act: task(STEP, { End: true }, catchAll),
      Caught: { Type: 'Succeed' },
    });
    const result = await run(file, {
      functions: {
        [`${STEP}-half`]: () => Promise.resolve({ half: 'x'.repeat(MAX_PAYLOAD_BYTES / 2 + 1) }),
        [STEP]: () => {
          acted.push('act');
          return Promise.resolve({});
        },
      },
    });
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
    expect(result.cause).toMatch(/The output of state 'Grow'/);
    expect(acted).toEqual([]);
  });

  it('lets a payload of the largest size AWS allows through', async () => {
    const file = await definition('fits', { Fit: task(STEP, { End: true }) });
    // {"a":"..."}: 8 bytes around the string.
    const result = await run(file, { functions: { [STEP]: () => Promise.resolve({ a: 'x'.repeat(MAX_PAYLOAD_BYTES - 8) }) } });
    expect(result.status).toBe('SUCCEEDED');
  });

  it('fails a publish whose subject SNS would refuse, as SNS fails it, and publishes one of 99 characters', async () => {
    const file = await definition('subject', {
      Publish: task(
        'arn:aws:states:::sns:publish',
        { End: true },
        { Parameters: { TopicArn: TOPIC, 'Subject.$': '$.subject', Message: 'm' } },
      ),
    });
    const refused = await run(file, { input: { subject: 's'.repeat(100) } });
    expect(refused).toMatchObject({ status: 'FAILED', error: 'SNS.InvalidParameterException' });
    expect(refused.cause).toMatch(/Subject is 100 characters/);
    expect(refused.notifications).toEqual([]);
    expect(await run(file, { input: { subject: 'line\nbreak' } })).toMatchObject({ error: 'SNS.InvalidParameterException' });
    const sent = await run(file, { input: { subject: 's'.repeat(99) } });
    expect(sent.status).toBe('SUCCEEDED');
    expect(sent.notifications).toHaveLength(1);
  });

  it('fails a RunTask whose overrides exceed 8,192 characters before the task starts', async () => {
    let started = 0;
    const file = await definition('overrides', {
      Run: task(
        'arn:aws:states:::ecs:runTask.sync',
        { End: true },
        {
          Parameters: {
            Cluster: 'c',
            TaskDefinition: 't',
            Overrides: { ContainerOverrides: [{ Name: 'runner', Environment: [{ Name: 'JOB', 'Value.$': '$.job' }] }] },
          },
        },
      ),
    });
    const tasks = {
      Run: () => {
        started += 1;
        return Promise.resolve({});
      },
    };
    const refused = await run(file, { tasks, input: { job: 'j'.repeat(MAX_ECS_OVERRIDES_LENGTH) } });
    expect(refused).toMatchObject({ status: 'FAILED', error: 'ECS.InvalidParameterException' });
    expect(started).toBe(0);
    expect((await run(file, { tasks, input: { job: 'j'.repeat(100) } })).status).toBe('SUCCEEDED');
    expect(started).toBe(1);
  });

  it('fails a child execution with a name Step Functions would refuse', async () => {
    const child = await definition('child', { Done: { Type: 'Succeed' } });
    const parent = await definition('parent', {
      Start: task(
        'arn:aws:states:::states:startExecution.sync:2',
        { End: true },
        { Parameters: { StateMachineArn: CHILD, 'Name.$': '$.name', Input: {} } },
      ),
    });
    const stateMachines = { [CHILD]: { definitionFile: child, substitutions: {}, functions: {} } };
    for (const name of ['n'.repeat(81), 'has space', 'a/b', '']) {
      expect(await run(parent, { stateMachines, input: { name } }), name).toMatchObject({
        status: 'FAILED',
        error: 'StepFunctions.InvalidNameException',
      });
    }
    expect((await run(parent, { stateMachines, input: { name: `restore-${'x'.repeat(72)}` } })).status).toBe('SUCCEEDED');
  });

  it('fails the state that started a child which timed out as AWS does: States.TaskFailed, the child TIMED_OUT', async () => {
    const child = path.join(dir, 'slow-child.asl.json');
    await writeFile(
      child,
      JSON.stringify({ StartAt: 'Wait', TimeoutSeconds: 1, States: { Wait: { Type: 'Wait', Seconds: 30, End: true } } }),
    );
    const parent = await definition('waits-for-child', {
      Start: task('arn:aws:states:::states:startExecution.sync:2', { End: true }, { Parameters: { StateMachineArn: CHILD, Input: {} } }),
    });
    const result = await run(parent, { stateMachines: { [CHILD]: { definitionFile: child, substitutions: {}, functions: {} } } });
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.TaskFailed' });
    expect(JSON.parse(result.cause!)).toMatchObject({ Status: 'TIMED_OUT', Error: 'States.Timeout' });
  });

  it('refuses a child state machine with a Task without a timeout before the parent runs anything', async () => {
    const acted: string[] = [];
    const child = await definition('untimed-child', { Wait: { Type: 'Task', Resource: STEP, End: true } });
    const parent = await definition('starts-untimed', {
      Act: task(`${STEP}-act`, { Next: 'Start' }),
      Start: task('arn:aws:states:::states:startExecution.sync:2', { End: true }, { Parameters: { StateMachineArn: CHILD, Input: {} } }),
    });
    const stateMachines = { [CHILD]: { definitionFile: child, substitutions: {}, functions: {} } };
    const functions = {
      [`${STEP}-act`]: () => {
        acted.push('act');
        return Promise.resolve({});
      },
    };
    await expect(run(parent, { stateMachines, functions })).rejects.toThrow(/untimed-child.asl.json: Task states without TimeoutSeconds/);
    expect(acted).toEqual([]);
  });

  it('refuses a Task without a timeout before anything runs, naming it', async () => {
    const file = await definition('untimed', { Wait: { Type: 'Task', Resource: STEP, End: true } });
    await expect(run(file, { functions: { [STEP]: () => Promise.resolve({}) } })).rejects.toThrow(
      /Task states without TimeoutSeconds, which AWS would let wait a year: Wait/,
    );
  });

  it('gives a task States.JsonToString of a value with quotes, backslashes and non-ASCII as AWS does: JSON that parses back', async () => {
    const file = await definition('json-to-string', {
      Run: task(
        'arn:aws:states:::ecs:runTask.sync',
        { End: true },
        {
          Parameters: {
            Cluster: 'c',
            Overrides: {
              ContainerOverrides: [{ Name: 'runner', Environment: [{ Name: 'JOB', 'Value.$': 'States.JsonToString($.job)' }] }],
            },
          },
        },
      ),
    });
    const job = { database: `Shop's "Main" DB.été \\ x`, tables: ['"Billing"."Invoice Line"'] };
    let received: unknown;
    const tasks = {
      Run: (parameters: unknown) => {
        received = parameters;
        return Promise.resolve({});
      },
    };
    expect((await run(file, { tasks, input: { job } })).status).toBe('SUCCEEDED');
    expect(received).toEqual({
      Cluster: 'c',
      Overrides: { ContainerOverrides: [{ Name: 'runner', Environment: [{ Name: 'JOB', Value: JSON.stringify(job) }] }] },
    });
  });
});
