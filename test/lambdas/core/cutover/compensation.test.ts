import { DeleteItemCommand, PutItemCommand, ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeServicesCommand, ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { LambdaClient, UpdateAliasCommand } from '@aws-sdk/client-lambda';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CutoverRequest, CutoverSettings, Frozen, HealthReport, Recorded, Swapped } from '../../../../lambdas/core/cutover/state.js';
import { runCutoverStep, type CutoverStepDeps } from '../../../../lambdas/core/cutover/steps.js';
import type { CompensationNotice, CompensationResult } from '../../../../lambdas/core/workflows/compensation.js';
import { FakeEcs, FakeLambda, FakeSecretsManager, FakeSsm, startLockTable } from '../../../support/control-planes.js';
import { FakeStepFunctions, type RecordedExecution } from '../../../support/execution-history.js';
import { sharedPostgres } from '../../../support/shared.js';

const ACCOUNT = 'arn:aws:states:us-east-1:000000000000';
const MACHINE = `${ACCOUNT}:stateMachine:lifeline-cutover`;
const STEPS = 'arn:aws:lambda:us-east-1:000000000000:function:lifeline-cutover';
const LOCK_TABLE = 'lifeline-cutover-locks';
const APP_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:shop-api/connection-AbC123';
const NEW_DATABASE_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:shop-api/restored-DeF456';
const SERVICE = { cluster: 'production', service: 'shop-api' };
const TASK_DEFINITION = 'arn:aws:ecs:us-east-1:000000000000:task-definition/shop-api:7';

const pg = sharedPostgres();
const role = `compensated_app_${randomBytes(4).toString('hex')}`;
const rolePassword = randomBytes(12).toString('hex');
const databases: string[] = [];
const settings: CutoverSettings = {
  deployment: { pollSeconds: 15, timeoutSeconds: 900 },
  applications: [
    {
      name: 'shop-api',
      connectionSecretArn: APP_SECRET,
      ecsServices: [SERVICE],
      lambdaFunctions: [],
      freeze: { mode: 'read-only-source' },
      healthCheck: { url: 'http://127.0.0.1:1/health', count: 2, windowSeconds: 4, intervalSeconds: 0.2 },
    },
  ],
};

/** The same application with a scale-to-zero freeze of its ECS service. */
const scaledToZero: CutoverSettings = { ...settings, applications: [{ ...settings.applications[0]!, freeze: { mode: 'scale-to-zero' } }] };
/** The same application as a Lambda function invoked through its alias `live`, which an applicationVersion points. */
const WORKER = 'shop-api-worker';
const aliased: CutoverSettings = {
  ...settings,
  applications: [
    { ...settings.applications[0]!, ecsServices: [], lambdaFunctions: [WORKER], lambdaAlias: 'live', freeze: { mode: 'none' } },
  ],
};
/** The settings the steps run with: `settings` unless a test says otherwise. */
let active = settings;

let secrets: FakeSecretsManager;
let ecs: FakeEcs;
let ssm: FakeSsm;
let lambda: FakeLambda;
let dynamodb: DynamoDBClient;
let stopLockTable: () => void;
const stepFunctions = new FakeStepFunctions();

let notices: CompensationNotice[];
let waits: number[];
let whileWaiting: () => Promise<void>;
let now: Date;

/** The cutover steps function, as the state machine and EventBridge invoke it. */
const deps = (): CutoverStepDeps => ({
  settings: active,
  secrets: new SecretsManagerClient({}),
  ecs: new ECSClient({}),
  lambda: new LambdaClient({}),
  ssm: new SSMClient({}),
  now: () => now,
  sleep: async (ms) => {
    waits.push(ms);
    await whileWaiting();
  },
  compensation: {
    stepFunctions: new SFNClient({}),
    dynamodb,
    lockTable: LOCK_TABLE,
    notify: (notice) => {
      notices.push(notice);
      return Promise.resolve();
    },
  },
});

const compensate = (executionArn: string, status = 'ABORTED') =>
  runCutoverStep({ step: 'compensate', executionArn, status }, deps()) as Promise<CompensationResult>;

/** A database owned by the application's role, as a restore makes it. */
async function applicationDatabase(prefix: string): Promise<string> {
  const name = await pg.createDatabase(prefix);
  databases.push(name);
  await pg.query('postgres', `ALTER DATABASE "${name}" OWNER TO ${role}`);
  return name;
}

const rdsSecret = (database: string) =>
  JSON.stringify({ engine: 'postgres', host: pg.host, port: pg.port, username: role, password: rolePassword, dbname: database });

/** The old database's own default_transaction_read_only, as a new session gets it. */
async function readOnly(database: string): Promise<string> {
  const rows = await pg.query<{ setconfig: string[] | null }>(
    database,
    'SELECT setconfig FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) AND setrole = 0',
  );
  return rows[0]?.setconfig?.join(',') ?? 'not set';
}

async function locks() {
  return ((await dynamodb.send(new ScanCommand({ TableName: LOCK_TABLE }))).Items ?? []).map((item) => ({
    application: item.application?.S,
    executionArn: item.executionArn?.S,
  }));
}

/** The lock items as kept for a person to clear (KeepLock's shape): no expiry, and why. */
async function keptLocks() {
  return ((await dynamodb.send(new ScanCommand({ TableName: LOCK_TABLE }))).Items ?? []).map((item) => ({
    application: item.application?.S,
    expiresAt: item.expiresAt?.N,
    keptFor: item.keptFor?.S,
  }));
}

const lambdaStep = (timeoutSeconds: number) => ({ kind: 'lambda' as const, functionArn: STEPS, timeoutSeconds });

interface Cutover {
  run: RecordedExecution;
  executionArn: string;
  oldDb: string;
  request: CutoverRequest;
  recordedVersion: string;
  state: Record<string, unknown>;
}

/** An execution of cutover.asl.json through TakeLock and Record, each the real step (TakeLock's item as the state machine writes it). */
async function begin(name: string, applicationVersion?: string): Promise<Cutover> {
  const oldDb = await applicationDatabase('compensated_old');
  const newDb = await applicationDatabase('compensated_new');
  const recordedVersion = secrets.create(APP_SECRET, rdsSecret(oldDb));
  secrets.create(NEW_DATABASE_SECRET, rdsSecret(newDb));
  const executionArn = `${ACCOUNT}:execution:lifeline-cutover:${name}-${randomBytes(3).toString('hex')}`;
  const startedAt = new Date('2026-11-23T10:50:00.000Z');
  const input = {
    application: 'shop-api',
    database: { secretArn: NEW_DATABASE_SECRET },
    ...(applicationVersion ? { applicationVersion } : {}),
  };
  const run = stepFunctions.start(executionArn, MACHINE, input, startedAt);
  const request = (await runCutoverStep(
    { step: 'validateInput', input, execution: { id: executionArn, startedAt: startedAt.toISOString() } },
    deps(),
  )) as CutoverRequest;
  run.after(1).task('ValidateInput', input, lambdaStep(60), { output: { request }, result: request });
  await dynamodb.send(
    new PutItemCommand({
      TableName: LOCK_TABLE,
      Item: { application: { S: 'shop-api' }, executionArn: { S: executionArn }, expiresAt: { N: request.lock.expiresAt } },
      ConditionExpression: 'attribute_not_exists(#application) OR #expiresAt < :now',
      ExpressionAttributeNames: { '#application': 'application', '#expiresAt': 'expiresAt' },
      ExpressionAttributeValues: { ':now': { N: request.lock.now } },
    }),
  );
  run.task(
    'TakeLock',
    { request },
    { kind: 'service', resourceType: 'dynamodb', resource: 'putItem', timeoutSeconds: 60 },
    { output: { request } },
  );
  const recorded = (await runCutoverStep({ step: 'record', request }, deps())) as Recorded;
  const state = { request, recorded };
  run.after(1).task('Record', { request }, lambdaStep(120), { output: state, result: recorded });
  return { run, executionArn, oldDb, request, recordedVersion, state };
}

/** Freeze, the real step, recorded as the state machine records it. */
async function freeze(cutover: Cutover): Promise<void> {
  const { request, recorded } = cutover.state as { request: CutoverRequest; recorded: Recorded };
  const frozen = (await runCutoverStep({ step: 'freeze', request, recorded }, deps())) as Frozen;
  const state = { ...cutover.state, frozen };
  cutover.run.after(1).task('Freeze', cutover.state, lambdaStep(120), { output: state, result: frozen });
  cutover.state = state;
}

/** Swap, the real step. */
async function swap(cutover: Cutover): Promise<Swapped> {
  const { request, recorded } = cutover.state as { request: CutoverRequest; recorded: Recorded };
  const swapped = (await runCutoverStep({ step: 'swap', request, recorded }, deps())) as Swapped;
  const state = { ...cutover.state, swap: swapped };
  cutover.run.after(1).task('Swap', cutover.state, lambdaStep(60), { output: state, result: swapped });
  cutover.state = state;
  return swapped;
}

beforeAll(async () => {
  await pg.query('postgres', `CREATE ROLE ${role} LOGIN PASSWORD '${rolePassword}'`);
  secrets = new FakeSecretsManager();
  ecs = new FakeEcs();
  ssm = new FakeSsm();
  lambda = new FakeLambda();
  ecs.add({ ...SERVICE, taskDefinition: TASK_DEFINITION, desiredCount: 2, restart: () => Promise.resolve() });
  ({ dynamodb, stop: stopLockTable } = await startLockTable(LOCK_TABLE));
});

/** No lock held: each test's execution takes its own. */
async function clearLocks(): Promise<void> {
  for (const { application } of await locks()) {
    await dynamodb.send(new DeleteItemCommand({ TableName: LOCK_TABLE, Key: { application: { S: application! } } }));
  }
}

beforeEach(async () => {
  active = settings;
  await clearLocks();
  notices = [];
  waits = [];
  whileWaiting = () => Promise.resolve();
  now = new Date('2026-11-23T11:00:00.000Z');
});

afterAll(async () => {
  for (const name of databases) await pg.query('postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await pg.query('postgres', `DROP ROLE IF EXISTS ${role}`);
  stopLockTable();
  secrets.reset();
  stepFunctions.reset();
  ecs.mock.restore();
  ssm.mock.restore();
  lambda.mock.restore();
});

describe('the compensation of a cutover execution that ended without its rollback', () => {
  it('releases the lock of a cutover stopped after its Conclude, and sends what it concluded; a kept lock stays', async () => {
    const cutover = await begin('stopped-concluding');
    const failure = {
      error: 'CutoverRolledBack',
      cause: 'switching shop-api failed',
      subject: 'Lifeline: cutover of shop-api rolled back',
      message: 'switching shop-api failed with HealthCheckFailed. Rolled back.',
      page: false,
      keepLock: false,
    };
    const ended = { ...cutover.state, failure };
    cutover.run
      .after(1)
      .task('Conclude', cutover.state, lambdaStep(60), { output: ended })
      .flow('Choice', 'LockNeeded', ended)
      .end('ABORTED');

    await compensate(cutover.executionArn);
    expect(await locks()).toEqual([]);
    expect(notices).toEqual([
      {
        subject: 'Lifeline: cutover of shop-api was stopped after it concluded (CutoverRolledBack)',
        message:
          'Cutover of shop-api was stopped (ABORTED) in LockNeeded, after its Conclude. Released its lock on shop-api, which it had not released yet. ' +
          `What it concluded, never sent: switching shop-api failed with HealthCheckFailed. Rolled back. Execution ${cutover.executionArn}.`,
        page: false,
      },
    ]);

    // RollbackUnhealthy: Conclude keeps the lock for a person to clear; the compensation leaves it, and pages as Conclude said.
    await clearLocks();
    const unhealthy = await begin('stopped-keeping');
    const kept = { ...unhealthy.state, failure: { ...failure, error: 'RollbackUnhealthy', page: true, keepLock: true } };
    unhealthy.run
      .after(1)
      .task('Conclude', unhealthy.state, lambdaStep(60), { output: kept })
      .flow('Choice', 'LockNeeded', kept)
      .end('ABORTED');
    await compensate(unhealthy.executionArn);
    expect(await locks()).toEqual([{ application: 'shop-api', executionArn: unhealthy.executionArn }]);
    expect(notices[1]).toMatchObject({
      page: true,
      subject: 'Lifeline: ACTION NEEDED: cutover of shop-api was stopped after it concluded (RollbackUnhealthy)',
    });
  });

  it("leaves someone else's version of the secret current and keeps the lock, paging", async () => {
    const cutover = await begin('rotated');
    await swap(cutover);
    // A rotation writes its own version while the cutover runs.
    await new SecretsManagerClient({}).send(
      new PutSecretValueCommand({ SecretId: APP_SECRET, SecretString: rdsSecret(cutover.oldDb), ClientRequestToken: randomUUID() }),
    );
    const rotated = secrets.current(APP_SECRET).versionId;
    cutover.run.after(1).task('Restart', cutover.state, lambdaStep(120), { running: true }).end('ABORTED');

    const result = await compensate(cutover.executionArn);
    expect(secrets.current(APP_SECRET).versionId).toBe(rotated);
    expect(await locks()).toEqual([{ application: 'shop-api', executionArn: cutover.executionArn }]);
    expect(result.notice).toMatchObject({
      page: true,
      subject: 'Lifeline: ACTION NEEDED: cutover of shop-api was stopped: shop-api needs a hand',
    });
    expect(result.notice?.message).toContain("shop-api's connection secret was not moved back (SecretChanged: secret");
    expect(result.notice?.message).toContain(
      'kept its lock on shop-api, so that no other cutover starts from this connection: once shop-api is checked and on the database it should use, ' +
        'clear it: lifeline unlock shop-api --region us-east-1 --reason "<what you checked>"',
    );
    expect(await keptLocks()).toEqual([{ application: 'shop-api', expiresAt: undefined, keptFor: 'compensation after ABORTED' }]);
  });

  it('reverts the secret and lifts the freeze of a cutover stopped after Swap and Freeze, keeping its lock until a person has restarted it; a second delivery changes nothing', async () => {
    const cutover = await begin('stopped-restarting');
    await freeze(cutover);
    expect(await readOnly(cutover.oldDb)).toBe('default_transaction_read_only=on');
    const swapped = await swap(cutover);
    expect(secrets.current(APP_SECRET).versionId).toBe(swapped.versionId);
    cutover.run.after(1).task('Restart', cutover.state, lambdaStep(120), { running: true }).after(5).end('ABORTED');
    const updates = ecs.updates.length;

    const result = await compensate(cutover.executionArn);
    expect(secrets.current(APP_SECRET).versionId).toBe(cutover.recordedVersion);
    expect(await readOnly(cutover.oldDb)).toBe('not set');
    // Half rolled back (nothing restarted): the lock stays, as after RollbackUnhealthy, with no expiry.
    expect(await keptLocks()).toEqual([{ application: 'shop-api', expiresAt: undefined, keptFor: 'compensation after ABORTED' }]);
    // Nothing restarted: the notice asks for it, and pages.
    expect(ecs.updates.length).toBe(updates);
    const from = `${cutover.oldDb} on ${pg.host}:${pg.port}`;
    expect(result).toMatchObject({ status: 'ABORTED', compensated: true });
    expect(notices).toEqual([
      {
        subject: 'Lifeline: ACTION NEEDED: cutover of shop-api was stopped: shop-api moved back, restart it',
        message:
          'ACTION NEEDED: Cutover of shop-api was stopped (ABORTED) in Restart after its connection was switched, so its rollback did not run to its end; ' +
          'this compensation did what the rollback does, but for restarting the application and proving it healthy. ' +
          `Done: moved shop-api's connection secret back to its recorded version ${cutover.recordedVersion} (${from}); ` +
          "fenced this execution's swap, so that a late one cannot write; " +
          `lifted the write freeze (read-only-source) it had recorded on ${from}. ` +
          `Not done: restarted nothing: restart ECS service production/shop-api (task definition ${TASK_DEFINITION}) so that all of them connect to ${from}, and check its health; ` +
          'kept its lock on shop-api, so that no other cutover starts from this connection: once shop-api is checked and on the database it should use, ' +
          'clear it: lifeline unlock shop-api --region us-east-1 --reason "<what you checked>". ' +
          `Execution ${cutover.executionArn}.`,
        page: true,
      },
    ]);

    const before = { stages: secrets.stages(APP_SECRET), readOnly: await readOnly(cutover.oldDb), locks: await locks() };
    const again = await compensate(cutover.executionArn);
    expect({ stages: secrets.stages(APP_SECRET), readOnly: await readOnly(cutover.oldDb), locks: await locks() }).toEqual(before);
    expect(again.notice?.message).toContain(`found shop-api's connection secret on its recorded version ${cutover.recordedVersion}`);
    expect(again.notice?.message).toContain('kept its lock on shop-api');
  });

  it('scales back the services a scale-to-zero freeze stopped once their secret is back on its recorded version, and leaves them at zero when it is not', async () => {
    active = scaledToZero;
    const desiredCount = async () =>
      (await new ECSClient({}).send(new DescribeServicesCommand({ cluster: SERVICE.cluster, services: [SERVICE.service] }))).services![0]!
        .desiredCount;
    const cutover = await begin('stopped-scaled');
    await freeze(cutover);
    expect(await desiredCount()).toBe(0);
    await swap(cutover);
    cutover.run.after(1).task('Restart', cutover.state, lambdaStep(120), { running: true }).end('ABORTED');

    const result = await compensate(cutover.executionArn);
    expect(secrets.current(APP_SECRET).versionId).toBe(cutover.recordedVersion);
    expect(await desiredCount()).toBe(2);
    expect(result.notice?.message).toContain(
      `lifted the write freeze (scale-to-zero) it had recorded on ${cutover.oldDb} on ${pg.host}:${pg.port}`,
    );

    // A rotation's version current: the secret stays as it is, and so do the services, scaled to zero, rather than start on it.
    await clearLocks();
    const rotated = await begin('stopped-scaled-rotated');
    await freeze(rotated);
    await swap(rotated);
    await new SecretsManagerClient({}).send(
      new PutSecretValueCommand({ SecretId: APP_SECRET, SecretString: rdsSecret(rotated.oldDb), ClientRequestToken: randomUUID() }),
    );
    rotated.run.after(1).task('Restart', rotated.state, lambdaStep(120), { running: true }).end('ABORTED');
    const updates = ecs.updates.length;

    const left = await compensate(rotated.executionArn);
    expect(ecs.updates.length).toBe(updates);
    expect(await desiredCount()).toBe(0);
    expect(left.notice).toMatchObject({ page: true });
    expect(left.notice?.message).toContain(
      'left the ECS services scaled to zero, since their connection secret was not moved back: once it names the database shop-api should use, ' +
        'put back their desired counts (production/shop-api: 2)',
    );
    await new ECSClient({}).send(new UpdateServiceCommand({ ...SERVICE, desiredCount: 2 }));
  });

  it('fences a swap left running, so that it cannot switch the application after the compensation', async () => {
    const cutover = await begin('stopped-swapping');
    await freeze(cutover);
    cutover.run.after(1).task('Swap', cutover.state, lambdaStep(60), { running: true }).after(1).end('ABORTED');

    await compensate(cutover.executionArn);
    const { request, recorded } = cutover.state as { request: CutoverRequest; recorded: Recorded };
    // The swap's Lambda goes on after StopExecution and reaches PutSecretValue: the token is taken.
    await expect(runCutoverStep({ step: 'swap', request, recorded }, deps())).rejects.toMatchObject({ name: 'ResourceExistsException' });
    expect(secrets.current(APP_SECRET).versionId).toBe(cutover.recordedVersion);
    expect(await readOnly(cutover.oldDb)).toBe('not set');
    expect(notices[0]).toMatchObject({
      page: true,
      subject: 'Lifeline: ACTION NEEDED: cutover of shop-api was stopped: shop-api moved back, restart it',
    });
  });

  it('waits for a Freeze left running to pass its time limit, then lifts what it froze; never switched, it does not page', async () => {
    const cutover = await begin('stopped-freezing');
    const { request, recorded } = cutover.state as { request: CutoverRequest; recorded: Recorded };
    cutover.run.after(1).task('Freeze', cutover.state, lambdaStep(120), { running: true });
    const scheduledAt = cutover.run.events.at(-2)!.timestamp!;
    cutover.run.after(8).end('TIMED_OUT', { error: 'States.Timeout', cause: 'The execution timed out' });
    now = new Date(scheduledAt.getTime() + 10_000);
    // The step freezes after its execution ended, while the compensation waits.
    whileWaiting = async () => {
      await runCutoverStep({ step: 'freeze', request, recorded }, deps());
    };
    const writes = secrets.writes.length;

    await compensate(cutover.executionArn, 'TIMED_OUT');
    expect(waits).toEqual([110_000]);
    expect(await readOnly(cutover.oldDb)).toBe('not set');
    expect(await locks()).toEqual([]);
    expect(secrets.writes.length).toBe(writes);
    expect(notices).toEqual([
      {
        subject: 'Lifeline: cutover of shop-api timed out: shop-api left as it was',
        message:
          'Cutover of shop-api timed out (TIMED_OUT) in Freeze before its connection was switched, so its unfreeze and lock release never ran; ' +
          'this compensation did them. Waited 110 s for Freeze, left running, to pass its time limit first. ' +
          `Done: lifted the write freeze (read-only-source) it had recorded on ${cutover.oldDb} on ${pg.host}:${pg.port}; released its lock on shop-api. ` +
          `Execution ${cutover.executionArn}.`,
        page: false,
      },
    ]);
  });

  it('points back the alias an application version moved, after a Restart left running pointed it, once the secret is back; a second delivery changes nothing', async () => {
    active = aliased;
    lambda.add(WORKER, {});
    lambda.deploy(WORKER, 5, 'live', '5');
    const cutover = await begin('stopped-pointing', 'previous');
    const { request, recorded } = cutover.state as { request: CutoverRequest; recorded: Recorded };
    expect(recorded.functions[0]!.alias).toMatchObject({ name: 'live', version: '5', deploy: '4' });
    await swap(cutover);
    cutover.run.after(1).task('Restart', cutover.state, lambdaStep(120), { running: true });
    const scheduledAt = cutover.run.events.at(-2)!.timestamp!;
    cutover.run.after(5).end('ABORTED');
    now = new Date(scheduledAt.getTime() + 10_000);
    // The Restart left running points the alias forward while the compensation waits for its time limit to pass.
    whileWaiting = async () => {
      await runCutoverStep({ step: 'restart', request, recorded, side: 'new' }, deps());
    };
    const updates = lambda.aliasUpdates.length;

    const result = await compensate(cutover.executionArn);
    expect(waits).toEqual([110_000]);
    expect(lambda.aliasUpdates.slice(updates)).toEqual([
      { function: WORKER, alias: 'live', version: '4' },
      { function: WORKER, alias: 'live', version: '5' },
    ]);
    expect(secrets.current(APP_SECRET).versionId).toBe(cutover.recordedVersion);
    expect(result.notice?.message).toContain(
      `moved shop-api's connection secret back to its recorded version ${cutover.recordedVersion} (${cutover.oldDb} on ${pg.host}:${pg.port}); ` +
        "fenced this execution's swap, so that a late one cannot write; " +
        `pointed the alias live of Lambda function ${WORKER} at its recorded version 5.`,
    );
    expect(result.notice?.message).toContain('Waited 110 s for Restart, left running, to pass its time limit first.');

    // A Restart later still finds the alias changed since Record (its revision), and leaves it.
    await expect(runCutoverStep({ step: 'restart', request, recorded, side: 'new' }, deps())).rejects.toMatchObject({ name: 'AliasMoved' });
    // EventBridge delivers again: the alias is where it belongs, the secret too.
    whileWaiting = () => Promise.resolve();
    await compensate(cutover.executionArn);
    expect(lambda.aliasVersion(WORKER, 'live')).toBe('5');
    expect(lambda.aliasUpdates.length).toBe(updates + 2);
  });

  it('leaves the alias on the application version while the secret could not be moved back, and an alias someone moved where they put it', async () => {
    active = aliased;
    lambda.add(WORKER, {});
    lambda.deploy(WORKER, 5, 'live', '5');
    const cutover = await begin('stopped-rotated', '3');
    const { request, recorded } = cutover.state as { request: CutoverRequest; recorded: Recorded };
    await swap(cutover);
    await runCutoverStep({ step: 'restart', request, recorded, side: 'new' }, deps());
    cutover.run.after(1).task('Restart', cutover.state, lambdaStep(120), { output: cutover.state }).after(1).end('ABORTED');
    // A rotation writes its own version meanwhile: the secret stays, and so does the version that runs with it.
    await new SecretsManagerClient({}).send(
      new PutSecretValueCommand({ SecretId: APP_SECRET, SecretString: rdsSecret(cutover.oldDb), ClientRequestToken: randomUUID() }),
    );
    const result = await compensate(cutover.executionArn);
    expect(lambda.aliasVersion(WORKER, 'live')).toBe('3');
    expect(result.notice?.message).toContain(
      `left the alias live of Lambda function ${WORKER} on version 3, since the secret was not moved back: once it is, point it at version 5`,
    );

    // Someone moved the alias: with the secret back, the compensation still leaves it there, and says so.
    await clearLocks();
    lambda.deploy(WORKER, 5, 'live', '5');
    const moved = await begin('stopped-moved', '3');
    const state = moved.state as { request: CutoverRequest; recorded: Recorded };
    await swap(moved);
    await runCutoverStep({ step: 'restart', request: state.request, recorded: state.recorded, side: 'new' }, deps());
    await new LambdaClient({}).send(new UpdateAliasCommand({ FunctionName: WORKER, Name: 'live', FunctionVersion: '2' }));
    moved.run.after(1).task('Restart', moved.state, lambdaStep(120), { output: moved.state }).after(1).end('ABORTED');
    const reported = await compensate(moved.executionArn);
    expect(lambda.aliasVersion(WORKER, 'live')).toBe('2');
    expect(reported.notice).toMatchObject({ page: true });
    expect(reported.notice?.message).toContain(
      `the alias live of Lambda function ${WORKER} was not pointed back (AliasMoved: the alias live of Lambda function ${WORKER} points at version 2 (revision `,
    );
  });

  it('leaves a switch proved healthy in place, and a lock another execution took over to that execution', async () => {
    const cutover = await begin('stopped-unfreezing');
    await freeze(cutover);
    const swapped = await swap(cutover);
    const health: HealthReport = {
      side: 'new',
      passed: true,
      summary: 'healthy',
      http: { url: 'http://127.0.0.1:1/health', required: 2, consecutive: 2, attempts: 2, last: 'HTTP 200' },
      sessions: { database: 'x', role, count: 1, detail: '' },
      timing: { startedAt: '2026-11-23T10:51:00.000Z', finishedAt: '2026-11-23T10:51:05.000Z' },
    };
    cutover.run.after(60).task('ProveHealth', cutover.state, lambdaStep(900), { output: { ...cutover.state, health } });
    cutover.run.task('Unfreeze', { ...cutover.state, health }, lambdaStep(120), { running: true });
    // The lock expired and another cutover took it.
    const other = `${ACCOUNT}:execution:lifeline-cutover:later`;
    await dynamodb.send(
      new PutItemCommand({
        TableName: LOCK_TABLE,
        Item: { application: { S: 'shop-api' }, executionArn: { S: other }, expiresAt: { N: '1' } },
      }),
    );
    cutover.run.after(1).end('ABORTED');

    await compensate(cutover.executionArn);
    expect(secrets.current(APP_SECRET).versionId).toBe(swapped.versionId);
    expect(await readOnly(cutover.oldDb)).toBe('not set');
    expect(await locks()).toEqual([{ application: 'shop-api', executionArn: other }]);
    expect(notices[0]).toMatchObject({
      subject: 'Lifeline: cutover of shop-api was stopped: shop-api stays switched',
      page: false,
      message: expect.stringContaining(
        `Done: left shop-api on ${(cutover.state.recorded as Recorded).to.database} on ${pg.host}:${pg.port}, where it had been switched and proved healthy; ` +
          'lifted the write freeze (read-only-source)',
      ),
    });
    expect(notices[0]!.message).toContain('found its lock on shop-api released already (or taken over after it expired)');
  });

  it('never acts on a running or succeeded execution, nor after its own failure path ran to Conclude', async () => {
    const cutover = await begin('redriven');
    await freeze(cutover);
    await swap(cutover);
    cutover.run.after(1).task('Restart', cutover.state, lambdaStep(120), { running: true });
    const untouched = async () => ({ stages: secrets.stages(APP_SECRET), readOnly: await readOnly(cutover.oldDb), locks: await locks() });
    const before = await untouched();
    expect(await compensate(cutover.executionArn)).toMatchObject({ status: 'RUNNING', compensated: false, notice: null });
    cutover.run.after(300).end('SUCCEEDED', { output: {} });
    expect(await compensate(cutover.executionArn)).toMatchObject({ status: 'SUCCEEDED', compensated: false });
    expect(await untouched()).toEqual(before);
    expect(before.locks).toEqual([{ application: 'shop-api', executionArn: cutover.executionArn }]);

    await clearLocks();
    // A failed cutover as every one ends: Conclude, the lock released, the failure notified.
    const concluded = await begin('concluded');
    const failure = { error: 'CutoverRolledBack', cause: 'x', subject: 's', message: 'm', page: false, keepLock: false };
    const ended = { ...concluded.state, failure };
    concluded.run.after(1).task('Conclude', concluded.state, lambdaStep(60), { output: ended }).flow('Choice', 'LockNeeded', ended);
    await clearLocks();
    concluded.run
      .task(
        'ReleaseLockAfterFailure',
        ended,
        { kind: 'service', resourceType: 'dynamodb', resource: 'deleteItem', timeoutSeconds: 60 },
        { output: ended },
      )
      .task('NotifyFailure', ended, { kind: 'service', resourceType: 'sns', resource: 'publish', timeoutSeconds: 60 }, { output: ended })
      .flow('Choice', 'PageNeeded', ended)
      .fail('Failed', ended, 'CutoverRolledBack', 'x');
    expect(await compensate(concluded.executionArn, 'FAILED')).toMatchObject({
      compensated: false,
      reason: 'its own failure path ran to Conclude',
    });
    expect(await locks()).toEqual([]);
    expect(notices).toEqual([]);
  });
});
