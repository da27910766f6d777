import { DeleteItemCommand, DynamoDBClient, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient } from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unlock, unlockCommand, type UnlockDeps } from '../../../../lambdas/core/operator/locks.js';
import { startLockTable } from '../../../support/control-planes.js';

const TABLE = 'lifeline-cutover-locks';
const FAILED = 'arn:aws:states:eu-west-1:123456789012:execution:lifeline-cutover:3f2c-failed';
const RUNNING = 'arn:aws:states:eu-west-1:123456789012:execution:lifeline-cutover:9a1b-running';
const NEXT = 'arn:aws:states:eu-west-1:123456789012:execution:lifeline-cutover:77aa-next';
const ONCALL = 'arn:aws:sts::123456789012:assumed-role/oncall/alice';
const STOPPED_AT = new Date('2026-11-23T11:02:00.000Z');
const NOW = new Date('2026-11-23T12:00:00.000Z');

const sts = mockClient(STSClient);
const sfn = mockClient(SFNClient);
let dynamodb: DynamoDBClient;
let stop: () => void;
let deps: UnlockDeps;

beforeAll(async () => {
  ({ dynamodb, stop } = await startLockTable(TABLE));
  deps = { dynamodb, sts: new STSClient({ region: 'eu-west-1' }), sfn: (region) => new SFNClient({ region }), now: () => NOW };
});
afterAll(() => stop());

beforeEach(async () => {
  for (const item of (await dynamodb.send(new ScanCommand({ TableName: TABLE }))).Items ?? []) {
    await dynamodb.send(new DeleteItemCommand({ TableName: TABLE, Key: { application: item.application! } }));
  }
  sts.reset();
  sfn.reset();
  sts.on(GetCallerIdentityCommand).resolves({ Arn: ONCALL, Account: '123456789012', UserId: 'AROAEXAMPLE:alice' });
  sfn.on(DescribeExecutionCommand, { executionArn: FAILED }).resolves({ executionArn: FAILED, status: 'FAILED', stopDate: STOPPED_AT });
  sfn.on(DescribeExecutionCommand, { executionArn: RUNNING }).resolves({ executionArn: RUNNING, status: 'RUNNING' });
});

/** A lock as the state machine writes it: TakeLock's, with its expiry, or KeepLock's, without one. */
const keptLock = (application: string, executionArn: string, keptFor = 'RollbackUnhealthy') =>
  dynamodb.send(
    new PutItemCommand({
      TableName: TABLE,
      Item: { application: { S: application }, executionArn: { S: executionArn }, keptFor: { S: keptFor } },
    }),
  );
const runningLock = (application: string, executionArn: string) =>
  dynamodb.send(
    new PutItemCommand({
      TableName: TABLE,
      Item: { application: { S: application }, executionArn: { S: executionArn }, expiresAt: { N: '1795438200' } },
    }),
  );
const held = async () =>
  Object.fromEntries(
    ((await dynamodb.send(new ScanCommand({ TableName: TABLE }))).Items ?? []).map((item) => [item.application!.S, item.executionArn?.S]),
  );

describe('lifeline unlock', () => {
  it('deletes a kept lock, and only that application’s, saying who cleared it, why, and what it held', async () => {
    await keptLock('shop-api', FAILED);
    await keptLock('billing-api', FAILED, 'SecretChanged');

    const result = await unlock({ application: 'shop-api', reason: 'old database checked, orders flowing', table: TABLE }, deps);
    expect(result).toEqual({
      application: 'shop-api',
      table: TABLE,
      unlocked: true,
      message: `unlocked shop-api: deleted its cutover lock, held by ${FAILED} (FAILED at 2026-11-23T11:02:00.000Z), kept after RollbackUnhealthy, from ${TABLE} at 2026-11-23T12:00:00.000Z as ${ONCALL}, because: old database checked, orders flowing`,
      lock: { executionArn: FAILED, expiresAt: null, keptFor: 'RollbackUnhealthy' },
      holder: { status: 'FAILED', stoppedAt: STOPPED_AT.toISOString() },
      by: ONCALL,
      reason: 'old database checked, orders flowing',
      at: NOW.toISOString(),
    });
    expect(await held()).toEqual({ 'billing-api': FAILED });
  });

  it('says clearly when there is no lock, and changes nothing', async () => {
    await keptLock('billing-api', FAILED);
    expect(await unlock({ application: 'shop-api', reason: 'checked', table: TABLE }, deps)).toEqual({
      application: 'shop-api',
      table: TABLE,
      unlocked: false,
      message: `shop-api holds no cutover lock in ${TABLE}: nothing to unlock`,
    });
    expect(sts.commandCalls(GetCallerIdentityCommand)).toHaveLength(0);
    expect(await held()).toEqual({ 'billing-api': FAILED });
  });

  it('refuses the lock of a cutover that still runs: that one releases it when it ends', async () => {
    await runningLock('shop-api', RUNNING);
    await expect(unlock({ application: 'shop-api', reason: 'in a hurry', table: TABLE }, deps)).rejects.toMatchObject({
      name: 'CutoverLocked',
      message: `shop-api's lock is held by ${RUNNING} (RUNNING), expiring at 2026-11-23T12:50:00.000Z, which is still running: it releases its lock when it ends (stop it first if it must not go on); nothing was deleted`,
    });
    expect(await held()).toEqual({ 'shop-api': RUNNING });
  });

  it('deletes only the lock it read: one taken by another cutover meanwhile stays, one released meanwhile is no lock', async () => {
    await keptLock('shop-api', FAILED);
    // Between the read and the delete (while the holder is looked up), an expired lock is taken over by a new cutover.
    sfn.on(DescribeExecutionCommand, { executionArn: FAILED }).callsFake(async () => {
      await runningLock('shop-api', NEXT);
      return { executionArn: FAILED, status: 'FAILED' };
    });
    await expect(unlock({ application: 'shop-api', reason: 'checked', table: TABLE }, deps)).rejects.toMatchObject({
      name: 'CutoverLocked',
      message: expect.stringMatching(
        new RegExp(
          `^shop-api's lock changed hands while it was being cleared: it is now held by ${NEXT}, expiring at .*; nothing was deleted`,
        ),
      ),
    });
    expect(await held()).toEqual({ 'shop-api': NEXT });

    await keptLock('shop-api', FAILED);
    sfn.on(DescribeExecutionCommand, { executionArn: FAILED }).callsFake(async () => {
      await dynamodb.send(new DeleteItemCommand({ TableName: TABLE, Key: { application: { S: 'shop-api' } } }));
      return { executionArn: FAILED, status: 'FAILED' };
    });
    expect(await unlock({ application: 'shop-api', reason: 'checked', table: TABLE }, deps)).toMatchObject({
      unlocked: false,
      message: `shop-api holds no cutover lock in ${TABLE} any more (it was released meanwhile): nothing to unlock`,
    });
  });

  it('clears the lock of an execution Step Functions no longer knows', async () => {
    await keptLock('shop-api', NEXT, 'CutoverUnresolved');
    sfn.on(DescribeExecutionCommand, { executionArn: NEXT }).rejects(new ExecutionDoesNotExist({ $metadata: {}, message: 'gone' }));
    expect(await unlock({ application: 'shop-api', reason: 'checked', table: TABLE }, deps)).toMatchObject({
      unlocked: true,
      holder: null,
      lock: { executionArn: NEXT, keptFor: 'CutoverUnresolved' },
    });
    expect(await held()).toEqual({});
  });

  it('names the options that find the table when there is none', async () => {
    await expect(unlock({ application: 'shop-api', reason: 'checked', table: 'acme-cutover-locks' }, deps)).rejects.toMatchObject({
      name: 'InvalidInput',
      message:
        "no lock table acme-cutover-locks in this region: pass --name with the config's name and --region with the deployment's region",
    });
  });

  it('is the command a kept lock’s notice names, for the deployment and region of its execution', () => {
    expect(unlockCommand('shop-api', FAILED)).toBe('lifeline unlock shop-api --region eu-west-1 --reason "<what you checked>"');
    expect(unlockCommand('shop-api', 'arn:aws:states:us-east-2:123456789012:execution:acme-cutover:1')).toBe(
      'lifeline unlock shop-api --name acme --region us-east-2 --reason "<what you checked>"',
    );
    expect(unlockCommand('shop-api', 'not an execution')).toBe('lifeline unlock shop-api --reason "<what you checked>"');
  });
});
