import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { DynamoDBClient, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { LambdaClient, UpdateAliasCommand } from '@aws-sdk/client-lambda';
import { PutSecretValueCommand, SecretsManagerClient, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CUTOVER_TIMEOUT_SECONDS, type CutoverSettings } from '../../lambdas/core/cutover/state.js';
import { CLEANUP_MARGIN_MS } from '../../lambdas/core/deadline.js';
import { unlock } from '../../lambdas/core/operator/locks.js';
import { executionStarter } from '../../lambdas/core/operator/starter.js';
import {
  loadDefinition,
  runLocalExecution,
  type CallbackAnswer,
  type CallbackRequest,
  type LambdaHandler,
  type Notification,
} from '../../lambdas/core/workflows/local.js';
import { ApplicationProcess, freePort } from '../support/application.js';
import { ApprovalDesk } from '../support/approvals.js';
import { cutoverLockTasks, FakeEcs, FakeLambda, FakeSecretsManager, FakeSsm, startLockTable } from '../support/control-planes.js';
import { sharedPostgres } from '../support/shared.js';
import {
  APPROVAL_FUNCTIONS,
  approve,
  aslErrors,
  CUTOVER_STEPS_FUNCTION,
  CUTOVER_SUBSTITUTIONS,
  tasksFailingAnIdleFunction,
} from '../support/workflows.js';

const DEFINITION = 'state-machines/cutover.asl.json';
const APP_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:shop-api/connection-AbC123';
const NEW_DATABASE_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:shop-api/restored-DeF456';
const SERVER_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:lifeline/shop-admin-GhI789';
const SERVICE = { cluster: 'production', service: 'shop-api' };
const TASK_DEFINITION = 'arn:aws:ecs:us-east-1:000000000000:task-definition/shop-api:7';
const WORKER = 'shop-api-worker';
const MAINTENANCE_PARAMETER = '/shop-api/maintenance';

const pg = sharedPostgres();
const role = `cutover_app_${randomBytes(4).toString('hex')}`;
const rolePassword = randomBytes(12).toString('hex');
const created: string[] = [];

let app: ApplicationProcess;
let secrets: FakeSecretsManager;
let ecs: FakeEcs;
let lambda: FakeLambda;
let ssm: FakeSsm;
let stopLockTable: () => void;
let dynamodb: DynamoDBClient;
let stepsHandler: LambdaHandler;

/** What the ECS stand-in does when the service restarts; each test sets what it needs. */
let onRestart: (secretString: string) => Promise<string> = (secretString) => Promise.resolve(secretString);
/** What it does when the service is scaled to zero: its tasks stop (the application process ends). */
let onStop: () => Promise<void> = () => app.stop();

function settingsWith(freeze: CutoverSettings['applications'][number]['freeze'], lambdaFunctions: string[] = []): CutoverSettings {
  return {
    deployment: { pollSeconds: 1, timeoutSeconds: 30 },
    applications: [
      {
        name: 'shop-api',
        connectionSecretArn: APP_SECRET,
        ecsServices: [SERVICE],
        lambdaFunctions,
        freeze,
        healthCheck: { url: app.healthUrl, count: 2, windowSeconds: 4, intervalSeconds: 0.2 },
      },
    ],
    // The application's database's server, as the config says it listens: the only one it is switched to by name.
    servers: [{ name: 'shop', secretArn: SERVER_SECRET, host: pg.host, port: pg.port, rds: { instanceIdentifier: 'shop' } }],
  };
}

/** The application as a Lambda function invoked through its alias `live` (an applicationVersion points it). */
function aliasedSettings(): CutoverSettings {
  const settings = settingsWith({ mode: 'none' });
  return { ...settings, applications: [{ ...settings.applications[0]!, ecsServices: [], lambdaFunctions: [WORKER], lambdaAlias: 'live' }] };
}

/** Someone else points the function's alias at `version`. */
const moveAlias = (version: string) =>
  new LambdaClient({}).send(new UpdateAliasCommand({ FunctionName: WORKER, Name: 'live', FunctionVersion: version }));

/** A database owned by the application's role, with the table its /health reads unless `healthy` is false. */
async function applicationDatabase(prefix: string, healthy = true): Promise<string> {
  const name = await pg.createDatabase(prefix);
  created.push(name);
  await pg.query('postgres', `ALTER DATABASE "${name}" OWNER TO ${role}`);
  if (healthy) await pg.query(name, `CREATE TABLE app_health (checked_at timestamptz); ALTER TABLE app_health OWNER TO ${role}`);
  return name;
}

const rdsSecret = (database: string, user = role, password = rolePassword) =>
  JSON.stringify({ engine: 'postgres', host: pg.host, port: pg.port, username: user, password, dbname: database });
const url = (database: string) => `postgresql://${role}:${rolePassword}@${pg.host}:${pg.port}/${database}`;

async function health(): Promise<{ status: number; database?: string }> {
  const response = await fetch(app.healthUrl);
  return { status: response.status, ...((await response.json()) as { database?: string }) };
}

/** The application's database setting as a new session gets it, and whether the role can write there. */
async function readOnly(database: string): Promise<string> {
  const rows = await pg.query<{ setconfig: string[] | null }>(
    database,
    'SELECT setconfig FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) AND setrole = 0',
  );
  return rows[0]?.setconfig?.join(',') ?? 'not set';
}

async function locks() {
  return (await dynamodb.send(new ScanCommand({ TableName: CUTOVER_SUBSTITUTIONS.LockTableName }))).Items ?? [];
}

/** The application's sessions on a database. */
async function sessionsOf(database: string): Promise<number> {
  const rows = await pg.query<{ n: number }>(
    'postgres',
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND usename = $2',
    [database, role],
  );
  return rows[0]!.n;
}

/** The health URL's status, or 'down' when nothing listens. */
const healthStatus = () =>
  fetch(app.healthUrl).then(
    (response) => response.status,
    () => 'down',
  );

beforeAll(async () => {
  await pg.query('postgres', `CREATE ROLE ${role} LOGIN PASSWORD '${rolePassword}'`);
  app = new ApplicationProcess(await freePort());
  secrets = new FakeSecretsManager();
  ecs = new FakeEcs();
  lambda = new FakeLambda();
  ssm = new FakeSsm();
  ecs.add({
    ...SERVICE,
    taskDefinition: TASK_DEFINITION,
    desiredCount: 1,
    // A new task reads the secret's AWSCURRENT value when it starts.
    restart: async () => app.start(await onRestart(secrets.current(APP_SECRET).value)),
    stop: () => onStop(),
  });
  // The version an alias is pointed at starts new execution environments, which read the secret's AWSCURRENT value.
  lambda.onAliasUpdate = async () => app.start(await onRestart(secrets.current(APP_SECRET).value));
  ({ dynamodb, stop: stopLockTable } = await startLockTable(CUTOVER_SUBSTITUTIONS.LockTableName));
  secrets.create(SERVER_SECRET, rdsSecret('postgres', pg.user, pg.password));
  ({ handler: stepsHandler } = await import('../../lambdas/cutover/handler.js'));
});

afterEach(async () => {
  onRestart = (secretString) => Promise.resolve(secretString);
  onStop = () => app.stop();
  answer = (request) => approve(request);
  await ecs.settled();
  await app.stop();
});

afterAll(async () => {
  for (const name of created) await pg.query('postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await pg.query('postgres', `DROP ROLE IF EXISTS ${role}`);
  stopLockTable();
});

interface Scenario {
  /** The application's secret before the cutover (its shape is kept). */
  secret: string;
  settings: CutoverSettings;
}

/** The application running on its old database, as ECS started it from the secret's current value. */
async function deploy({ secret, settings }: Scenario): Promise<string> {
  const versionId = secrets.create(APP_SECRET, secret);
  process.env.LIFELINE_CUTOVER_SETTINGS = JSON.stringify(settings);
  await app.start(secret);
  return versionId;
}

/** Runs cutover.asl.json; `lockTasks` replaces the lock states' DynamoDB integration, each by state name. */
async function run(
  input: unknown,
  steps = stepsHandler,
  retryIntervals?: Record<string, number>,
  lockTasks: Partial<ReturnType<typeof cutoverLockTasks>> = {},
) {
  const notifications: Notification[] = [];
  /** What WaitForApproval asked, apart from the notices the other states send. */
  const asked: Notification[] = [];
  const requests: CallbackRequest[] = [];
  const result = await runLocalExecution({
    retryIntervals,
    definitionFile: DEFINITION,
    substitutions: CUTOVER_SUBSTITUTIONS,
    input,
    functions: { [CUTOVER_STEPS_FUNCTION]: steps, ...APPROVAL_FUNCTIONS },
    tasks: { ...cutoverLockTasks(dynamodb), ...lockTasks },
    notify: (notification) => (notification.state === 'WaitForApproval' ? asked : notifications).push(notification),
    // A cutover started by hand asks a person first: the on-call engineer approves, unless a test answers otherwise.
    answer: (request) => {
      requests.push(request);
      return answer(request);
    },
  });
  return { ...result, notifications, asked, requests };
}

/** How the person asked answers a run's approval (approve, by default). */
let answer: (request: CallbackRequest) => Promise<CallbackAnswer> = (request) => approve(request);

const ONCALL = 'arn:aws:sts::000000000000:assumed-role/oncall/alice';
const sts = mockClient(STSClient);
const cloudtrail = mockClient(CloudTrailClient);
const sfn = mockClient(SFNClient);

/**
 * After a failure that keeps the application's lock: the lock item, without expiresAt, names the failure; another
 * cutover is refused even long after this one's own expiry would have passed; `lifeline unlock` clears it.
 */
async function expectLockKept(result: Awaited<ReturnType<typeof run>>, error: string): Promise<void> {
  expect(result.states).toContain('KeepLock');
  expect(result.states).not.toContain('ReleaseLockAfterFailure');
  expect(await locks()).toEqual([
    {
      application: { S: 'shop-api' },
      executionArn: { S: result.executionArn },
      keptFor: { S: error },
    },
  ]);
  const notice = result.notifications.find((n) => n.state === 'Page')!.message as string;
  expect(notice).toMatch(/lock on shop-api is kept|its lock is kept until you clear it/);
  expect(notice).toContain('lifeline unlock shop-api');

  // Three execution timeouts later, as TakeLock of a later cutover sees the time: still refused.
  const later: LambdaHandler = async (event, context) => {
    const answer = await stepsHandler(event, context);
    if ((event as { step: string }).step !== 'validateInput') return answer;
    const { lock } = answer as { lock: { now: string } };
    return { ...(answer as object), lock: { ...lock, now: String(Number(lock.now) + 3 * CUTOVER_TIMEOUT_SECONDS) } };
  };
  const writes = secrets.writes.length;
  const refused = await run({ application: 'shop-api', database: { serverSecretArn: SERVER_SECRET, name: 'shop_elsewhere' } }, later);
  expect(refused.error).toBe('CutoverLocked');
  expect(refused.cause).toMatch(
    /failed with RollbackUnhealthy, SecretChanged or CutoverUnresolved, whose lock is kept until a person clears it/,
  );
  expect(refused.states).toEqual(['ValidateInput', 'NeedsApproval', 'WaitForApproval', 'VerifyApproval', 'TakeLock', 'Locked', 'Refused']);
  expect(secrets.writes.length).toBe(writes);

  // A person clears it, on the record.
  sts.reset();
  sts.on(GetCallerIdentityCommand).resolves({ Arn: ONCALL, Account: '000000000000', UserId: 'AROAEXAMPLE:alice' });
  sfn.reset();
  const stopDate = new Date();
  sfn
    .on(DescribeExecutionCommand, { executionArn: result.executionArn })
    .resolves({ executionArn: result.executionArn, status: 'FAILED', stopDate });
  const cleared = await unlock(
    { application: 'shop-api', reason: 'checked the connection by hand', table: CUTOVER_SUBSTITUTIONS.LockTableName },
    { dynamodb, sts: new STSClient({ region: 'us-east-1' }), sfn: (region) => new SFNClient({ region }) },
  );
  expect(cleared).toMatchObject({
    unlocked: true,
    lock: { executionArn: result.executionArn, keptFor: error, expiresAt: null },
    holder: { status: 'FAILED', stoppedAt: stopDate.toISOString() },
    by: ONCALL,
    reason: 'checked the connection by hand',
  });
  expect(await locks()).toEqual([]);
}

describe('cutover.asl.json', () => {
  it('passes asl-validator once its placeholders are filled in, as deployed', async () => {
    const definition = await loadDefinition(DEFINITION, CUTOVER_SUBSTITUTIONS);
    expect(aslErrors(definition)).toBe('');
    const { AlarmTopicArn: _, ...withoutAlarm } = CUTOVER_SUBSTITUTIONS;
    await expect(loadDefinition(DEFINITION, withoutAlarm)).rejects.toThrow(/no value for \$\{AlarmTopicArn\}/);
  });

  it('retries every step on a function that answers its first call ResourceNotReady, as an idle function in a VPC does', async () => {
    expect(tasksFailingAnIdleFunction(await loadDefinition(DEFINITION, CUTOVER_SUBSTITUTIONS))).toEqual([]);
  });

  it('reverts every failure after the swap, lifts the freeze on every failure, and lives no longer than its lock', async () => {
    const definition = await loadDefinition(DEFINITION, CUTOVER_SUBSTITUTIONS);
    const catchAll = (name: string) =>
      (definition.States[name] as { Catch: { ErrorEquals: string[]; Next: string }[] }).Catch.find((c) =>
        c.ErrorEquals.includes('States.ALL'),
      )?.Next;
    for (const name of ['Swap', 'Restart', 'CheckRestart', 'ProveHealth']) expect(catchAll(name), name).toBe('Revert');
    // After a healthy switch, a failed summary still ends in the success path, notified.
    expect(catchAll('Summarize')).toBe('SummaryFailed');
    expect(definition.States.SummaryFailed).toMatchObject({ Type: 'Pass', ResultPath: '$.outcome', Next: 'Notify' });
    // Someone else's version of the secret is no passing fault: the revert is not retried over it.
    const revertRetries = (definition.States.Revert as { Retry: { ErrorEquals: string[] }[] }).Retry;
    expect(revertRetries.find((retrier) => retrier.ErrorEquals.includes('SecretChanged'))).toEqual({
      ErrorEquals: ['SecretChanged'],
      MaxAttempts: 0,
    });
    for (const name of [
      'Record',
      'Freeze',
      'Revert',
      'RollbackUnfreeze',
      'RollbackRestart',
      'CheckRollbackRestart',
      'ProveRollbackHealth',
    ]) {
      expect(catchAll(name), name).toBe('LiftFreeze');
    }
    expect((definition as { TimeoutSeconds?: number }).TimeoutSeconds).toBe(CUTOVER_TIMEOUT_SECONDS);
    expect('Catch' in definition.States.ValidateInput!).toBe(false);
    // DynamoDB's errors retried by the names Step Functions gives them: DynamoDB.<the API's error code>.
    for (const name of ['TakeLock', 'KeepLock', 'ReleaseLock', 'ReleaseLockAfterFailure']) {
      const retried = (definition.States[name] as { Retry: { ErrorEquals: string[] }[] }).Retry.flatMap((r) => r.ErrorEquals);
      expect(retried, name).toEqual(expect.arrayContaining(['DynamoDB.InternalServerError', 'DynamoDB.ThrottlingException']));
    }
    // Conclude failing still notifies and pages.
    expect(catchAll('Conclude')).toBe('ConcludeFailed');
    expect(definition.States.ConcludeFailed).toMatchObject({
      Type: 'Pass',
      Parameters: { error: 'CutoverUnresolved', page: true, keepLock: true },
      Next: 'LockNeeded',
    });
    // Every failure is named before the lock is released or kept: the name decides.
    expect(definition.States.Conclude).toMatchObject({ Next: 'LockNeeded' });
    expect(definition.States.LockNeeded).toMatchObject({ Type: 'Choice', Default: 'ReleaseLockAfterFailure' });
    for (const name of ['KeepLock', 'ReleaseLockAfterFailure']) {
      expect(catchAll(name), name).toBe('NotifyFailure');
      expect((definition.States[name] as { Next: string }).Next, name).toBe('NotifyFailure');
    }
  });
});

describe('the cutover workflow run locally against PostgreSQL, a real application process and a DynamoDB-compatible lock', () => {
  it('switches the application to the new database, restarts it, proves it healthy there, and keeps the old version', async () => {
    const oldDb = await applicationDatabase('cutover_old');
    const newDb = await applicationDatabase('cutover_new');
    await pg.query(oldDb, 'INSERT INTO app_health VALUES (now())');
    secrets.create(NEW_DATABASE_SECRET, rdsSecret(newDb));
    lambda.add(WORKER, { NODE_OPTIONS: '--enable-source-maps', SECRET_ARN: APP_SECRET });
    const recordedVersion = await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'none' }, [WORKER]) });
    expect(await health()).toEqual({ status: 200, database: oldDb, checks: '1' });
    const updatesBefore = ecs.updates.length;

    const result = await run({ application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET } });
    expect(result.error ?? null, `${result.cause} in ${result.states.join(' > ')}`).toBeNull();
    expect(result.status).toBe('SUCCEEDED');

    // The application runs on the new database, from the secret's new AWSCURRENT version in its own shape.
    expect(await health()).toMatchObject({ status: 200, database: newDb });
    const current = secrets.current(APP_SECRET);
    expect(JSON.parse(current.value)).toEqual({
      engine: 'postgres',
      host: pg.host,
      port: pg.port,
      username: role,
      password: rolePassword,
      dbname: newDb,
    });
    expect(secrets.stages(APP_SECRET)).toEqual({ [recordedVersion]: ['AWSPREVIOUS'], [current.versionId]: ['AWSCURRENT'] });
    expect(ecs.updates.slice(updatesBefore)).toEqual([
      { service: 'shop-api', forceNewDeployment: true, taskDefinition: undefined, desiredCount: undefined },
    ]);
    const worker = lambda.functions.get(WORKER)!.variables;
    expect(worker).toMatchObject({ NODE_OPTIONS: '--enable-source-maps', SECRET_ARN: APP_SECRET });
    expect(Date.parse(worker.LIFELINE_CUTOVER_AT!)).toBeGreaterThan(Date.now() - 60_000);

    const output = result.output as any;
    expect(output).toMatchObject({
      application: 'shop-api',
      from: { database: oldDb, role },
      to: { database: newDb, role },
      secretVersionId: current.versionId,
      previousSecretVersionId: recordedVersion,
      freeze: 'none',
      frozenSeconds: null,
      health: { side: 'new', passed: true, sessions: { database: newDb, role } },
    });
    expect(output.health.sessions.count).toBeGreaterThan(0);
    expect(output.swapToHealthySeconds).toBeGreaterThan(0);
    expect(result.notifications.map((n) => [n.state, n.topicArn, n.subject])).toEqual([
      ['Notify', CUTOVER_SUBSTITUTIONS.NotificationsTopicArn, `Lifeline: shop-api switched to ${newDb}`],
    ]);
    expect(JSON.stringify(result)).not.toContain(rolePassword);
    // The old database is kept as it was, and the lock is released.
    expect(await pg.query(oldDb, 'SELECT count(*)::int AS n FROM app_health')).toEqual([{ n: 1 }]);
    expect(await locks()).toEqual([]);
  });

  it('rolls back when the new database fails the health check: the old version current, the application healthy there, writes allowed again', async () => {
    const oldDb = await applicationDatabase('cutover_old');
    const brokenDb = await applicationDatabase('cutover_broken', false);
    const recordedVersion = await deploy({
      secret: JSON.stringify({ DATABASE_URL: url(oldDb), FEATURE_FLAGS: 'checkout-v2' }),
      settings: settingsWith({ mode: 'read-only-source' }),
    });
    const seen: string[] = [];
    onRestart = async (secretString) => {
      seen.push(`${JSON.parse(secretString).DATABASE_URL.split('/').at(-1)} while the old database is ${await readOnly(oldDb)}`);
      return secretString;
    };

    const result = await run({ application: 'shop-api', database: { serverSecretArn: SERVER_SECRET, name: brokenDb } });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('CutoverRolledBack');
    expect(result.cause).toMatch(
      new RegExp(`^switching shop-api failed with HealthCheckFailed: ${app.healthUrl} did not answer 2xx 2 times`),
    );
    expect(result.cause).toMatch(/Health after the switch: .* did not answer 2xx/);
    expect(result.cause).toMatch(
      new RegExp(`Health after the rollback: .* answered 2xx 2 times in a row and ${oldDb} on .* has \\d+ sessions of ${role}`),
    );
    // Frozen while switching, writable again before the application came back to it.
    expect(seen).toEqual([
      `${brokenDb} while the old database is default_transaction_read_only=on`,
      `${oldDb} while the old database is not set`,
    ]);
    expect(await readOnly(oldDb)).toBe('not set');
    expect(await health()).toMatchObject({ status: 200, database: oldDb });
    expect(secrets.current(APP_SECRET)).toEqual({
      versionId: recordedVersion,
      value: JSON.stringify({ DATABASE_URL: url(oldDb), FEATURE_FLAGS: 'checkout-v2' }),
    });
    expect(ecs.updates.at(-1)).toEqual({ service: 'shop-api', taskDefinition: TASK_DEFINITION, desiredCount: 1, forceNewDeployment: true });
    expect(result.notifications.map((n) => n.state)).toEqual(['NotifyFailure']);
    expect(result.notifications[0]!.subject).toBe('Lifeline: cutover of shop-api rolled back');
    expect(await locks()).toEqual([]);
  });

  it('rolls back an application that stays on the old database although healthy: the session check catches it', async () => {
    const oldDb = await applicationDatabase('cutover_old');
    const newDb = await applicationDatabase('cutover_new');
    secrets.create(NEW_DATABASE_SECRET, rdsSecret(newDb));
    const secret = url(oldDb);
    await deploy({ secret, settings: settingsWith({ mode: 'none' }) });
    // An application that kept its connection from an earlier read: restarts do not move it.
    onRestart = () => Promise.resolve(secret);

    const result = await run({ application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET } });
    expect(result.error).toBe('CutoverRolledBack');
    expect(result.cause).toMatch(
      new RegExp(`failed with HealthCheckFailed: ${app.healthUrl} is healthy but ${newDb} on .* has no sessions of ${role} within 4 s`),
    );
    expect(secrets.current(APP_SECRET).value).toBe(secret);
    expect(await health()).toMatchObject({ status: 200, database: oldDb });
  });

  it('rolls back when the ECS deployment fails, naming DeploymentFailed and the rollout reason', async () => {
    const oldDb = await applicationDatabase('cutover_old');
    const newDb = await applicationDatabase('cutover_new');
    secrets.create(NEW_DATABASE_SECRET, rdsSecret(newDb));
    const recordedVersion = await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'none' }) });
    // The new tasks exit at start (a release that cannot run against the new database).
    onRestart = (secretString) =>
      Promise.resolve(JSON.parse(secretString).dbname === newDb ? JSON.stringify({ ...JSON.parse(secretString), port: 1 }) : secretString);

    const result = await run({ application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET } });
    expect(result.error).toBe('CutoverRolledBack');
    expect(result.cause).toMatch(
      /failed with DeploymentFailed: ECS service shop-api in cluster production: deployment ecs-svc\/\w+ failed: ECS deployment circuit breaker: tasks failed to start/,
    );
    expect(result.states).not.toContain('ProveHealth');
    expect(secrets.current(APP_SECRET).versionId).toBe(recordedVersion);
    expect(await health()).toMatchObject({ status: 200, database: oldDb });
  });

  it('fails with RollbackUnhealthy and pages when the old side is not healthy either, with the freeze lifted', async () => {
    const oldDb = await applicationDatabase('cutover_old');
    const brokenDb = await applicationDatabase('cutover_broken', false);
    secrets.create(NEW_DATABASE_SECRET, rdsSecret(brokenDb));
    await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'read-only-source' }) });
    // Meanwhile the old database loses what the application's health needs.
    onRestart = async (secretString) => {
      // As an operator's session would, past the freeze.
      await pg.query(oldDb, 'BEGIN READ WRITE; DROP TABLE IF EXISTS app_health; COMMIT');
      return secretString;
    };

    const result = await run({ application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET } });
    expect(result.error).toBe('RollbackUnhealthy');
    expect(result.cause).toMatch(/Health after the switch: .* did not answer 2xx .* Health after the rollback: .* did not answer 2xx/);
    expect(result.notifications.map((n) => [n.state, n.topicArn])).toEqual([
      ['NotifyFailure', CUTOVER_SUBSTITUTIONS.NotificationsTopicArn],
      ['Page', CUTOVER_SUBSTITUTIONS.AlarmTopicArn],
    ]);
    expect(result.notifications[1]!.subject).toBe('Lifeline: shop-api is unhealthy after a cutover rollback');
    expect(result.notifications[1]!.message as string).toMatch(/^ACTION NEEDED: /);
    expect(result.cause).toContain(
      'The lock on shop-api is kept, with no expiry, so that no other cutover starts from this state and records it as the one to go back to; ' +
        'once shop-api is checked and on the database it should use, clear it: lifeline unlock shop-api --region us-east-1 --reason "<what you checked>".',
    );
    expect(await readOnly(oldDb)).toBe('not set');
    await expectLockKept(result, 'RollbackUnhealthy');
  });

  it('still succeeds and notifies when the summary of a healthy switch fails: the switch happened', async () => {
    const oldDb = await applicationDatabase('cutover_old');
    const newDb = await applicationDatabase('cutover_new');
    secrets.create(NEW_DATABASE_SECRET, rdsSecret(newDb));
    const recordedVersion = await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'none' }) });
    // The steps function failing on its last call, as a Lambda whose runtime crashed would.
    const failingSummary: LambdaHandler = (event, context) =>
      (event as { step: string }).step === 'summarize'
        ? Promise.reject(Object.assign(new Error('Runtime exited with error: signal: killed'), { name: 'Runtime.ExitError' }))
        : stepsHandler(event, context);

    const result = await run({ application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET } }, failingSummary);
    expect(result.error ?? null, result.cause).toBeNull();
    expect(result.status).toBe('SUCCEEDED');
    expect(result.states.slice(-4)).toEqual(['Summarize', 'SummaryFailed', 'Notify', 'Done']);
    const current = secrets.current(APP_SECRET);
    expect(result.output).toMatchObject({
      status: 'SUCCEEDED',
      application: 'shop-api',
      to: { database: newDb, role },
      secretVersionId: current.versionId,
      previousSecretVersionId: recordedVersion,
      health: { side: 'new', passed: true },
      summaryError: { Error: 'Runtime.ExitError' },
    });
    expect(result.notifications.map((n) => [n.state, n.subject])).toEqual([['Notify', 'Lifeline: shop-api switched to its new database']]);
    expect(result.notifications[0]!.message).toMatch(
      new RegExp(`^shop-api now uses ${newDb} on .* and was proved healthy; .* Its summary failed \\(Runtime.ExitError\\)`),
    );
    expect(await health()).toMatchObject({ status: 200, database: newDb });
    expect(await locks()).toEqual([]);
  });

  it('notifies and pages with CutoverUnresolved when the step that names the failure fails too', async () => {
    const oldDb = await applicationDatabase('cutover_old');
    const recordedVersion = await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'none' }) });
    const failingConclusion: LambdaHandler = (event, context) =>
      (event as { step: string }).step === 'conclude'
        ? Promise.reject(Object.assign(new Error('Runtime exited with error: signal: killed'), { name: 'Runtime.ExitError' }))
        : stepsHandler(event, context);

    // A database secret that does not exist fails Record, before anything changes.
    const missing = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:shop-api/missing-XyZ789';
    const result = await run({ application: 'shop-api', database: { secretArn: missing } }, failingConclusion, { Conclude: 0 });
    expect(result.error).toBe('CutoverUnresolved');
    expect(result.cause).toMatch(
      /^the cutover of shop-api failed and its outcome could not be worked out \(Conclude failed with Runtime.ExitError\)/,
    );
    expect(result.notifications.map((n) => [n.state, n.topicArn, n.subject])).toEqual([
      ['NotifyFailure', CUTOVER_SUBSTITUTIONS.NotificationsTopicArn, 'Lifeline: cutover of shop-api failed, its outcome unknown'],
      ['Page', CUTOVER_SUBSTITUTIONS.AlarmTopicArn, 'Lifeline: cutover of shop-api failed, its outcome unknown'],
    ]);
    expect(result.notifications[1]!.message as string).toMatch(/^ACTION NEEDED: /);
    expect(secrets.current(APP_SECRET).versionId).toBe(recordedVersion);
    // What it left is unknown, so its lock stays until a person has looked.
    await expectLockKept(result, 'CutoverUnresolved');
  });

  it('leaves a secret rotated during the cutover current, rolls nothing back over it, and pages with SecretChanged', async () => {
    const oldDb = await applicationDatabase('cutover_old');
    const brokenDb = await applicationDatabase('cutover_broken', false);
    secrets.create(NEW_DATABASE_SECRET, rdsSecret(brokenDb));
    const recordedVersion = await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'read-only-source' }) });
    // A rotation writes its own version while the new tasks start (as RDS or a rotation Lambda would).
    let rotated: string | undefined;
    onRestart = async (secretString) => {
      if (rotated === undefined) {
        const value = JSON.stringify({ ...JSON.parse(secretString), rotatedBy: 'rotation-lambda' });
        ({ VersionId: rotated } = await new SecretsManagerClient({}).send(
          new PutSecretValueCommand({ SecretId: APP_SECRET, SecretString: value }),
        ));
      }
      return secretString;
    };
    const writes = secrets.writes.length;

    const result = await run({ application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET } });
    expect(result.error).toBe('SecretChanged');
    expect(result.cause).toMatch(
      new RegExp(
        `^switching shop-api failed with HealthCheckFailed: .* Not rolled back: secret ${APP_SECRET} changed under the cutover: AWSCURRENT is ${rotated}, neither the recorded version ${recordedVersion} nor the one this cutover wrote .*; it was left as it is\\. Someone else changed the connection secret`,
      ),
    );
    // The swap and the rotation wrote; the revert moved no label (its fence of the swap's token was refused: the swap had written).
    expect(secrets.writes.slice(writes).map((w) => w.action)).toEqual(['PutSecretValue', 'PutSecretValue', 'PutSecretValue']);
    expect(Object.values(secrets.stages(APP_SECRET)).flat()).not.toContain('LIFELINE_FENCED');
    expect(secrets.current(APP_SECRET)).toEqual({ versionId: rotated, value: expect.stringContaining('rotation-lambda') });
    expect(result.states).not.toContain('RollbackRestart');
    expect(result.notifications.map((n) => [n.state, n.topicArn, n.subject])).toEqual([
      ['NotifyFailure', CUTOVER_SUBSTITUTIONS.NotificationsTopicArn, "Lifeline: shop-api's connection secret changed during its cutover"],
      ['Page', CUTOVER_SUBSTITUTIONS.AlarmTopicArn, "Lifeline: shop-api's connection secret changed during its cutover"],
    ]);
    expect(await readOnly(oldDb)).toBe('not set');
    await expectLockKept(result, 'SecretChanged');
  });

  it('refuses a SecureString maintenance parameter at Record, before anything changes, keeping its value out of the execution', async () => {
    const oldDb = await applicationDatabase('cutover_old');
    const newDb = await applicationDatabase('cutover_new');
    const plaintext = `maintenance-${randomBytes(6).toString('hex')}`;
    ssm.parameters.set(MAINTENANCE_PARAMETER, { value: plaintext, type: 'SecureString' });
    const versionId = await deploy({
      secret: url(oldDb),
      settings: settingsWith({ mode: 'parameter', parameterName: MAINTENANCE_PARAMETER, frozenValue: 'on' }),
    });
    const writes = secrets.writes.length;
    const updates = ecs.updates.length;
    const gets = ssm.mock.commandCalls(GetParameterCommand).length;

    const result = await run({ application: 'shop-api', database: { serverSecretArn: SERVER_SECRET, name: newDb } });
    expect(result.error).toBe('InvalidConfig');
    expect(result.cause).toBe(
      `freeze parameter: ${MAINTENANCE_PARAMETER} is a SecureString parameter; its value would be recorded in the execution's state, so a maintenance flag must be a String or StringList parameter`,
    );
    expect(result.states).not.toContain('Freeze');
    // Never asked for decrypted.
    expect(
      ssm.mock
        .commandCalls(GetParameterCommand)
        .slice(gets)
        .map((call) => call.args[0].input.WithDecryption),
    ).toEqual([false]);
    expect(JSON.stringify(result)).not.toContain(plaintext);
    expect(ssm.parameters.get(MAINTENANCE_PARAMETER)).toEqual({ value: plaintext, type: 'SecureString' });
    expect(secrets.writes.length).toBe(writes);
    expect(ecs.updates.length).toBe(updates);
    expect(secrets.current(APP_SECRET).versionId).toBe(versionId);
    expect(await locks()).toEqual([]);
  });

  it('freezes with the maintenance parameter while switching, puts its value back after, and reports the time frozen', async () => {
    const oldDb = await applicationDatabase('cutover_old');
    const newDb = await applicationDatabase('cutover_new');
    ssm.parameters.set(MAINTENANCE_PARAMETER, { value: 'off', type: 'String' });
    await deploy({
      secret: url(oldDb),
      settings: settingsWith({ mode: 'parameter', parameterName: MAINTENANCE_PARAMETER, frozenValue: 'on' }),
    });
    const seen: string[] = [];
    onRestart = (secretString) => {
      seen.push(ssm.parameters.get(MAINTENANCE_PARAMETER)!.value);
      return Promise.resolve(secretString);
    };

    const result = await run({ application: 'shop-api', database: { serverSecretArn: SERVER_SECRET, name: newDb } });
    expect(result.error ?? null, result.cause).toBeNull();
    expect(seen).toEqual(['on']);
    expect(ssm.parameters.get(MAINTENANCE_PARAMETER)).toEqual({ value: 'off', type: 'String' });
    // The application's own role on the new database, in the secret's URL shape.
    expect(secrets.current(APP_SECRET).value).toBe(url(newDb));
    const output = result.output as any;
    expect(output.freeze).toBe('parameter');
    expect(output.frozenSeconds).toBeGreaterThanOrEqual(output.swapToHealthySeconds);
    expect(result.notifications[0]!.message).toMatch(/Writes were frozen \(parameter\) for [\d.]+ s\./);

    // Without the input's consent to a freeze, nothing is frozen.
    seen.length = 0;
    const again = await run({ application: 'shop-api', database: { serverSecretArn: SERVER_SECRET, name: oldDb }, freezeWrites: false });
    expect(again.error ?? null, again.cause).toBeNull();
    expect(seen).toEqual(['off']);
  });

  it('scales the ECS service to zero while switching, waits for its tasks to stop, and brings it back at its recorded count', async () => {
    const oldDb = await applicationDatabase('cutover_old');
    const newDb = await applicationDatabase('cutover_new');
    secrets.create(NEW_DATABASE_SECRET, rdsSecret(newDb));
    await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'scale-to-zero' }) });
    // Its tasks take a while to stop (a load balancer's deregistration, the stop timeout): the freeze waits for them.
    onStop = async () => {
      await delay(1_500);
      await app.stop();
      // Stopped, as ECS reports a task STOPPED: its process has exited, and with it its sessions.
      for (let i = 0; i < 100 && (await sessionsOf(oldDb)) > 0; i += 1) await delay(50);
    };
    // What the old database and the health URL say at the moment the secret is switched.
    const atSwap: unknown[] = [];
    const watching: LambdaHandler = async (event, context) => {
      if ((event as { step: string }).step === 'swap') atSwap.push({ sessions: await sessionsOf(oldDb), health: await healthStatus() });
      return stepsHandler(event, context);
    };
    const updates = ecs.updates.length;

    const result = await run({ application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET } }, watching);
    expect(result.error ?? null, `${result.cause} in ${result.states.join(' > ')}`).toBeNull();
    // Nothing of the application ran, so nothing could write to the old database, while it was switched.
    expect(atSwap).toEqual([{ sessions: 0, health: 'down' }]);
    expect(ecs.updates.slice(updates)).toEqual([
      { service: 'shop-api', desiredCount: 0, taskDefinition: undefined, forceNewDeployment: undefined },
      // The restart brings the recorded count back, on the new connection; the unfreeze finds it there.
      { service: 'shop-api', desiredCount: 1, taskDefinition: undefined, forceNewDeployment: true },
      { service: 'shop-api', desiredCount: 1, taskDefinition: undefined, forceNewDeployment: undefined },
    ]);
    expect(await health()).toMatchObject({ status: 200, database: newDb });
    const output = result.output as any;
    expect(output).toMatchObject({ freeze: 'scale-to-zero', health: { side: 'new', passed: true } });
    expect(output.frozenSeconds).toBeGreaterThanOrEqual(output.swapToHealthySeconds);
    expect(result.notifications[0]!.message).toMatch(/Writes were frozen \(scale-to-zero, 1 task\(s\) stopped\) for [\d.]+ s\./);
    expect(await locks()).toEqual([]);
  });

  it("puts the service's desired count back and switches nothing when its tasks have not stopped by the Freeze step's deadline", async () => {
    const oldDb = await applicationDatabase('cutover_old');
    const newDb = await applicationDatabase('cutover_new');
    secrets.create(NEW_DATABASE_SECRET, rdsSecret(newDb));
    const recordedVersion = await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'scale-to-zero' }) });
    // A task that does not stop (a long deregistration delay): it keeps running until the test lets it go.
    let letGo!: () => void;
    onStop = () => new Promise<void>((resolve) => (letGo = resolve));
    // The steps Lambda with 6 s left over its cleanup margin when Freeze starts: Freeze's deadline is that close.
    const shortLived: LambdaHandler = (event, context) =>
      stepsHandler(
        event,
        (event as { step: string }).step === 'freeze' ? { getRemainingTimeInMillis: () => CLEANUP_MARGIN_MS + 6_000 } : context,
      );
    const updates = ecs.updates.length;

    const result = await run({ application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET } }, shortLived);
    letGo();
    expect(result.error).toBe('CutoverFailed');
    expect(result.cause).toMatch(
      /^freeze scale-to-zero: ECS service shop-api in cluster production still has 1 task\(s\) running or stopping at the Freeze step's deadline; their desired counts are put back/,
    );
    expect(result.states).not.toContain('Swap');
    expect(result.states).toContain('LiftFreeze');
    expect(ecs.updates.slice(updates)).toEqual([
      { service: 'shop-api', desiredCount: 0, taskDefinition: undefined, forceNewDeployment: undefined },
      { service: 'shop-api', desiredCount: 1, taskDefinition: undefined, forceNewDeployment: undefined },
    ]);
    expect(secrets.current(APP_SECRET).versionId).toBe(recordedVersion);
    await ecs.settled();
    expect(await health()).toMatchObject({ status: 200, database: oldDb });
    expect(result.notifications.map((n) => [n.state, n.subject])).toEqual([
      ['NotifyFailure', 'Lifeline: cutover of shop-api failed (CutoverFailed)'],
    ]);
    expect(await locks()).toEqual([]);
  });

  it('rolls back a scaled-to-zero switch that fails its health check: the recorded count and task definition back, on the old database', async () => {
    const oldDb = await applicationDatabase('cutover_old');
    const brokenDb = await applicationDatabase('cutover_broken', false);
    const recordedVersion = await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'scale-to-zero' }) });
    const updates = ecs.updates.length;

    const result = await run({ application: 'shop-api', database: { serverSecretArn: SERVER_SECRET, name: brokenDb } });
    expect(result.error).toBe('CutoverRolledBack');
    expect(result.cause).toMatch(/^switching shop-api failed with HealthCheckFailed: /);
    expect(ecs.updates.slice(updates)).toEqual([
      { service: 'shop-api', desiredCount: 0, taskDefinition: undefined, forceNewDeployment: undefined },
      { service: 'shop-api', desiredCount: 1, taskDefinition: undefined, forceNewDeployment: true },
      // RollbackUnfreeze, then RollbackRestart: the recorded count and task definition.
      { service: 'shop-api', desiredCount: 1, taskDefinition: undefined, forceNewDeployment: undefined },
      { service: 'shop-api', desiredCount: 1, taskDefinition: TASK_DEFINITION, forceNewDeployment: true },
    ]);
    expect(secrets.current(APP_SECRET).versionId).toBe(recordedVersion);
    expect(await health()).toMatchObject({ status: 200, database: oldDb });
    expect(await locks()).toEqual([]);
  });

  it('deploys the previous application version with the new connection, and the recorded one again when it rolls back', async () => {
    const previous = TASK_DEFINITION.replace(/:7$/, ':6');
    ecs.taskDefinitions.add(previous);
    const oldDb = await applicationDatabase('cutover_old');
    const newDb = await applicationDatabase('cutover_new');
    secrets.create(NEW_DATABASE_SECRET, rdsSecret(newDb));
    await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'none' }) });
    let updates = ecs.updates.length;

    const result = await run({ application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET }, applicationVersion: 'previous' });
    expect(result.error ?? null, `${result.cause} in ${result.states.join(' > ')}`).toBeNull();
    expect(ecs.updates.slice(updates)).toEqual([
      { service: 'shop-api', taskDefinition: previous, desiredCount: undefined, forceNewDeployment: true },
    ]);
    expect(await health()).toMatchObject({ status: 200, database: newDb });
    expect((result.output as any).deployed).toEqual([
      { cluster: 'production', service: 'shop-api', taskDefinition: previous, previous: TASK_DEFINITION },
    ]);
    expect(result.notifications[0]!.message).toContain(`ECS service shop-api runs ${previous} (it ran ${TASK_DEFINITION}).`);

    // Back on revision 7 by hand; then a version that fails its health check on a broken database is rolled back with it.
    const brokenDb = await applicationDatabase('cutover_broken', false);
    await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'none' }) });
    await new ECSClient({}).send(new UpdateServiceCommand({ ...SERVICE, taskDefinition: TASK_DEFINITION, forceNewDeployment: true }));
    await ecs.settled();
    updates = ecs.updates.length;
    const rolledBack = await run({
      application: 'shop-api',
      database: { serverSecretArn: SERVER_SECRET, name: brokenDb },
      applicationVersion: 'shop-api:6',
    });
    expect(rolledBack.error).toBe('CutoverRolledBack');
    expect(ecs.updates.slice(updates)).toEqual([
      { service: 'shop-api', taskDefinition: previous, desiredCount: undefined, forceNewDeployment: true },
      { service: 'shop-api', taskDefinition: TASK_DEFINITION, desiredCount: 1, forceNewDeployment: true },
    ]);
    expect(await health()).toMatchObject({ status: 200, database: oldDb });

    // A revision of another family is refused at Record, before anything changes.
    updates = ecs.updates.length;
    const refused = await run({ application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET }, applicationVersion: 'billing:3' });
    expect(refused.error).toBe('InvalidInput');
    expect(refused.cause).toMatch(/^applicationVersion: billing:3 is of the task definition family billing, not shop-api/);
    expect(refused.states).not.toContain('Swap');
    expect(ecs.updates.length).toBe(updates);
  });

  it("points the function's alias at the previous version with the new connection, and at the recorded one again when it rolls back", async () => {
    lambda.add(WORKER, { SECRET_ARN: APP_SECRET });
    lambda.deploy(WORKER, 5, 'live', '5');
    const oldDb = await applicationDatabase('cutover_old');
    const newDb = await applicationDatabase('cutover_new');
    secrets.create(NEW_DATABASE_SECRET, rdsSecret(newDb));
    await deploy({ secret: rdsSecret(oldDb), settings: aliasedSettings() });
    let updates = lambda.aliasUpdates.length;

    const result = await run({ application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET }, applicationVersion: 'previous' });
    expect(result.error ?? null, `${result.cause} in ${result.states.join(' > ')}`).toBeNull();
    expect(lambda.aliasUpdates.slice(updates)).toEqual([{ function: WORKER, alias: 'live', version: '4' }]);
    // Version 4's new environments read the switched secret; $LATEST, which the alias does not serve, is left as it was.
    expect(await health()).toMatchObject({ status: 200, database: newDb });
    expect(lambda.functions.get(WORKER)!.variables).toEqual({ SECRET_ARN: APP_SECRET });
    expect((result.output as any).deployedFunctions).toEqual([{ function: WORKER, alias: 'live', version: '4', previous: '5' }]);
    expect((result.output as any).deployed).toEqual([]);
    expect(result.notifications[0]!.message).toContain(`Lambda function ${WORKER}'s alias live points at version 4 (it pointed at 5).`);

    // Back on version 5 by hand; then version 3, failing its health check on a broken database, is rolled back with it.
    const brokenDb = await applicationDatabase('cutover_broken', false);
    await deploy({ secret: rdsSecret(oldDb), settings: aliasedSettings() });
    await moveAlias('5');
    updates = lambda.aliasUpdates.length;
    const rolledBack = await run({
      application: 'shop-api',
      database: { serverSecretArn: SERVER_SECRET, name: brokenDb },
      applicationVersion: `arn:aws:lambda:us-east-1:000000000000:function:${WORKER}:3`,
    });
    expect(rolledBack.error).toBe('CutoverRolledBack');
    expect(lambda.aliasUpdates.slice(updates)).toEqual([
      { function: WORKER, alias: 'live', version: '3' },
      { function: WORKER, alias: 'live', version: '5' },
    ]);
    expect(await health()).toMatchObject({ status: 200, database: oldDb });
    expect(await locks()).toEqual([]);

    // Another function's version is refused at ValidateInput, one never published at Record: before anything changes.
    updates = lambda.aliasUpdates.length;
    const writes = secrets.writes.length;
    const other = await run({
      application: 'shop-api',
      database: { secretArn: NEW_DATABASE_SECRET },
      applicationVersion: 'arn:aws:lambda:us-east-1:000000000000:function:billing-worker:4',
    });
    expect(other.error).toBe('InvalidInput');
    expect(other.cause).toContain(
      "applicationVersion: arn:aws:lambda:us-east-1:000000000000:function:billing-worker:4 is a version of the Lambda function arn:aws:lambda:us-east-1:000000000000:function:billing-worker, not of shop-api's (shop-api-worker)",
    );
    expect(other.states).not.toContain('TakeLock');
    const unpublished = await run({ application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET }, applicationVersion: '9' });
    expect(unpublished.error).toBe('InvalidInput');
    expect(unpublished.cause).toBe(`applicationVersion: 9 is not a published version of Lambda function ${WORKER}`);
    expect(unpublished.states).toContain('Record');
    expect(unpublished.states).not.toContain('Swap');
    expect(lambda.aliasUpdates.length).toBe(updates);
    expect(secrets.writes.length).toBe(writes);
    expect(lambda.aliasVersion(WORKER, 'live')).toBe('5');
    expect(await locks()).toEqual([]);
  });

  it('leaves an alias someone else moved during the cutover where they put it, and pages', async () => {
    lambda.add(WORKER, { SECRET_ARN: APP_SECRET });
    lambda.deploy(WORKER, 5, 'live', '5');
    const oldDb = await applicationDatabase('cutover_old');
    const brokenDb = await applicationDatabase('cutover_broken', false);
    const recordedVersion = await deploy({ secret: rdsSecret(oldDb), settings: aliasedSettings() });
    /** Each step's invocations, retries included. */
    const invoked: string[] = [];
    /** The steps, with someone pointing the alias at version 2 right after step `after`. */
    const meddled =
      (after: string): LambdaHandler =>
      async (event, context) => {
        const { step, side } = event as { step: string; side?: string };
        invoked.push(`${step}${side === undefined ? '' : `:${side}`}`);
        const answer = await stepsHandler(event, context);
        if (invoked.at(-1) === after) await moveAlias('2');
        return answer;
      };
    const input = { application: 'shop-api', database: { serverSecretArn: SERVER_SECRET, name: brokenDb }, applicationVersion: 'previous' };

    // Moved after the switch pointed it at version 4: the rollback does not point it back over their change.
    const result = await run(input, meddled('restart:new'));
    expect(result.error).toBe('RollbackUnhealthy');
    expect(result.cause).toContain(
      `The rollback failed with AliasMoved: the alias live of Lambda function ${WORKER} points at version 2 (revision `,
    );
    expect(result.cause).toContain('not version 4, where this cutover pointed it: someone else moved it, and it was left there');
    // Someone else's change is not retried over.
    expect(invoked.filter((step) => step === 'restart:old')).toEqual(['restart:old']);
    expect(lambda.aliasVersion(WORKER, 'live')).toBe('2');
    expect(secrets.current(APP_SECRET).versionId).toBe(recordedVersion);
    await expectLockKept(result, 'RollbackUnhealthy');

    // Moved between Record and Restart: the switch does not point it either.
    await moveAlias('5');
    const updates = lambda.aliasUpdates.length;
    const early = await run(input, meddled('record'));
    expect(early.error).toBe('RollbackUnhealthy');
    expect(early.cause).toMatch(
      new RegExp(
        `^switching shop-api failed with AliasMoved: the alias live of Lambda function ${WORKER} points at version 2 \\(revision \\S+\\), not version 5 \\(revision \\S+\\), as this cutover recorded it`,
      ),
    );
    expect(lambda.aliasUpdates.slice(updates)).toEqual([{ function: WORKER, alias: 'live', version: '2' }]);
    await expectLockKept(early, 'RollbackUnhealthy');
  });

  it('refuses a second cutover of the application while one runs, and leaves the first unaffected', async () => {
    const oldDb = await applicationDatabase('cutover_old');
    const newDb = await applicationDatabase('cutover_new');
    secrets.create(NEW_DATABASE_SECRET, rdsSecret(newDb));
    await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'none' }) });
    let second: Awaited<ReturnType<typeof run>> | undefined;
    onRestart = async (secretString) => {
      const writes = secrets.writes.length;
      second = await run({ application: 'shop-api', database: { serverSecretArn: SERVER_SECRET, name: oldDb } });
      expect(secrets.writes.length).toBe(writes);
      return secretString;
    };

    const first = await run({ application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET } });
    expect(second?.status).toBe('FAILED');
    expect(second?.error).toBe('CutoverLocked');
    expect(second?.cause).toBe(
      'another cutover of shop-api holds its lock: one that is running (its lock is released when it ends, or expires), or one that failed with RollbackUnhealthy, SecretChanged or CutoverUnresolved, whose lock is kept until a person clears it (lifeline unlock shop-api --reason ...); this one changed nothing',
    );
    expect(second?.states).toEqual([
      'ValidateInput',
      'NeedsApproval',
      'WaitForApproval',
      'VerifyApproval',
      'TakeLock',
      'Locked',
      'Refused',
    ]);
    expect(first.error ?? null, first.cause).toBeNull();
    expect(await health()).toMatchObject({ status: 200, database: newDb });
  });

  it('takes over a lock whose execution died and let it expire', async () => {
    const oldDb = await applicationDatabase('cutover_old');
    const newDb = await applicationDatabase('cutover_new');
    secrets.create(NEW_DATABASE_SECRET, rdsSecret(newDb));
    await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'none' }) });
    const expired = String(Math.floor(Date.now() / 1000) - 60);
    await dynamodb.send(
      new PutItemCommand({
        TableName: CUTOVER_SUBSTITUTIONS.LockTableName,
        Item: {
          application: { S: 'shop-api' },
          executionArn: { S: 'arn:aws:states:us-east-1:000000000000:execution:dead' },
          expiresAt: { N: expired },
        },
      }),
    );
    const result = await run({ application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET } });
    expect(result.error ?? null, result.cause).toBeNull();
    expect(await locks()).toEqual([]);
  });

  it('finds its own lock when TakeLock is retried after a write that succeeded but answered a 5xx, instead of refusing', async () => {
    const oldDb = await applicationDatabase('cutover_old');
    const newDb = await applicationDatabase('cutover_new');
    secrets.create(NEW_DATABASE_SECRET, rdsSecret(newDb));
    await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'none' }) });
    const { TakeLock: putLock } = cutoverLockTasks(dynamodb);
    const held: unknown[] = [];
    // The first PutItem is applied, and its answer lost as DynamoDB's 500 (InternalServerError), which TakeLock retries.
    const appliedThenFailed = async (parameters: Parameters<typeof putLock>[0]) => {
      const answer = await putLock(parameters);
      held.push((await locks()).map((item) => item.executionArn?.S));
      if (held.length === 1) {
        throw Object.assign(new Error('Internal server error (Service: DynamoDb, Status Code: 500)'), {
          name: 'DynamoDB.InternalServerError',
        });
      }
      return answer;
    };

    const result = await run(
      { application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET } },
      stepsHandler,
      { TakeLock: 0 },
      {
        TakeLock: appliedThenFailed,
      },
    );
    expect(result.error ?? null, `${result.cause} in ${result.states.join(' > ')}`).toBeNull();
    // Both attempts wrote this execution's lock: the retry took it again rather than being refused by it.
    expect(held).toEqual([[result.executionArn], [result.executionArn]]);
    expect(result.states).not.toContain('Locked');
    expect(await health()).toMatchObject({ status: 200, database: newDb });
    expect(await locks()).toEqual([]);
  });

  it('refuses, at Record and before anything changes, a cutover while the secret is being rotated, naming it and what to do', async () => {
    const oldDb = await applicationDatabase('cutover_old');
    const newDb = await applicationDatabase('cutover_new');
    secrets.create(NEW_DATABASE_SECRET, rdsSecret(newDb));
    const recordedVersion = await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'read-only-source' }) });
    // A rotation's first step stored the next version as AWSPENDING; its last makes that version AWSCURRENT.
    const client = new SecretsManagerClient({});
    const rotated = JSON.stringify({ ...JSON.parse(rdsSecret(oldDb)), rotatedBy: 'rotation-lambda' });
    const { VersionId: pending } = await client.send(
      new PutSecretValueCommand({ SecretId: APP_SECRET, SecretString: rotated, VersionStages: ['AWSPENDING'] }),
    );
    const writes = secrets.writes.length;
    const updates = ecs.updates.length;

    const result = await run({ application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET } });
    expect(result.error).toBe('RotationInProgress');
    expect(result.cause).toBe(
      `shop-api's connection secret ${APP_SECRET} is being rotated: its version ${pending} is AWSPENDING, not yet AWSCURRENT, and the rotation would make it current over the switch. ` +
        'Nothing was changed. Let the rotation finish (its rotation function moves AWSCURRENT to that version) and start the cutover again; ' +
        `if the rotation failed, fix it, or take its label off: aws secretsmanager update-secret-version-stage --secret-id ${APP_SECRET} --version-stage AWSPENDING --remove-from-version-id ${pending}`,
    );
    expect(result.states.slice(0, 7)).toEqual([
      'ValidateInput',
      'NeedsApproval',
      'WaitForApproval',
      'VerifyApproval',
      'TakeLock',
      'Record',
      'LiftFreeze',
    ]);
    expect(result.states).not.toContain('Freeze');
    expect(result.notifications.map((n) => [n.state, n.subject])).toEqual([
      ['NotifyFailure', 'Lifeline: cutover of shop-api failed (RotationInProgress)'],
    ]);
    expect(secrets.writes.length).toBe(writes);
    expect(ecs.updates.length).toBe(updates);
    expect(secrets.current(APP_SECRET).versionId).toBe(recordedVersion);
    expect(await readOnly(oldDb)).toBe('not set');
    expect(await locks()).toEqual([]);

    // Once the rotation finished (AWSPENDING on the AWSCURRENT version, as RotateSecret leaves it), the cutover goes ahead.
    await client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: APP_SECRET,
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: pending,
        RemoveFromVersionId: recordedVersion,
      }),
    );
    expect(secrets.stages(APP_SECRET)[pending!]).toEqual(['AWSCURRENT', 'AWSPENDING']);
    const after = await run({ application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET } });
    expect(after.error ?? null, after.cause).toBeNull();
    expect(await health()).toMatchObject({ status: 200, database: newDb });
  });

  it('fails a bad input before anything is locked or changed, naming the field', async () => {
    const oldDb = await applicationDatabase('cutover_old');
    secrets.create(NEW_DATABASE_SECRET, rdsSecret(oldDb));
    const versionId = await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'none' }) });
    const writes = secrets.writes.length;
    const updates = ecs.updates.length;
    const cases: [unknown, string, RegExp][] = [
      [
        { application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET }, colour: 'red' },
        'InvalidInput',
        /Unrecognized key: \\"colour\\"/,
      ],
      [
        { application: 'billing-api', database: { secretArn: NEW_DATABASE_SECRET } },
        'InvalidInput',
        /application: \\"billing-api\\" is not a configured application \(configured: shop-api\)/,
      ],
      [{ application: 'shop-api', database: { secretArn: 'shop/replacement' } }, 'InvalidInput', /database/],
      [
        { application: 'shop-api', database: { secretArn: APP_SECRET } },
        'InvalidInput',
        /database.secretArn: is shop-api's own connection secret/,
      ],
      [
        { application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET }, freezeWrites: true },
        'InvalidInput',
        /freezeWrites: shop-api has no freeze configured/,
      ],
    ];
    for (const [input, error, cause] of cases) {
      const result = await run(input);
      expect(result.error, JSON.stringify(input)).toBe(error);
      expect(result.cause).toMatch(cause);
      expect(result.states).toEqual(['ValidateInput']);
      expect(result.notifications).toEqual([]);
    }
    // Valid in form, refused once checked against what is there: the lock is released, nothing else changed.
    for (const [input, error, cause] of [
      [
        { application: 'shop-api', database: { secretArn: NEW_DATABASE_SECRET } },
        'InvalidInput',
        new RegExp(`database: ${oldDb} on .* is the database shop-api uses already`),
      ],
      [
        { application: 'shop-api', database: { serverSecretArn: SERVER_SECRET, name: 'no_such_database' } },
        'DatabaseUnreachable',
        /no_such_database/,
      ],
    ] as const) {
      const result = await run(input);
      expect(result.error, JSON.stringify(input)).toBe(error);
      expect(result.cause).toMatch(cause);
      expect(result.states).not.toContain('Freeze');
      expect(result.notifications.map((n) => n.subject)).toEqual([`Lifeline: cutover of shop-api failed (${error})`]);
    }
    expect(secrets.writes.length).toBe(writes);
    expect(ecs.updates.length).toBe(updates);
    expect(secrets.current(APP_SECRET).versionId).toBe(versionId);
    expect(await health()).toMatchObject({ status: 200, database: oldDb });
    expect(await locks()).toEqual([]);
  });
});

describe('a cutover started by hand goes only where the config allows, and only once a person approved it', () => {
  const OTHER_APP_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:shop-admin/connection-JkL012';
  const FORGED = 'arn:aws:sts::000000000000:assumed-role/anyone/mallory';
  const RESTORE_EXECUTION = 'arn:aws:states:us-east-1:000000000000:execution:lifeline-restore:shop-20261204';

  /** shop-api as configured, beside a second application on the same server with a connection secret of its own. */
  function withSecondApplication(): CutoverSettings {
    const settings = settingsWith({ mode: 'none' });
    const shopApi = settings.applications[0]!;
    return {
      ...settings,
      applications: [
        shopApi,
        {
          ...shopApi,
          name: 'shop-admin',
          connectionSecretArn: OTHER_APP_SECRET,
          ecsServices: [{ cluster: 'production', service: 'shop-admin' }],
        },
      ],
    };
  }

  it("refuses a configured database's admin secret, another application's secret, an unconfigured server and a server the config does not name", async () => {
    const oldDb = await applicationDatabase('cutover_bounds_old');
    const newDb = await applicationDatabase('cutover_bounds_new');
    secrets.create(OTHER_APP_SECRET, rdsSecret(newDb));
    secrets.create(NEW_DATABASE_SECRET, rdsSecret(newDb));
    const versionId = await deploy({ secret: rdsSecret(oldDb), settings: withSecondApplication() });
    const writes = secrets.writes.length;
    const cases: [unknown, RegExp][] = [
      // The superuser's credentials would have been copied into the application's secret.
      [
        { application: 'shop-api', database: { secretArn: SERVER_SECRET } },
        /database.secretArn: is the admin secret of the configured database shop; a cutover never gives an application admin credentials/,
      ],
      [
        { application: 'shop-api', database: { secretArn: OTHER_APP_SECRET } },
        /database.secretArn: is the connection secret of shop-admin, another application/,
      ],
      [
        { application: 'shop-api', database: { serverSecretArn: NEW_DATABASE_SECRET, name: newDb } },
        /database.serverSecretArn: .*shop-api\/restored-DeF456.* is not the secret of a configured database whose server a cutover may switch to \(the applications' databases: shop\)/,
      ],
      // Record would have connected there with the application's password.
      [
        {
          application: 'shop-api',
          database: { serverSecretArn: SERVER_SECRET, name: newDb, server: { host: 'collector.example.net', port: 5432 } },
        },
        new RegExp(
          `database.server: collector.example.net:5432 is not where the server of shop listens \\(${pg.host}:${pg.port}, as the config says\\)`,
        ),
      ],
    ];
    for (const [input, cause] of cases) {
      const result = await run(input);
      expect(result.error, JSON.stringify(input)).toBe('InvalidInput');
      expect(result.cause).toMatch(cause);
      expect(result.states).toEqual(['ValidateInput']);
      expect(result.requests).toEqual([]);
    }
    expect(secrets.writes.length).toBe(writes);
    expect(secrets.current(APP_SECRET).versionId).toBe(versionId);
    expect(await locks()).toEqual([]);

    // Named on the configured server, with or without the server the config says: switched as the application's role.
    const result = await run({
      application: 'shop-api',
      database: { serverSecretArn: SERVER_SECRET, name: newDb, server: { host: pg.host, port: pg.port } },
    });
    expect(result.error ?? null, result.cause).toBeNull();
    expect(JSON.parse(secrets.current(APP_SECRET).value)).toMatchObject({ host: pg.host, port: pg.port, username: role, dbname: newDb });
  });

  it('asks a person before it takes the lock, records who approved, and does not take an approval the input brings on its own', async () => {
    const oldDb = await applicationDatabase('cutover_approval_old');
    const newDb = await applicationDatabase('cutover_approval_new');
    await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'none' }) });
    // The restore execution the input names does not exist (or is not this deployment's restore handing this over).
    sfn.reset();
    sfn
      .on(DescribeExecutionCommand)
      .rejects(Object.assign(new Error(`Execution Does Not Exist: '${RESTORE_EXECUTION}'`), { name: 'ExecutionDoesNotExist' }));
    const forged = {
      application: 'shop-api',
      database: { serverSecretArn: SERVER_SECRET, name: newDb },
      origin: { workflow: 'restore', executionArn: RESTORE_EXECUTION, backupKey: null },
      approval: { approver: FORGED, comment: 'trust me', decidedAt: '2026-12-04T18:00:00.000Z' },
    };
    let lockWhileAsked: unknown[] | undefined;
    answer = async (request) => {
      lockWhileAsked = await locks();
      return approve(request);
    };
    const result = await run(forged);
    expect(result.error ?? null, result.cause).toBeNull();
    expect(result.states.slice(0, 5)).toEqual(['ValidateInput', 'NeedsApproval', 'WaitForApproval', 'VerifyApproval', 'TakeLock']);
    // Asked once, on the notifications topic, with what would switch, why the input's approval was not taken, and the commands.
    expect(result.requests).toHaveLength(1);
    expect(lockWhileAsked).toEqual([]);
    expect(result.asked).toHaveLength(1);
    expect(result.asked[0]).toMatchObject({
      topicArn: CUTOVER_SUBSTITUTIONS.NotificationsTopicArn,
      subject: 'Lifeline: approve the cutover of shop-api',
      message: {
        executionArn: result.executionArn,
        approve: `lifeline approve ${result.executionArn} --comment "..."`,
        reject: `lifeline reject ${result.executionArn} --reason "..."`,
        timeoutSeconds: 1800,
      },
    });
    // The token travels as a message attribute, which e-mail does not show: the message itself holds none.
    expect(JSON.stringify(result.asked[0]!.message)).not.toContain(result.requests[0]!.token);
    const question = (result.asked[0]!.message as { question: string }).question;
    expect(question).toContain(`switch shop-api to ${newDb} on ${pg.host}:${pg.port}`);
    expect(question).toContain(`The input's approval was not taken: ${RESTORE_EXECUTION} could not be read (ExecutionDoesNotExist)`);
    // The approver is the person who answered, not the one the input named.
    expect((result.output as { approver: string }).approver).toBe('arn:aws:sts::000000000000:assumed-role/oncall/alice');
    expect(JSON.stringify(result.output)).not.toContain(FORGED);
    sfn.reset();
  });

  it('refuses an approval sent with a raw SendTaskSuccess, whatever approver it names: nothing is locked or changed', async () => {
    const oldDb = await applicationDatabase('cutover_forged_old');
    const newDb = await applicationDatabase('cutover_forged_new');
    const versionId = await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'read-only-source' }) });
    const writes = secrets.writes.length;
    // Whoever may call states:SendTaskSuccess and reads the token from the history answers it with an approval of their own making.
    answer = () => Promise.resolve({ output: { approver: ONCALL, comment: 'looks fine', decidedAt: new Date().toISOString() } });
    const forged = await run({ application: 'shop-api', database: { serverSecretArn: SERVER_SECRET, name: newDb } });
    expect(forged.status).toBe('FAILED');
    expect(forged.error).toBe('ApprovalNotVerified');
    expect(forged.cause).toContain('answered without a signature (approver named: arn:aws:sts::000000000000:assumed-role/oncall/alice)');
    expect(forged.states).toEqual(['ValidateInput', 'NeedsApproval', 'WaitForApproval', 'VerifyApproval', 'NotApproved']);
    // Nor does a signature made for another execution's approval carry over.
    let other: CallbackAnswer | undefined;
    answer = async (request) => {
      other ??= await approve({ ...request, executionArn: `${request.executionArn}-other` });
      return other;
    };
    const replayed = await run({ application: 'shop-api', database: { serverSecretArn: SERVER_SECRET, name: newDb } });
    expect(replayed.error).toBe('ApprovalNotVerified');
    expect(replayed.cause).toContain("with a signature that is not the approve function's for this execution");
    expect(secrets.writes.length).toBe(writes);
    expect(secrets.current(APP_SECRET).versionId).toBe(versionId);
    expect(await readOnly(oldDb)).toBe('not set');
    expect(await locks()).toEqual([]);
  });

  it('takes the decision the approve function signed, recording the caller it authenticated; with separated duties, not the starter', async () => {
    const oldDb = await applicationDatabase('cutover_signed_old');
    const newDb = await applicationDatabase('cutover_signed_new');
    await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'none' }) });
    const desk = new ApprovalDesk();
    const BOB = 'arn:aws:sts::000000000000:assumed-role/release-managers/bob';
    const cloudTrail = new CloudTrailClient({ region: 'us-east-1' });
    const starterOf = (executionArn: string) => executionStarter({ sfn: desk.sfn, cloudTrail }, executionArn);
    const responses: { caller: string; status: number; body: unknown }[] = [];
    const decideAs = async (caller: string, executionArn: string) => {
      const body = { executionArn, approve: true, comment: `approved by ${caller.split('/').at(-1)}` };
      const response = await desk.decide(caller, body, { starterOf });
      responses.push({ caller, status: response.statusCode, body: JSON.parse(response.body) });
    };
    answer = (request) => {
      const decided = desk.wait(request);
      // CloudTrail's StartExecution names alice (the identity that started the cutover by hand) as its caller.
      cloudtrail.on(LookupEventsCommand).resolves({
        Events: [
          {
            EventName: 'StartExecution',
            EventTime: new Date(),
            CloudTrailEvent: JSON.stringify({
              userIdentity: { type: 'AssumedRole', arn: ONCALL },
              eventName: 'StartExecution',
              responseElements: { executionArn: request.executionArn, startDate: new Date().toISOString() },
            }),
          },
        ],
      });
      void (async () => {
        await decideAs(ONCALL, request.executionArn);
        await decideAs(BOB, request.executionArn);
      })();
      return decided;
    };
    const result = await run({ application: 'shop-api', database: { serverSecretArn: SERVER_SECRET, name: newDb } });
    expect(result.error ?? null, result.cause).toBeNull();
    expect(result.states.slice(0, 5)).toEqual(['ValidateInput', 'NeedsApproval', 'WaitForApproval', 'VerifyApproval', 'TakeLock']);
    // Alice started it: her approval was refused, nothing was sent; bob's went through, as the identity AWS authenticated.
    expect(responses).toEqual([
      { caller: ONCALL, status: 403, body: expect.objectContaining({ error: 'NotAllowedToApprove' }) },
      {
        caller: BOB,
        status: 200,
        body: { executionArn: result.executionArn, state: 'WaitForApproval', approver: BOB, decision: 'approved' },
      },
    ]);
    expect(result.output).toMatchObject({ approver: BOB });
    cloudtrail.reset();
  });

  it('ends rejected, or unanswered, having locked and changed nothing', async () => {
    const oldDb = await applicationDatabase('cutover_rejected_old');
    const newDb = await applicationDatabase('cutover_rejected_new');
    const versionId = await deploy({ secret: rdsSecret(oldDb), settings: settingsWith({ mode: 'read-only-source' }) });
    const writes = secrets.writes.length;
    const input = { application: 'shop-api', database: { serverSecretArn: SERVER_SECRET, name: newDb } };

    answer = () =>
      Promise.resolve({ error: 'Rejected', cause: 'not during the sale (rejected by arn:aws:sts::000000000000:assumed-role/oncall/bob)' });
    const rejected = await run(input);
    expect(rejected.status).toBe('FAILED');
    expect(rejected.error).toBe('Rejected');
    expect(rejected.cause).toContain('not during the sale');
    expect(rejected.states).toEqual(['ValidateInput', 'NeedsApproval', 'WaitForApproval', 'NotApproved']);

    answer = () => Promise.resolve({ error: 'States.Timeout', cause: 'no answer' });
    const unanswered = await run(input);
    expect(unanswered.error).toBe('ApprovalTimedOut');
    expect(unanswered.cause).toBe('nobody approved or rejected the cutover of shop-api within 1800 seconds; nothing was locked or changed');
    expect(unanswered.states).toEqual(['ValidateInput', 'NeedsApproval', 'WaitForApproval', 'ApprovalTimedOut', 'Refused']);

    expect(secrets.writes.length).toBe(writes);
    expect(secrets.current(APP_SECRET).versionId).toBe(versionId);
    expect(await readOnly(oldDb)).toBe('not set');
    expect(await locks()).toEqual([]);
  });
});
