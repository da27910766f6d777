import { DescribeExecutionCommand, GetExecutionHistoryCommand, SFNClient, type HistoryEvent } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { CutoverInput } from '../../../../lambdas/core/cutover/input.js';
import { handOverStateMachines, trustedApproval } from '../../../../lambdas/core/cutover/origin.js';
import { CutoverSettings } from '../../../../lambdas/core/cutover/state.js';
import { validateInput } from '../../../../lambdas/core/cutover/steps.js';

const PREFIX = 'arn:aws:states:eu-west-1:123456789012';
const NAME = 'shop-20261204T1800-ab12cd34';
const RESTORE = `${PREFIX}:stateMachine:lifeline-restore`;
const CUTOVER_EXECUTION = { id: `${PREFIX}:execution:lifeline-cutover:${NAME}` };
const RESTORE_EXECUTION = `${PREFIX}:execution:lifeline-restore:${NAME}`;
const APPROVAL = { approver: 'arn:aws:sts::123456789012:assumed-role/oncall/alice', comment: null, decidedAt: '2026-12-04T18:10:00.000Z' };
const handOver = {
  application: 'shop-api',
  database: {
    serverSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-shop-AbC123',
    name: 'shop_restored',
    server: { host: 'shop.c1a2b3.eu-west-1.rds.amazonaws.com', port: 5432 },
  },
  origin: { workflow: 'restore', executionArn: RESTORE_EXECUTION, backupKey: 'daily/shop/2026/12/04/shop-20261204T030000Z.dump' },
  approval: APPROVAL,
};

const sfn = mockClient(SFNClient);
const client = new SFNClient({ region: 'eu-west-1' });

/** The restore's HandOver as its history records it: startExecution of the cutover under its own name, with its input. */
function scheduled(input: unknown, name = NAME, stateMachineArn = `${PREFIX}:stateMachine:lifeline-cutover`): HistoryEvent {
  return {
    id: 40,
    timestamp: new Date(),
    type: 'TaskScheduled',
    taskScheduledEventDetails: {
      resourceType: 'states',
      resource: 'startExecution.sync:2',
      region: 'eu-west-1',
      parameters: JSON.stringify({ StateMachineArn: stateMachineArn, Name: name, Input: input }),
    },
  };
}

function restoreRuns(events: HistoryEvent[], described: Record<string, unknown> = {}): void {
  sfn.on(DescribeExecutionCommand, { executionArn: RESTORE_EXECUTION }).resolves({
    executionArn: RESTORE_EXECUTION,
    stateMachineArn: RESTORE,
    name: NAME,
    status: 'RUNNING',
    startDate: new Date(),
    ...described,
  });
  sfn.on(GetExecutionHistoryCommand, { executionArn: RESTORE_EXECUTION }).resolves({ events: [...events].reverse() });
}

const check = (input: unknown) => trustedApproval(CutoverInput.parse(input), input, CUTOVER_EXECUTION, { stepFunctions: client });

beforeEach(() => sfn.reset());

describe('the approval a cutover input brings', () => {
  it("is taken when the running restore of this deployment handed over exactly this input under the cutover's name", async () => {
    restoreRuns([scheduled(handOver)]);
    expect(await check(handOver)).toEqual({ approval: APPROVAL, distrusted: null });
    // Step Functions may record the child's input as text (States.JsonToString).
    sfn.reset();
    restoreRuns([scheduled(JSON.stringify(handOver))]);
    expect((await check(handOver)).approval).toEqual(APPROVAL);
  });

  it('is not taken for another database, another name, a restore that ended, another state machine, or without an origin', async () => {
    const elsewhere = { ...handOver, database: { ...handOver.database, name: 'shop_other' } };
    const cases: [unknown, () => void, RegExp][] = [
      [elsewhere, () => restoreRuns([scheduled(handOver)]), /handed over no cutover with this input/],
      [handOver, () => restoreRuns([scheduled(handOver, 'another-name')]), /handed over no cutover with this input/],
      [handOver, () => restoreRuns([scheduled(handOver, NAME, `${PREFIX}:stateMachine:other-cutover`)]), /handed over no cutover/],
      [handOver, () => restoreRuns([scheduled(handOver)], { status: 'SUCCEEDED' }), /is SUCCEEDED, not running/],
      [handOver, () => restoreRuns([scheduled(handOver)], { stateMachineArn: `${PREFIX}:stateMachine:mine` }), /is not an execution of/],
      [handOver, () => restoreRuns([scheduled(handOver)], { name: 'other' }), /hands over under its own name/],
      // A restore's execution cannot pose as a PITR's, whose hand-over may name a server no config does.
      [
        { ...handOver, origin: { ...handOver.origin, workflow: 'pitr' } },
        () => restoreRuns([scheduled({ ...handOver, origin: { ...handOver.origin, workflow: 'pitr' } })]),
        /is not an execution of arn:aws:states:eu-west-1:123456789012:stateMachine:lifeline-pitr/,
      ],
      [{ ...handOver, origin: { ...handOver.origin, workflow: 'manual' } }, () => restoreRuns([]), /only a restore or PITR execution/],
      [{ application: 'shop-api', database: handOver.database, approval: APPROVAL }, () => restoreRuns([]), /only a restore or PITR/],
    ];
    for (const [input, arrange, reason] of cases) {
      sfn.reset();
      arrange();
      const { approval, distrusted } = await check(input);
      expect(approval, JSON.stringify(input)).toBeNull();
      expect(distrusted).toMatch(reason);
    }
  });

  it('is not taken when Step Functions cannot be read, and none is asked of an input without one', async () => {
    sfn.on(DescribeExecutionCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    expect((await check(handOver)).distrusted).toMatch(/could not be read \(AccessDeniedException\)/);
    const { approval: _, ...unapproved } = handOver;
    expect(await check(unapproved)).toEqual({ approval: null, distrusted: null });
  });

  it("comes from this deployment's restore and PITR state machines only", () => {
    expect(handOverStateMachines(CUTOVER_EXECUTION.id)).toEqual({ restore: [RESTORE], pitr: [`${PREFIX}:stateMachine:lifeline-pitr`] });
    expect(handOverStateMachines(`${PREFIX}:execution:local:${NAME}`)).toEqual({ restore: [], pitr: [] });
  });
});

describe("a PITR's hand-over of the instance it restored", () => {
  const PITR_EXECUTION = `${PREFIX}:execution:lifeline-pitr:${NAME}`;
  const settings = CutoverSettings.parse({
    applications: [
      {
        name: 'shop-api',
        connectionSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-api/connection-AbC123',
        ecsServices: [{ cluster: 'production', service: 'shop-api' }],
        healthCheck: { url: 'https://shop.example.com/health' },
      },
    ],
    servers: [{ name: 'shop', secretArn: handOver.database.serverSecretArn, port: 5432, rds: { instanceIdentifier: 'shop-production' } }],
  });
  const restored = {
    application: 'shop-api',
    database: {
      serverSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0f1e2d3c-XyZ789',
      name: 'shop',
      server: { host: 'shop-pitr.c1a2b3.eu-west-1.rds.amazonaws.com', port: 5432 },
    },
    origin: { workflow: 'pitr', executionArn: PITR_EXECUTION, backupKey: null },
    approval: APPROVAL,
  };
  const execution = { ...CUTOVER_EXECUTION, startedAt: '2026-12-04T18:20:00.000Z' };
  const validate = (input: unknown) =>
    validateInput(input, execution, settings, new Date('2026-12-04T18:20:01.000Z'), { stepFunctions: client });

  it('switches to the server it restored when the running PITR execution handed over exactly this, and refuses that server otherwise', async () => {
    sfn.on(DescribeExecutionCommand, { executionArn: PITR_EXECUTION }).resolves({
      executionArn: PITR_EXECUTION,
      stateMachineArn: `${PREFIX}:stateMachine:lifeline-pitr`,
      name: NAME,
      status: 'RUNNING',
      startDate: new Date(),
    });
    sfn.on(GetExecutionHistoryCommand, { executionArn: PITR_EXECUTION }).resolves({ events: [scheduled(restored)] });
    const request = await validate(restored);
    expect(request.database).toEqual(restored.database);
    expect(request.approval).toEqual(APPROVAL);

    // The same input started by hand (no such hand-over in the PITR's history): the server is no configured one.
    sfn.reset();
    sfn.on(DescribeExecutionCommand).rejects(Object.assign(new Error('gone'), { name: 'ExecutionDoesNotExist' }));
    await expect(validate(restored)).rejects.toThrow(/database.serverSecretArn: .* is not the secret of a configured database/);
  });
});
