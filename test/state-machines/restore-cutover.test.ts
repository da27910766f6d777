import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BackupResult } from '../../lambdas/core/backup/pipeline.js';
import { runRestoreLocally } from '../../lambdas/core/operator/local-restore.js';
import { createS3Client } from '../../lambdas/core/vault/s3.js';
import type { CutoverSettings } from '../../lambdas/core/cutover/state.js';
import { runLocalExecution, type CallbackRequest, type LambdaHandler, type Notification } from '../../lambdas/core/workflows/local.js';
import { LOCAL_STATE_MACHINE, localExecution } from '../../lambdas/core/workflows/local-executions.js';
import { restoreCatalogPath } from '../../lambdas/core/names.js';
import type { RestoreDatabase } from '../../lambdas/core/restore/catalog.js';
import type { RestoreSettings } from '../../lambdas/core/restore/state.js';
import { ApplicationProcess, freePort } from '../support/application.js';
import { cutoverLockTasks, FakeEcs, FakeSecretsManager, FakeSsm, startLockTable } from '../support/control-planes.js';
import { connectPostgres } from '../support/postgres.js';
import { backUp, sharedPostgres, sharedS3 } from '../support/shared.js';
import {
  APPROVAL_FUNCTIONS,
  approve,
  CUTOVER_STATE_MACHINE,
  CUTOVER_STEPS_FUNCTION,
  CUTOVER_SUBSTITUTIONS,
  NO_MIGRATIONS,
  RESTORE_NETWORK_STEPS_FUNCTION,
  RESTORE_STEPS_FUNCTION,
  RESTORE_SUBSTITUTIONS,
  restoreRunnerInProcess,
} from '../support/workflows.js';

/** The restore workflow handing over to the real cutover workflow, both as deployed: restore, approval, switch. */

/**
 * The server's admin secret: the configured database's, so also the restore target's server. RDS-managed, so it
 * holds only username and password: the config says where the server listens, and the hand-over passes it on.
 */
const ADMIN_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:lifeline/shop-admin-AbC123';
/** shop-api's connection secret: what cutover switches, what ECS tasks read when they start. */
const APP_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:shop-api/connection-DeF456';
const SERVICE = {
  cluster: 'production',
  service: 'shop-api',
  taskDefinition: 'arn:aws:ecs:us-east-1:000000000000:task-definition/shop-api:7',
};

const pg = sharedPostgres();
const s3 = sharedS3();
const role = `handover_app_${randomBytes(4).toString('hex')}`;
const rolePassword = randomBytes(12).toString('hex');
const created: string[] = [];

let source: string;
let bucket: string;
/** Taken before the application's app_health table existed: a restore of it cannot serve /health. */
let beforeHealthTable: BackupResult;
let latest: BackupResult;
let app: ApplicationProcess;
let secrets: FakeSecretsManager;
let ecs: FakeEcs;
let ssm: FakeSsm;
let stopLockTable: () => void;
let dynamodb: DynamoDBClient;
let restoreSteps: LambdaHandler;
let cutoverSteps: LambdaHandler;

/** The restore state machine as deployed; the local engine runs the restore as its own `local` state machine. */
const RESTORE_STATE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:lifeline-restore';

/**
 * Step Functions as AWS answers the cutover's ValidateInput about the restore that handed over: DescribeExecution and
 * GetExecutionHistory of the executions running here (workflows/local-executions.ts), the restore's as lifeline-restore's.
 */
const sfn = mockClient(SFNClient);
function answerFromLocalExecutions(): void {
  sfn.reset();
  sfn.on(DescribeExecutionCommand).callsFake(({ executionArn }: { executionArn: string }) => {
    const record = localExecution(executionArn);
    if (!record) throw Object.assign(new Error(`Execution Does Not Exist: '${executionArn}'`), { name: 'ExecutionDoesNotExist' });
    const stateMachineArn = record.stateMachineArn === LOCAL_STATE_MACHINE ? RESTORE_STATE_MACHINE : record.stateMachineArn;
    return { executionArn, stateMachineArn, name: executionArn.split(':').at(-1), status: record.status, startDate: record.startDate };
  });
  sfn.on(GetExecutionHistoryCommand).callsFake(({ executionArn, reverseOrder }: { executionArn: string; reverseOrder?: boolean }) => {
    const events = localExecution(executionArn)?.events ?? [];
    return { events: reverseOrder ? [...events].reverse() : events };
  });
}

const rdsSecret = (database: string, user = role, password = rolePassword) =>
  JSON.stringify({ engine: 'postgres', host: pg.host, port: pg.port, username: user, password, dbname: database });

async function health(): Promise<{ status: number; database?: string }> {
  const response = await fetch(app.healthUrl);
  return { status: response.status, ...((await response.json()) as { database?: string }) };
}

async function databaseExists(name: string): Promise<boolean> {
  return (await pg.query('postgres', 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length === 1;
}

/** Whether new sessions on `database` start read-only: the freeze read-only-source sets, and must lift. */
async function readOnly(database: string): Promise<boolean> {
  const rows = await pg.query<{ setconfig: string[] | null }>(
    database,
    'SELECT setconfig FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) AND setrole = 0',
  );
  return rows[0]?.setconfig?.includes('default_transaction_read_only=on') ?? false;
}

beforeAll(async () => {
  await pg.query('postgres', `CREATE ROLE ${role} LOGIN PASSWORD '${rolePassword}'`);
  source = await pg.createDatabase('handover_source');
  created.push(source);
  await pg.query('postgres', `ALTER DATABASE "${source}" OWNER TO ${role}`);
  // The application's role owns its objects, as its migrations would create them.
  const asApp = connectPostgres({ host: pg.host, port: pg.port, user: role, password: rolePassword });
  await asApp.query(
    source,
    'CREATE TABLE orders (id int PRIMARY KEY, total numeric); INSERT INTO orders SELECT g, g * 2.5 FROM generate_series(1, 200) g',
  );
  bucket = await s3.createBucket('restore-cutover');
  beforeHealthTable = await backUp(pg, s3, { source, label: 'shop', bucket, now: () => new Date('2026-01-15T08:00:00.000Z') });
  await asApp.query(source, 'CREATE TABLE app_health (checked_at timestamptz); INSERT INTO app_health VALUES (now())');
  latest = await backUp(pg, s3, { source, label: 'shop', bucket });

  app = new ApplicationProcess(await freePort());
  secrets = new FakeSecretsManager();
  secrets.create(ADMIN_SECRET, JSON.stringify({ username: pg.user, password: pg.password }));
  ecs = new FakeEcs();
  ssm = new FakeSsm();
  // A new task reads the secret's AWSCURRENT value when it starts.
  ecs.add({ ...SERVICE, desiredCount: 1, restart: () => app.start(secrets.current(APP_SECRET).value) });

  ({ dynamodb, stop: stopLockTable } = await startLockTable(CUTOVER_SUBSTITUTIONS.LockTableName));
  answerFromLocalExecutions();

  // Both workflows' real handlers, configured as their stacks configure them.
  const restoreSettings: RestoreSettings = { deployment: 'lifeline', backupStacks: 1, bucket, approvalTimeoutSeconds: 60, runnerVcpus: 2 };
  const shop: RestoreDatabase = {
    name: 'shop',
    secretArn: ADMIN_SECRET,
    host: pg.host,
    port: pg.port,
    databaseName: source,
    rds: { instanceIdentifier: 'shop' },
    network: 'private',
    stepsFunctionArn: RESTORE_NETWORK_STEPS_FUNCTION,
    runner: { taskDefinition: 'lifeline-restore-runner-1', subnetIds: ['subnet-0a1b2c3d'], securityGroupIds: ['sg-0a1b2c3d'] },
    applications: [{ name: 'shop-api', connectionSecretArn: APP_SECRET }],
  };
  ssm.parameters.set(`${restoreCatalogPath('lifeline', 1)}/shop`, { value: JSON.stringify(shop), type: 'String' });
  const cutoverSettings: CutoverSettings = {
    deployment: { pollSeconds: 1, timeoutSeconds: 30 },
    applications: [
      {
        name: 'shop-api',
        connectionSecretArn: APP_SECRET,
        ecsServices: [{ cluster: SERVICE.cluster, service: SERVICE.service }],
        lambdaFunctions: [],
        freeze: { mode: 'read-only-source' },
        healthCheck: { url: app.healthUrl, count: 2, windowSeconds: 4, intervalSeconds: 0.2 },
      },
    ],
    // shop's server as the config says it listens: where the hand-over's server is checked, and no admin secret is read.
    servers: [{ name: 'shop', secretArn: ADMIN_SECRET, host: pg.host, port: pg.port, rds: { instanceIdentifier: 'shop' } }],
  };
  process.env.AWS_ENDPOINT_URL_S3 = s3.endpoint;
  process.env.LIFELINE_RESTORE_SETTINGS = JSON.stringify(restoreSettings);
  process.env.LIFELINE_CUTOVER_SETTINGS = JSON.stringify(cutoverSettings);
  ({ handler: restoreSteps } = await import('../../lambdas/restore/handler.js'));
  ({ handler: cutoverSteps } = await import('../../lambdas/cutover/handler.js'));
});

afterEach(async () => {
  await ecs.settled();
  await app.stop();
});

afterAll(async () => {
  for (const name of created) await pg.query('postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await pg.query('postgres', `DROP ROLE IF EXISTS ${role}`);
  stopLockTable();
});

/** The application on the source database, as ECS started it from its secret; the restore then runs with the cutover. */
async function restoreWithCutover(input: object, appSecret = rdsSecret(source)) {
  const recordedVersion = secrets.create(APP_SECRET, appSecret);
  await app.start(appSecret);
  expect(await health()).toMatchObject({ status: 200, database: source });
  const notifications: Notification[] = [];
  const requests: CallbackRequest[] = [];
  const vault = createS3Client({ endpoint: s3.endpoint });
  const result = await runLocalExecution({
    definitionFile: 'state-machines/restore.asl.json',
    substitutions: RESTORE_SUBSTITUTIONS,
    input,
    // One handler answers for the steps function outside the VPC and its group's inside: both run the same steps.
    functions: { [RESTORE_STEPS_FUNCTION]: restoreSteps, [RESTORE_NETWORK_STEPS_FUNCTION]: restoreSteps, ...APPROVAL_FUNCTIONS },
    tasks: {
      ...NO_MIGRATIONS,
      // ECS cannot run here: the runner's job runs in this process, answered in runTask.sync's shape.
      RunRestore: restoreRunnerInProcess(vault, bucket),
    },
    stateMachines: {
      [CUTOVER_STATE_MACHINE]: {
        definitionFile: 'state-machines/cutover.asl.json',
        substitutions: CUTOVER_SUBSTITUTIONS,
        functions: { [CUTOVER_STEPS_FUNCTION]: cutoverSteps, ...APPROVAL_FUNCTIONS },
        tasks: cutoverLockTasks(dynamodb),
      },
    },
    notify: (notification) => notifications.push(notification),
    answer: (request) => {
      requests.push(request);
      return approve(request);
    },
    retryIntervals: { Cleanup: 0 },
  });
  return { ...result, notifications, requests, recordedVersion };
}

describe('restore hands over to the cutover workflow, run locally against PostgreSQL, a real application and a DynamoDB-compatible lock', () => {
  it('restores, asks for approval, then cuts the application over to the restored database and succeeds with the cutover output', async () => {
    const target = `handover_restored_${Date.now()}`;
    created.push(target);

    const result = await restoreWithCutover({ database: 'shop', cutover: 'shop-api', target: { database: target } });
    expect(result.error ?? null, `${result.cause} in ${result.states.join(' > ')}`).toBeNull();
    expect(result.status).toBe('SUCCEEDED');
    expect(result.states.slice(-10)).toEqual([
      'WaitForApproval',
      'VerifyApproval',
      'Approved',
      'KeepTarget',
      'CutoverRequested',
      'PrepareHandOver',
      'HandOver',
      'Summarize',
      'Notify',
      'Done',
    ]);

    // The human was asked once, with the validation report and the exact commands.
    expect(result.requests).toHaveLength(1);
    // The cutover took the restore's approval only after finding this hand-over in the restore's own history, while it ran.
    expect(sfn.commandCalls(DescribeExecutionCommand, { executionArn: result.executionArn })).toHaveLength(1);
    expect(sfn.commandCalls(GetExecutionHistoryCommand, { executionArn: result.executionArn }).length).toBeGreaterThan(0);
    const asked = result.notifications.find((n) => n.state === 'WaitForApproval')!;
    expect(asked.topicArn).toBe(RESTORE_SUBSTITUTIONS.ApprovalsTopicArn);
    expect(asked.message).toMatchObject({
      executionArn: result.executionArn,
      timeoutSeconds: 60,
      approve: `lifeline approve ${result.executionArn} --comment "..."`,
      reject: `lifeline reject ${result.executionArn} --reason "..."`,
      report: { passed: true },
    });
    expect((asked.message as any).question).toMatch(new RegExp(`Approve to switch the application shop-api to ${target}\\.$`));

    // The application serves from the restored database, through its secret's new version.
    expect(await health()).toMatchObject({ status: 200, database: target });
    const current = secrets.current(APP_SECRET);
    expect(JSON.parse(current.value)).toMatchObject({ username: role, password: rolePassword, dbname: target });
    expect(secrets.stages(APP_SECRET)).toEqual({ [result.recordedVersion]: ['AWSPREVIOUS'], [current.versionId]: ['AWSCURRENT'] });

    const output = result.output as any;
    // The child execution is named after the restore's, and its output is the restore's cutover.
    const restoreName = result.executionArn.split(':').at(-1);
    expect(output.cutover.executionArn).toBe(`arn:aws:states:us-east-1:000000000000:execution:lifeline-cutover:${restoreName}`);
    expect(output.cutover.output).toMatchObject({
      status: 'SUCCEEDED',
      application: 'shop-api',
      from: { database: source, role },
      to: { database: target, role },
      secretVersionId: current.versionId,
      previousSecretVersionId: result.recordedVersion,
      // Not overridden by the restore: the application's configured freeze applied, and was lifted.
      freeze: 'read-only-source',
      origin: { workflow: 'restore', executionArn: result.executionArn, backupKey: latest.key },
      approver: 'arn:aws:sts::000000000000:assumed-role/oncall/alice',
    });
    expect(output.handOver).toEqual({
      application: 'shop-api',
      database: { serverSecretArn: ADMIN_SECRET, name: target, server: { host: pg.host, port: pg.port } },
      origin: { workflow: 'restore', executionArn: result.executionArn, backupKey: latest.key },
      approval: { approver: output.approver, comment: 'counts look right', decidedAt: expect.any(String), signature: expect.any(String) },
    });
    expect(await readOnly(source)).toBe(false);
    expect(result.notifications.map((n) => [n.state, n.subject])).toEqual([
      ['WaitForApproval', 'Lifeline: approve the restore of shop'],
      ['Notify', `Lifeline: shop-api switched to ${target}`],
      ['Notify', `Lifeline: shop restored into ${target}`],
    ]);
    expect(result.notifications.at(-1)!.message).toContain(`Cutover switched shop-api to ${target}.`);
    expect(JSON.stringify(result)).not.toContain(rolePassword);
    expect(await databaseExists(source)).toBe(true);
    expect((await dynamodb.send(new ScanCommand({ TableName: CUTOVER_SUBSTITUTIONS.LockTableName }))).Items).toEqual([]);
  });

  it('fails with CutoverRolledBack when the restored database fails the health check, keeps it, and leaves the application on the old one', async () => {
    const target = `handover_unhealthy_${Date.now()}`;
    created.push(target);

    // A backup from before the table the application's /health reads: valid as a restore, unusable by the application.
    // The application keeps its connection as a plain URL: restore owns and validates the target as its role all the same.
    const appSecret = `postgresql://${role}:${rolePassword}@${pg.host}:${pg.port}/${source}`;
    const result = await restoreWithCutover(
      { database: 'shop', key: beforeHealthTable.key, cutover: 'shop-api', target: { database: target } },
      appSecret,
    );
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('CutoverRolledBack');
    const restoreName = result.executionArn.split(':').at(-1);
    expect(result.cause).toMatch(
      new RegExp(
        `^the cutover arn:aws:states:us-east-1:000000000000:execution:lifeline-cutover:${restoreName} failed: switching shop-api failed with HealthCheckFailed: ${app.healthUrl} did not answer 2xx`,
      ),
    );
    expect(result.states.slice(-5)).toEqual(['PrepareHandOver', 'HandOver', 'Cleanup', 'NotifyFailure', 'Failed']);

    // Rolled back: the recorded version current again, the application healthy on the old database, writes allowed.
    expect(secrets.current(APP_SECRET)).toEqual({ versionId: result.recordedVersion, value: appSecret });
    expect(await health()).toMatchObject({ status: 200, database: source });
    expect(await readOnly(source)).toBe(false);
    // The restored database is kept for whoever investigates; the failure says so.
    expect(await databaseExists(target)).toBe(true);
    expect(await pg.query(target, 'SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 200 }]);
    // Owned by the role the URL names, as restore read it.
    expect(await pg.query('postgres', 'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1', [target])).toEqual([
      { owner: role },
    ]);
    const failure = result.notifications.at(-1)!;
    expect([failure.state, failure.subject]).toEqual(['NotifyFailure', 'Lifeline: restore of shop failed (CutoverRolledBack)']);
    expect(failure.message).toContain(`Kept ${target}: it was handed over to cutover of shop-api.`);
    expect(result.notifications.map((n) => n.subject)).toContain('Lifeline: cutover of shop-api rolled back');
  });
});

describe('lifeline run restore --local with cutover', () => {
  it('refuses an application without a secret file, start command and health check before anything is created', async () => {
    const target = `handover_local_${Date.now()}`;
    await expect(
      runRestoreLocally({
        input: { database: 'shop', cutover: 'shop-api', target: { database: target } },
        settings: {
          bucket,
          databases: [{ name: 'shop', url: pg.url(source) }],
          applications: [{ name: 'shop-api', database: 'shop', url: pg.url(source) }],
          approvalTimeoutSeconds: 60,
          jobs: 2,
        },
        s3: s3.client,
        stagingDir: '/tmp',
        answer: () => Promise.reject(new Error('nothing may be asked')),
        notify: () => {
          throw new Error('nothing may be notified');
        },
      }),
    ).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringMatching(
        /^cutover: a local run cannot switch "shop-api": the local settings give it no secretFile, start and healthCheck .*nothing was created$/,
      ),
    });
    expect(await databaseExists(target)).toBe(false);
  });
});
