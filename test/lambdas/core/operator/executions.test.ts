import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListStateMachinesCommand,
  SFNClient,
  StartExecutionCommand,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { consoleUrl } from '../../../../lambdas/core/operator/arns.js';
import { executionStatus, followExecution, startRestore, type StateEntered } from '../../../../lambdas/core/operator/executions.js';
import { validateInput } from '../../../../lambdas/core/restore/steps.js';
import { fixedRestoreCatalog } from '../../../../lambdas/core/restore/catalog.js';
import type { RestoreSettings } from '../../../../lambdas/core/restore/state.js';

const REGION = 'eu-west-1';
const STATE_MACHINE = `arn:aws:states:${REGION}:123456789012:stateMachine:lifeline-restore`;
const EXECUTION = `arn:aws:states:${REGION}:123456789012:execution:lifeline-restore:0f6c2a8e-1b7d-4c1e-9a8e-2f0d7c5b9e11`;
const STARTED = new Date('2026-11-23T10:50:00.000Z');

const sfn = mockClient(SFNClient);
const client = () => new SFNClient({ region: REGION });

beforeEach(() => sfn.reset());

const machine = (name: string) => ({
  stateMachineArn: `arn:aws:states:${REGION}:123456789012:stateMachine:${name}`,
  name,
  type: 'STANDARD' as const,
  creationDate: new Date('2026-11-01T00:00:00Z'),
});

describe('starting a restore', () => {
  it('refuses a bad input with the state machine’s own message, before any call', async () => {
    const settings: RestoreSettings = {
      deployment: 'lifeline',
      backupStacks: 1,
      bucket: 'vault',
      approvalTimeoutSeconds: 3600,
      runnerVcpus: 2,
    };
    const execution = { id: EXECUTION, startedAt: STARTED.toISOString() };
    for (const input of [
      { database: 'shop', at: 'yesterday' },
      { database: 'shop', key: 'daily/shop/2026/11/23/shop-20261123T020000.000Z.dump', at: '2026-11-23T10:50:00Z' },
      { database: '../shop', colour: 'red' },
    ]) {
      const expected = await validateInput(input, execution, settings, fixedRestoreCatalog([])).then(
        () => {
          throw new Error('the state machine would accept this input');
        },
        (error: unknown) => (error as Error).message,
      );
      expect(expected).toMatch(/^invalid restore input: /);
      await expect(startRestore(client(), { name: 'lifeline-restore' }, input)).rejects.toMatchObject({
        name: 'InvalidInput',
        message: expected,
      });
    }
    expect(sfn.calls()).toHaveLength(0);
  });

  it('finds the state machine by name across ListStateMachines pages, starts it with the input, links the console', async () => {
    sfn
      .on(ListStateMachinesCommand)
      .callsFake((input: { nextToken?: string }) =>
        input.nextToken === 'next'
          ? { stateMachines: [machine('lifeline-restore')] }
          : { stateMachines: [machine('billing-restore'), machine('lifeline-pitr')], nextToken: 'next' },
      );
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: STARTED });
    const input = { database: 'shop', cutover: 'shop-api', target: { database: 'shop_before_migration' } };
    const started = await startRestore(client(), { name: 'lifeline-restore' }, input);
    expect(started).toEqual({
      executionArn: EXECUTION,
      startDate: STARTED,
      consoleUrl: `https://${REGION}.console.aws.amazon.com/states/home?region=${REGION}#/v2/executions/details/${EXECUTION}`,
    });
    expect(sfn.commandCalls(ListStateMachinesCommand)).toHaveLength(2);
    expect(sfn.commandCalls(StartExecutionCommand).map((call) => call.args[0].input)).toEqual([
      { stateMachineArn: STATE_MACHINE, input: JSON.stringify(input) },
    ]);
  });

  it('names the state machine it could not find, and starts nothing', async () => {
    sfn.on(ListStateMachinesCommand).resolves({ stateMachines: [machine('billing-restore')] });
    await expect(startRestore(client(), { name: 'lifeline-restore' }, { database: 'shop' })).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringMatching(/^--state-machine: no state machine named "lifeline-restore" in eu-west-1 /),
    });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});

/** History events as the service returns them: ids in order, each entered state with its name. */
function events(...states: string[]): HistoryEvent[] {
  const list: HistoryEvent[] = [{ id: 1, type: 'ExecutionStarted', timestamp: STARTED, executionStartedEventDetails: { input: '{}' } }];
  for (const name of states) {
    const at = new Date(STARTED.getTime() + list.length * 1000);
    list.push({
      id: list.length + 1,
      previousEventId: list.length,
      type: 'TaskStateEntered',
      timestamp: at,
      stateEnteredEventDetails: { name },
    });
    list.push({
      id: list.length + 1,
      previousEventId: list.length,
      type: 'TaskStateExited',
      timestamp: at,
      stateExitedEventDetails: { name },
    });
  }
  return list;
}

describe('following an execution', () => {
  it('reports each state once, in order, until the execution ends, and returns how it ended', async () => {
    const describes = [
      { status: 'RUNNING' as const, history: events('ValidateInput') },
      { status: 'RUNNING' as const, history: events('ValidateInput', 'ResolveBackup', 'CreateTarget') },
      { status: 'FAILED' as const, history: events('ValidateInput', 'ResolveBackup', 'CreateTarget', 'RunRestore', 'Cleanup') },
    ];
    let poll = -1;
    sfn.on(DescribeExecutionCommand, { executionArn: EXECUTION }).callsFake(() => {
      poll++;
      const { status } = describes[poll]!;
      return {
        executionArn: EXECUTION,
        stateMachineArn: STATE_MACHINE,
        status,
        startDate: STARTED,
        ...(status === 'FAILED'
          ? { stopDate: new Date(), error: 'ChecksumMismatch', cause: 'the archive does not match its manifest' }
          : {}),
      };
    });
    // Two pages of history, as long histories come.
    sfn.on(GetExecutionHistoryCommand).callsFake((input: { nextToken?: string }) => {
      const all = describes[poll]!.history;
      return input.nextToken ? { events: all.slice(4) } : { events: all.slice(0, 4), ...(all.length > 4 ? { nextToken: 'p2' } : {}) };
    });
    const seen: StateEntered[] = [];
    const ended = await followExecution(client(), EXECUTION, { onStateEntered: (state) => seen.push(state), pollMs: 1 });
    expect(seen.map((s) => s.name)).toEqual(['ValidateInput', 'ResolveBackup', 'CreateTarget', 'RunRestore', 'Cleanup']);
    expect(seen.every((s) => s.at instanceof Date)).toBe(true);
    expect(ended).toMatchObject({ status: 'FAILED', error: 'ChecksumMismatch', cause: 'the archive does not match its manifest' });
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(3);
  });
});

describe('the status of an execution', () => {
  it('shows the state it is in, its times, and a finished restore’s message', async () => {
    const output = {
      status: 'SUCCEEDED',
      subject: 'Lifeline: shop restored',
      message: 'All 12 tables match the backup. Restored in 42 s.',
    };
    const stopped = new Date('2026-11-23T10:51:00.000Z');
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: EXECUTION,
      stateMachineArn: STATE_MACHINE,
      status: 'SUCCEEDED',
      startDate: STARTED,
      stopDate: stopped,
      output: JSON.stringify(output),
    });
    const history = events('ValidateInput', 'Summarize', 'Notify', 'Done');
    history.push({ id: history.length + 1, previousEventId: history.length, type: 'ExecutionSucceeded', timestamp: stopped });
    sfn.on(GetExecutionHistoryCommand, { executionArn: EXECUTION, reverseOrder: true }).resolves({ events: history.reverse() });
    expect(await executionStatus(client(), EXECUTION)).toEqual({
      executionArn: EXECUTION,
      status: 'SUCCEEDED',
      state: 'Done',
      stateEnteredAt: expect.any(Date),
      startDate: STARTED,
      stopDate: stopped,
      error: null,
      cause: null,
      output: output.message,
    });
    expect(consoleUrl(EXECUTION)).toContain(`region=${REGION}#/v2/executions/details/${EXECUTION}`);
  });

  it('refuses what is not an execution ARN before any call', async () => {
    await expect(executionStatus(client(), STATE_MACHINE)).rejects.toMatchObject({ name: 'InvalidInput' });
    expect(sfn.calls()).toHaveLength(0);
  });
});
