import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COOLDOWN_KEY } from '../../lambdas/core/alarms/cooldown.js';
import type { AlarmStarterSettings } from '../../lambdas/core/alarms/routes.js';
import { startAlarmRun } from '../../lambdas/core/alarms/starter.js';
import type { BackupResult } from '../../lambdas/core/backup/pipeline.js';
import { restoreCatalogPath } from '../../lambdas/core/names.js';
import type { RestoreDatabase } from '../../lambdas/core/restore/catalog.js';
import type { RestoreSettings } from '../../lambdas/core/restore/state.js';
import { createS3Client } from '../../lambdas/core/vault/s3.js';
import { localExecution } from '../../lambdas/core/workflows/local-executions.js';
import {
  runLocalExecution,
  type CallbackAnswer,
  type CallbackRequest,
  type LambdaHandler,
  type LocalExecutionResult,
} from '../../lambdas/core/workflows/local.js';
import { FakeSsm } from '../support/control-planes.js';
import { startMoto, type MotoServer } from '../support/moto.js';
import { connectPostgres } from '../support/postgres.js';
import { backUp, sharedPostgres, sharedS3 } from '../support/shared.js';
import {
  approve,
  APPROVAL_FUNCTIONS,
  NO_MIGRATIONS,
  RESTORE_NETWORK_STEPS_FUNCTION,
  RESTORE_STEPS_FUNCTION,
  RESTORE_SUBSTITUTIONS,
  restoreRunnerInProcess,
} from '../support/workflows.js';

/**
 * An alarm's transition into ALARM, as EventBridge delivers it, starts the real restore workflow (restore.asl.json
 * under the local engine, its real steps handler, the runner's job in process) through the alarm starter: the
 * backup before the alarm less its look back is restored and validated, and the run waits at its approval, with a
 * cutover or without.
 */

const ADMIN_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:lifeline/alarmshop-admin-AbC123';
const APP_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:shop-api/connection-DeF456';
const RESTORE_STATE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:lifeline-restore';
/** The label of the database in the vault and the catalog: its own, so that its default targets are this file's. */
const LABEL = 'alarmshop';

const pg = sharedPostgres();
const s3 = sharedS3();
const secrets = mockClient(SecretsManagerClient);
/** Step Functions: StartExecution runs the restore here; DescribeExecution answers from the local engine's record. */
const sfn = mockClient(SFNClient);
const ssm = new FakeSsm();
const appRole = `alarm_app_${randomBytes(4).toString('hex')}`;
const appPassword = randomBytes(18).toString('base64url');

let moto: MotoServer;
let source: string;
let bucket: string;
/** Taken before the alarm's transition less its look back, and after it. */
let before: BackupResult;
let after: BackupResult;
let restoreSteps: LambdaHandler;
let settings: AlarmStarterSettings;

beforeAll(async () => {
  await pg.query('postgres', `CREATE ROLE ${appRole} LOGIN PASSWORD '${appPassword}'`);
  source = await pg.createDatabase('alarm_restore_source');
  await pg.query('postgres', `ALTER DATABASE "${source}" OWNER TO ${appRole}`);
  const asApp = connectPostgres({ host: pg.host, port: pg.port, user: appRole, password: appPassword });
  await asApp.query(source, 'CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 120)');
  bucket = await s3.createBucket('alarm-restore');
  before = await backUp(pg, s3, { source, label: LABEL, bucket, now: () => new Date('2026-11-23T10:00:00.000Z') });
  // The incident: most orders deleted, and backed up after the alarm.
  await asApp.query(source, 'DELETE FROM orders WHERE id > 20');
  after = await backUp(pg, s3, { source, label: LABEL, bucket, now: () => new Date('2026-11-23T11:00:00.000Z') });

  const server = { host: pg.host, port: pg.port };
  for (const [arn, value] of [
    [ADMIN_SECRET, { ...server, username: pg.user, password: pg.password, dbname: source }],
    [APP_SECRET, { ...server, username: appRole, password: appPassword, dbname: source }],
  ] as const) {
    secrets.on(GetSecretValueCommand, { SecretId: arn }).resolves({ ARN: arn, SecretString: JSON.stringify(value) });
  }
  const database: RestoreDatabase = {
    name: LABEL,
    secretArn: ADMIN_SECRET,
    port: pg.port,
    rds: { instanceIdentifier: 'alarmshop' },
    network: 'private',
    stepsFunctionArn: RESTORE_NETWORK_STEPS_FUNCTION,
    runner: { taskDefinition: 'lifeline-restore-runner-1', subnetIds: ['subnet-0a1b2c3d'], securityGroupIds: ['sg-0a1b2c3d'] },
    applications: [{ name: 'shop-api', connectionSecretArn: APP_SECRET }],
  };
  ssm.parameters.set(`${restoreCatalogPath('lifeline', 1)}/${LABEL}`, { value: JSON.stringify(database), type: 'String' });
  const restoreSettings: RestoreSettings = { deployment: 'lifeline', backupStacks: 1, bucket, approvalTimeoutSeconds: 60, runnerVcpus: 2 };
  process.env.AWS_ENDPOINT_URL_S3 = s3.endpoint;
  process.env.LIFELINE_RESTORE_SETTINGS = JSON.stringify(restoreSettings);
  ({ handler: restoreSteps } = await import('../../lambdas/restore/handler.js'));

  moto = await startMoto();
  await new DynamoDBClient(moto.clientConfig).send(
    new CreateTableCommand({
      TableName: 'lifeline-alarm-cooldowns',
      KeySchema: [{ AttributeName: COOLDOWN_KEY, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: COOLDOWN_KEY, AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  settings = {
    deployment: 'lifeline',
    cooldownTable: 'lifeline-alarm-cooldowns',
    restoreStateMachineArn: RESTORE_STATE_MACHINE,
    routes: [
      { alarmName: 'shop orders: DELETE spike', database: LABEL, action: 'prepare-restore', lookbackMinutes: 30, cutover: 'shop-api' },
      // As a database with several applications (or none) has it: no application to cut over.
      { alarmName: 'shop replication lag', database: LABEL, action: 'prepare-restore', lookbackMinutes: 60 },
    ],
  };
});

afterAll(async () => {
  const targets = await pg.query<{ datname: string }>(
    'postgres',
    `SELECT datname FROM pg_database WHERE datname LIKE '${LABEL}_restored_%'`,
  );
  for (const name of [source, ...targets.map((row) => row.datname)]) {
    await pg.query('postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  }
  await pg.query('postgres', `DROP ROLE IF EXISTS ${appRole}`);
  await moto?.stop();
  secrets.reset();
  sfn.reset();
  ssm.mock.reset();
});

/** An alarm's transition into ALARM at `at`, as EventBridge delivers it. */
function alarmEvent(alarmName: string, at: string) {
  return {
    version: '0',
    id: '2d4a1c55-8d7a-4c0e-9d43-c6f1d1a0b2e1',
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account: '000000000000',
    time: at,
    region: 'us-east-1',
    resources: [`arn:aws:cloudwatch:us-east-1:000000000000:alarm:${alarmName}`],
    detail: {
      alarmName,
      state: { value: 'ALARM', reason: 'Threshold Crossed', timestamp: at.replace('Z', '.000+0000') },
      previousState: { value: 'OK', reason: 'Threshold Crossed', timestamp: '2026-11-23T08:00:00.000+0000' },
      configuration: { metrics: [] },
    },
  };
}

/**
 * Delivers `alarmName`'s transition at `at` twice through the starter, runs the restore it starts under the local
 * engine, and answers its approval with `answer`, noting what was restored while it waited.
 */
async function alarmRun(alarmName: string, at: string, answer: (request: CallbackRequest) => Promise<CallbackAnswer>) {
  const starts: { stateMachineArn?: string; name?: string; input: unknown }[] = [];
  let execution: Promise<LocalExecutionResult> | undefined;
  let waiting: { request: CallbackRequest; restored: { datname: string; orders: number }[] } | undefined;
  sfn.reset();
  sfn.on(DescribeExecutionCommand).callsFake(({ executionArn }: { executionArn: string }) => {
    const record = localExecution(executionArn);
    if (!record) throw Object.assign(new Error(`Execution Does Not Exist: '${executionArn}'`), { name: 'ExecutionDoesNotExist' });
    return { executionArn, stateMachineArn: RESTORE_STATE_MACHINE, status: record.status, startDate: record.startDate };
  });
  sfn.on(StartExecutionCommand).callsFake(({ stateMachineArn, name, input }: { stateMachineArn: string; name: string; input: string }) => {
    starts.push({ stateMachineArn, name, input: JSON.parse(input) });
    const vault = createS3Client({ endpoint: s3.endpoint });
    execution = runLocalExecution({
      definitionFile: 'state-machines/restore.asl.json',
      substitutions: RESTORE_SUBSTITUTIONS,
      input: JSON.parse(input),
      functions: { [RESTORE_STEPS_FUNCTION]: restoreSteps, [RESTORE_NETWORK_STEPS_FUNCTION]: restoreSteps, ...APPROVAL_FUNCTIONS },
      tasks: {
        ...NO_MIGRATIONS,
        // ECS cannot run here: the runner's job runs in this process, answered in runTask.sync's shape.
        RunRestore: restoreRunnerInProcess(vault, bucket),
      },
      notify: () => undefined,
      // What is there while the run waits for a human, then the human's answer.
      answer: async (request) => {
        const restored = await pg.query<{ datname: string }>(
          'postgres',
          `SELECT datname FROM pg_database WHERE datname LIKE '${LABEL}_restored_%'`,
        );
        waiting = {
          request,
          restored: await Promise.all(
            restored.map(async ({ datname }) => ({
              datname,
              orders: Number((await pg.query<{ n: string }>(datname, 'SELECT count(*) AS n FROM orders'))[0]!.n),
            })),
          ),
        };
        return answer(request);
      },
      retryIntervals: { Cleanup: 0 },
    });
    return { executionArn: `${RESTORE_STATE_MACHINE.replace(':stateMachine:', ':execution:')}:${name}`, startDate: new Date() };
  });
  const clients = {
    sfn: new SFNClient({ region: 'us-east-1' }),
    dynamodb: new DynamoDBClient(moto.clientConfig),
    lambda: new LambdaClient({ region: 'us-east-1' }),
    now: () => new Date(new Date(at).getTime() + 30_000),
  };
  const event = alarmEvent(alarmName, at);
  const outcome = await startAlarmRun(event, settings, clients);
  // EventBridge delivers it again: nothing more starts.
  const again = await startAlarmRun(event, settings, clients);
  const result = await execution!;
  return { outcome, again, starts, result, waiting: waiting! };
}

const UP_TO_THE_APPROVAL = [
  'ValidateInput',
  'ResolveBackup',
  'CreateTarget',
  'RestoresInPlace',
  'RunRestore',
  'PrepareMigrations',
  'MigrationsToRun',
  'ValidateRestore',
  'CheckValidation',
  'NeedsApproval',
  'PrepareApproval',
  'WaitForApproval',
];

describe('an alarm that prepares a restore, run locally against PostgreSQL and the S3-compatible server', () => {
  it('restores the backup before the alarm less its look back, validates it as the application, and waits at the approval', async () => {
    const { outcome, again, starts, result, waiting } = await alarmRun('shop orders: DELETE spike', '2026-11-23T10:45:00Z', () =>
      Promise.resolve({ error: 'Rejected', cause: 'the application recovered on its own' }),
    );

    expect(outcome).toMatchObject({ outcome: 'started', action: 'prepare-restore' });
    expect(again).toMatchObject({ outcome: 'already-started' });
    expect(starts).toEqual([
      {
        stateMachineArn: RESTORE_STATE_MACHINE,
        name: outcome.outcome === 'started' ? outcome.run : '',
        input: expect.objectContaining({ database: LABEL, at: '2026-11-23T10:15:00.000Z', cutover: 'shop-api' }),
      },
    ]);
    expect(result.states.slice(0, result.states.indexOf('WaitForApproval') + 1)).toEqual(UP_TO_THE_APPROVAL);
    // At the approval: the backup before the deletes, restored and validated, and nothing switched.
    expect(JSON.stringify(waiting.request.parameters)).toContain(before.key);
    expect(JSON.stringify(waiting.request.parameters)).not.toContain(after.key);
    expect(waiting.restored).toEqual([{ datname: expect.stringMatching(new RegExp(`^${LABEL}_restored_\\d{14}$`)), orders: 120 }]);
    expect(result.states).not.toContain('HandOver');
    // Rejected: the restored database was dropped, the source untouched.
    expect(result).toMatchObject({ status: 'FAILED', error: 'Rejected' });
    const left = await pg.query('postgres', `SELECT 1 FROM pg_database WHERE datname = $1`, [waiting.restored[0]!.datname]);
    expect(left).toEqual([]);
    expect((await pg.query<{ n: string }>(source, 'SELECT count(*) AS n FROM orders'))[0]!.n).toBe('20');
  });

  it('without a cutover, still waits at the approval, and keeps the restore only once a person approved it', async () => {
    // Past the first test's cool-down of the database; an hour's look back reaches the backup before the deletes.
    const { outcome, starts, result, waiting } = await alarmRun('shop replication lag', '2026-11-23T11:50:00Z', approve);

    expect(outcome).toMatchObject({ outcome: 'started', action: 'prepare-restore' });
    expect(starts).toEqual([
      expect.objectContaining({ input: expect.objectContaining({ database: LABEL, at: '2026-11-23T10:50:00.000Z', askApproval: true }) }),
    ]);
    expect(JSON.stringify(starts[0]!.input)).not.toContain('cutover');
    expect(result.states.slice(0, result.states.indexOf('WaitForApproval') + 1)).toEqual(UP_TO_THE_APPROVAL);
    expect(JSON.stringify(waiting.request.parameters)).toContain('rejected or unanswered in time, it is dropped');
    // Approved: kept, no cutover, the execution's result.
    expect(result.status).toBe('SUCCEEDED');
    expect(result.states).toContain('KeepTarget');
    expect(result.states).not.toContain('HandOver');
    const kept = waiting.restored[0]!.datname;
    expect((await pg.query<{ n: string }>(kept, 'SELECT count(*) AS n FROM orders'))[0]!.n).toBe('120');
  });
});
