import { CreateTableCommand, DynamoDBClient, GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ALARM_COOLDOWN_MINUTES, ALARM_STARTER_TIMEOUT_SECONDS, COOLDOWN_KEY } from '../../../../lambdas/core/alarms/cooldown.js';
import type { AlarmStarterSettings } from '../../../../lambdas/core/alarms/routes.js';
import { startAlarmRun } from '../../../../lambdas/core/alarms/starter.js';
import { alarmExecutionName } from '../../../../lambdas/core/alarms/transition.js';
import { BackupRequest } from '../../../../lambdas/core/backup/request.js';
import { startMoto, type MotoServer } from '../../../support/moto.js';

/** The alarm starter against moto_server's Step Functions and DynamoDB; Lambda's Invoke answered as AWS answers an Event invocation. */

let moto: MotoServer;
let sfn: SFNClient;
let dynamodb: DynamoDBClient;
const lambda = new LambdaClient({ region: 'us-east-1' });
const lambdaMock = mockClient(lambda);
let settings: AlarmStarterSettings;
let table = 0;
/** The starter's clock: the tests move it, nothing waits. */
let clock = new Date('2026-11-23T10:51:00Z');

/** A CloudWatch Alarm State Change as EventBridge delivers it (the console's sample event, with this alarm and states). */
function alarmEvent(alarmName: string, to: string, from: string, timestamp: string) {
  return {
    version: '0',
    id: 'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92',
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account: '123456789012',
    time: timestamp.replace(/\.\d+\+0000$/, 'Z'),
    region: 'us-east-1',
    resources: [`arn:aws:cloudwatch:us-east-1:123456789012:alarm:${alarmName}`],
    detail: {
      alarmName,
      state: { value: to, reason: 'Threshold Crossed: 1 datapoint [42.0] was greater than the threshold (10.0).', timestamp },
      previousState: { value: from, reason: 'Threshold Crossed', timestamp: '2026-11-23T09:00:00.000+0000' },
      configuration: { description: 'orders API 5xx', metrics: [] },
    },
  };
}

const clients = () => ({ sfn, dynamodb, lambda, now: () => clock });

async function executions(stateMachineArn: string) {
  return (await sfn.send(new ListExecutionsCommand({ stateMachineArn }))).executions ?? [];
}

beforeAll(async () => {
  moto = await startMoto();
  sfn = new SFNClient(moto.clientConfig);
  dynamodb = new DynamoDBClient(moto.clientConfig);
});
afterAll(() => moto.stop());

beforeEach(async () => {
  // Each test its own table and state machines: nothing one test starts is seen by another.
  table += 1;
  const suffix = String(table);
  await dynamodb.send(
    new CreateTableCommand({
      TableName: `cooldowns-${suffix}`,
      KeySchema: [{ AttributeName: COOLDOWN_KEY, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: COOLDOWN_KEY, AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  const create = async (name: string) =>
    (
      await sfn.send(
        new CreateStateMachineCommand({
          name: `${name}-${suffix}`,
          definition: JSON.stringify({ StartAt: 'Wait', States: { Wait: { Type: 'Wait', Seconds: 86400, End: true } } }),
          roleArn: 'arn:aws:iam::123456789012:role/lifeline-workflow',
        }),
      )
    ).stateMachineArn!;
  settings = {
    deployment: 'lifeline',
    cooldownTable: `cooldowns-${suffix}`,
    restoreStateMachineArn: await create('lifeline-restore'),
    pitrStateMachineArn: await create('lifeline-pitr'),
    routes: [
      { alarmName: 'shop-api-5xx-rate', database: 'shop', action: 'prepare-pitr', lookbackMinutes: 15, cutover: 'shop-api' },
      { alarmName: 'shop orders: DELETE spike', database: 'shop', action: 'prepare-restore', lookbackMinutes: 10 },
      { alarmName: 'shop-replication-lag', database: 'shop', action: 'backup', lookbackMinutes: 0 },
    ],
  };
  clock = new Date('2026-11-23T10:51:00Z');
  lambdaMock.reset();
  lambdaMock.on(InvokeCommand).resolves({ StatusCode: 202 });
});

describe('the alarm starter, on CloudWatch Alarm State Change events', () => {
  it('starts the PITR named after the transition, its restore point the transition less the look back, with the cutover', async () => {
    const event = alarmEvent('shop-api-5xx-rate', 'ALARM', 'OK', '2026-11-23T10:50:12.345+0000');
    const outcome = await startAlarmRun(event, settings, clients());

    expect(outcome).toEqual({
      outcome: 'started',
      alarmName: 'shop-api-5xx-rate',
      database: 'shop',
      action: 'prepare-pitr',
      run: 'shop-api-5xx-rate-20261123T105012345Z',
    });
    const [execution, ...others] = await executions(settings.pitrStateMachineArn!);
    expect(others).toEqual([]);
    expect(execution!.name).toBe('shop-api-5xx-rate-20261123T105012345Z');
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn: execution!.executionArn }));
    expect(JSON.parse(described.input!)).toMatchObject({ database: 'shop', restorePoint: '2026-11-23T10:35:12.345Z', cutover: 'shop-api' });
    expect(await executions(settings.restoreStateMachineArn!)).toEqual([]);
  });

  it('starts the restore of the latest backup at or before the transition less the look back', async () => {
    const event = alarmEvent('shop orders: DELETE spike', 'ALARM', 'INSUFFICIENT_DATA', '2026-11-23T10:50:00.000+0000');
    const outcome = await startAlarmRun(event, settings, clients());

    expect(outcome).toMatchObject({ outcome: 'started', action: 'prepare-restore' });
    const [execution] = await executions(settings.restoreStateMachineArn!);
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn: execution!.executionArn }));
    // No cutover: the run still stops at a human's yes or no instead of keeping its copy unasked.
    expect(JSON.parse(described.input!)).toMatchObject({ database: 'shop', at: '2026-11-23T10:40:00.000Z', askApproval: true });
    expect(JSON.parse(described.input!)).not.toHaveProperty('cutover');
  });

  it('starts one execution however often the same transition is delivered, at once or a day later', async () => {
    const event = alarmEvent('shop-api-5xx-rate', 'ALARM', 'OK', '2026-11-23T10:50:12.345+0000');
    const together = await Promise.allSettled([1, 2, 3].map(() => startAlarmRun(event, settings, clients())));
    clock = new Date('2026-11-24T10:00:00Z');
    const late = await startAlarmRun(event, settings, clients());

    expect(await executions(settings.pitrStateMachineArn!)).toHaveLength(1);
    // A delivery that met another one's claim asked again for the same execution, which StartExecution answers with it.
    for (const result of together)
      expect(result).toMatchObject({ status: 'fulfilled', value: { run: 'shop-api-5xx-rate-20261123T105012345Z' } });
    expect(late).toMatchObject({ outcome: 'already-started', run: 'shop-api-5xx-rate-20261123T105012345Z' });
  });

  it('takes ExecutionAlreadyExists for a run already started, as when the execution ended and its claim is gone', async () => {
    const event = alarmEvent('shop-api-5xx-rate', 'ALARM', 'OK', '2026-11-23T10:50:12.345+0000');
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: settings.pitrStateMachineArn,
        name: 'shop-api-5xx-rate-20261123T105012345Z',
        input: '{"database":"shop","restorePoint":"latest"}',
      }),
    );
    await sfn.send(new StopExecutionCommand({ executionArn }));

    const outcome = await startAlarmRun(event, settings, clients());
    expect(outcome).toMatchObject({ outcome: 'already-started', run: 'shop-api-5xx-rate-20261123T105012345Z' });
    expect(await executions(settings.pitrStateMachineArn!)).toHaveLength(1);
  });

  it('holds back a flapping alarm for the cool-down, counted from the transitions, then starts the next run', async () => {
    const at = (minutes: number) => {
      const time = new Date(Date.parse('2026-11-23T10:50:00Z') + minutes * 60_000);
      clock = new Date(time.getTime() + 30_000);
      return time.toISOString().replace('Z', '+0000');
    };
    const first = await startAlarmRun(alarmEvent('shop-api-5xx-rate', 'ALARM', 'OK', at(0)), settings, clients());
    const back = await startAlarmRun(alarmEvent('shop-api-5xx-rate', 'OK', 'ALARM', at(2)), settings, clients());
    const flap = await startAlarmRun(alarmEvent('shop-api-5xx-rate', 'ALARM', 'OK', at(4)), settings, clients());
    const after = await startAlarmRun(alarmEvent('shop-api-5xx-rate', 'ALARM', 'OK', at(ALARM_COOLDOWN_MINUTES + 1)), settings, clients());

    expect(first).toMatchObject({ outcome: 'started' });
    expect(back).toMatchObject({ outcome: 'ignored' });
    expect(flap).toEqual({
      outcome: 'cooling-down',
      alarmName: 'shop-api-5xx-rate',
      database: 'shop',
      action: 'prepare-pitr',
      until: `2026-11-23T${String(10 + Math.floor((50 + ALARM_COOLDOWN_MINUTES) / 60)).padStart(2, '0')}:${String((50 + ALARM_COOLDOWN_MINUTES) % 60).padStart(2, '0')}:00.000Z`,
      startedBy: 'shop-api-5xx-rate-20261123T105000000Z',
    });
    expect(after).toMatchObject({ outcome: 'started' });
    expect((await executions(settings.pitrStateMachineArn!)).map((e) => e.name).sort()).toEqual([
      'shop-api-5xx-rate-20261123T105000000Z',
      alarmExecutionName({
        alarmName: 'shop-api-5xx-rate',
        changedAt: new Date(Date.parse('2026-11-23T10:50:00Z') + (ALARM_COOLDOWN_MINUTES + 1) * 60_000),
      }),
    ]);
  });

  it('cools down per database and action: another alarm of the database asking something else still starts', async () => {
    await startAlarmRun(alarmEvent('shop-api-5xx-rate', 'ALARM', 'OK', '2026-11-23T10:50:00.000+0000'), settings, clients());
    const restore = await startAlarmRun(
      alarmEvent('shop orders: DELETE spike', 'ALARM', 'OK', '2026-11-23T10:52:00.000+0000'),
      settings,
      clients(),
    );
    expect(restore).toMatchObject({ outcome: 'started', action: 'prepare-restore' });
  });

  it.each([
    ['ALARM to OK', 'OK', 'ALARM'],
    ['OK to INSUFFICIENT_DATA', 'INSUFFICIENT_DATA', 'OK'],
    ['ALARM to ALARM (a reason update)', 'ALARM', 'ALARM'],
  ])('ignores %s: no run, no claim', async (_, to, from) => {
    const outcome = await startAlarmRun(alarmEvent('shop-api-5xx-rate', to, from, '2026-11-23T10:50:00.000+0000'), settings, clients());
    expect(outcome).toMatchObject({ outcome: 'ignored', alarmName: 'shop-api-5xx-rate' });
    expect(await executions(settings.pitrStateMachineArn!)).toEqual([]);
    expect((await dynamodb.send(new ScanCommand({ TableName: settings.cooldownTable }))).Items).toEqual([]);
  });

  it('ignores an alarm no database configures', async () => {
    const outcome = await startAlarmRun(
      alarmEvent('billing-api-latency', 'ALARM', 'OK', '2026-11-23T10:50:00.000+0000'),
      settings,
      clients(),
    );
    expect(outcome).toEqual({ outcome: 'ignored', alarmName: 'billing-api-latency', reason: 'no database configures this alarm' });
    expect(lambdaMock.calls()).toHaveLength(0);
    expect((await dynamodb.send(new ScanCommand({ TableName: settings.cooldownTable }))).Items).toEqual([]);
  });

  it('refuses a route whose workflow input would be invalid before claiming anything, so it holds nothing back', async () => {
    // A restore of a database this long needs a target name the alarm cannot give (the synth refuses such an alarm).
    settings.routes.push({ alarmName: 'long-name-alarm', database: 'a'.repeat(45), action: 'prepare-restore', lookbackMinutes: 0 });
    const event = alarmEvent('long-name-alarm', 'ALARM', 'OK', '2026-11-23T10:50:00.000+0000');
    await expect(startAlarmRun(event, settings, clients())).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringContaining('target.database'),
    });
    expect(await executions(settings.restoreStateMachineArn!)).toEqual([]);
    expect((await dynamodb.send(new ScanCommand({ TableName: settings.cooldownTable }))).Items).toEqual([]);
  });

  it('refuses an event of another shape with InvalidInput naming the field, starting nothing', async () => {
    const event = alarmEvent('shop-api-5xx-rate', 'ALARM', 'OK', '2026-11-23 10:50');
    await expect(startAlarmRun(event, settings, clients())).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringContaining('detail.state.timestamp'),
    });
    expect(await executions(settings.pitrStateMachineArn!)).toEqual([]);
  });
});

describe('backups started by alarms', () => {
  const invocations = () =>
    lambdaMock.commandCalls(InvokeCommand).map(({ args: [command] }) => ({
      function: command.input.FunctionName,
      type: command.input.InvocationType,
      request: BackupRequest.parse(JSON.parse(Buffer.from(command.input.Payload as Uint8Array).toString())),
    }));

  it('invokes the backup function asynchronously with trigger alarm, the alarm and its transition, once per transition', async () => {
    const event = alarmEvent('shop-replication-lag', 'ALARM', 'OK', '2026-11-23T10:50:12.345+0000');
    const first = await startAlarmRun(event, settings, clients());
    const again = await startAlarmRun(event, settings, clients());

    expect(first).toMatchObject({ outcome: 'started', action: 'backup', run: 'shop-replication-lag-20261123T105012345Z' });
    expect(again).toMatchObject({ outcome: 'already-started' });
    expect(invocations()).toEqual([
      {
        function: 'lifeline-backup-shop',
        type: 'Event',
        request: {
          trigger: 'alarm',
          tier: 'auto',
          alarm: { name: 'shop-replication-lag', changedAt: '2026-11-23T10:50:12.345Z' },
        },
      },
    ]);
  });

  it("starts one immediate backup on a scheduled database's staleness alarm", async () => {
    const outcome = await startAlarmRun(
      alarmEvent('lifeline-warehouse-backup-stale', 'ALARM', 'OK', '2026-11-23T10:50:00.000+0000'),
      settings,
      clients(),
    );
    expect(outcome).toMatchObject({ outcome: 'started', database: 'warehouse', action: 'backup' });
    expect(invocations()).toMatchObject([{ function: 'lifeline-backup-warehouse', request: { trigger: 'alarm' } }]);
  });

  it('leaves a transition another delivery is starting to that one (AlarmRunInProgress, for a retry), and takes over a dead starter', async () => {
    const event = alarmEvent('shop-replication-lag', 'ALARM', 'OK', '2026-11-23T10:50:00.000+0000');
    // The first delivery's invoke fails after its claim, as a starter that died between the two would leave it.
    lambdaMock.on(InvokeCommand).rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }));
    await expect(startAlarmRun(event, settings, clients())).rejects.toMatchObject({ name: 'TooManyRequestsException' });

    await expect(startAlarmRun(event, settings, clients())).rejects.toMatchObject({ name: 'AlarmRunInProgress' });
    clock = new Date(clock.getTime() + (ALARM_STARTER_TIMEOUT_SECONDS + 1) * 1000);
    const retried = await startAlarmRun(event, settings, clients());

    expect(retried).toMatchObject({ outcome: 'started' });
    expect(invocations().map((call) => call.function)).toEqual(['lifeline-backup-shop', 'lifeline-backup-shop']);
    const item = await dynamodb.send(
      new GetItemCommand({ TableName: settings.cooldownTable, Key: { [COOLDOWN_KEY]: { S: 'shop#backup' } } }),
    );
    expect(item.Item?.startedAt?.N).toBeDefined();
  });

  it('holds nothing back for a run that never started: the next transition starts once the failed starter is past its time', async () => {
    const first = alarmEvent('shop-replication-lag', 'ALARM', 'OK', '2026-11-23T10:50:00.000+0000');
    // Every attempt of the first transition's invoke is throttled: Lambda dead-letters the event, nothing ran.
    lambdaMock.on(InvokeCommand).rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }));
    await expect(startAlarmRun(first, settings, clients())).rejects.toMatchObject({ name: 'TooManyRequestsException' });

    // Another transition within the hour, while that starter could still be starting: held back behind it.
    const second = alarmEvent('shop-replication-lag', 'ALARM', 'OK', '2026-11-23T10:50:30.000+0000');
    expect(await startAlarmRun(second, settings, clients())).toMatchObject({ outcome: 'cooling-down' });
    // A later one, once that starter is past its time: its claim is stale and started nothing, so this one starts.
    clock = new Date(clock.getTime() + (ALARM_STARTER_TIMEOUT_SECONDS + 1) * 1000);
    const third = alarmEvent('shop-replication-lag', 'ALARM', 'OK', '2026-11-23T11:08:00.000+0000');
    expect(await startAlarmRun(third, settings, clients())).toMatchObject({
      outcome: 'started',
      run: 'shop-replication-lag-20261123T110800000Z',
    });
    expect(invocations().map((call) => call.function)).toEqual(['lifeline-backup-shop', 'lifeline-backup-shop']);
    // And it holds the cool-down from then on.
    const fourth = alarmEvent('shop-replication-lag', 'ALARM', 'OK', '2026-11-23T11:20:00.000+0000');
    expect(await startAlarmRun(fourth, settings, clients())).toMatchObject({
      outcome: 'cooling-down',
      startedBy: 'shop-replication-lag-20261123T110800000Z',
    });
  });
});

describe('the alarm starter function', () => {
  it('reads its settings from LIFELINE_ALARM_SETTINGS and starts the run, and refuses to run without them', async () => {
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
    });
    delete process.env.LIFELINE_ALARM_SETTINGS;
    const { handler } = await import('../../../../lambdas/alarm/handler.js');
    const event = alarmEvent('shop-api-5xx-rate', 'ALARM', 'OK', '2026-11-23T10:50:12.345+0000');
    await expect(handler(event)).rejects.toMatchObject({ name: 'InvalidConfig', message: 'LIFELINE_ALARM_SETTINGS is not set' });

    process.env.LIFELINE_ALARM_SETTINGS = JSON.stringify(settings);
    expect(await handler(event)).toMatchObject({ outcome: 'started', run: 'shop-api-5xx-rate-20261123T105012345Z' });
    expect((await executions(settings.pitrStateMachineArn!)).map((e) => e.name)).toEqual(['shop-api-5xx-rate-20261123T105012345Z']);
  });
});
