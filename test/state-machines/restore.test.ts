import { DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient } from '@aws-sdk/client-sfn';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BackupResult } from '../../lambdas/core/backup/pipeline.js';
import { createS3Client } from '../../lambdas/core/vault/s3.js';
import { LifelineError } from '../../lambdas/core/errors.js';
import {
  inProcessTask,
  loadDefinition,
  runLocalExecution,
  type CallbackAnswer,
  type CallbackRequest,
  type LambdaHandler,
  type Notification,
} from '../../lambdas/core/workflows/local.js';
import { RestoreJob, runnerOverrides } from '../../lambdas/core/restore/job.js';
import { restoreFromEnvironment } from '../../lambdas/core/runner/restore.js';
import { runnerEnvironment } from '../../lambdas/core/runner/environment.js';
import { localStepFunctions } from '../../lambdas/core/operator/local-aws.js';
import { runnerExitCode } from '../../lambdas/core/exit-codes.js';
import { restoreCatalogPath } from '../../lambdas/core/names.js';
import type { RestoreDatabase } from '../../lambdas/core/restore/catalog.js';
import { RestoreFailure, CreatedTarget, ValidationReport, type RestoreSettings } from '../../lambdas/core/restore/state.js';
import { FakeSsm } from '../support/control-planes.js';
import { createRichDatabase, databaseDigest, RICH_DATABASE_LATEST_MIGRATION } from '../support/fixture.js';
import { connectPostgres } from '../support/postgres.js';
import { backUp, sharedPostgres, sharedS3 } from '../support/shared.js';
import {
  APPROVAL_FUNCTIONS,
  approve,
  aslErrors,
  NO_MIGRATIONS,
  RESTORE_NETWORK_STEPS_FUNCTION,
  RESTORE_STEPS_FUNCTION,
  RESTORE_SUBSTITUTIONS,
  tasksFailingAnIdleFunction,
} from '../support/workflows.js';

const DEFINITION = 'state-machines/restore.asl.json';
/** The restore group's runner family, which RunRestore starts. */
const RUNNER_FAMILY = 'lifeline-restore-runner-1';
/** The server's admin secret: the configured database's secret, so also the default target's server. */
const ADMIN_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:lifeline/shop-admin-AbC123';
/** shop-api's connection secret: its own role, which owns the source's objects and must own the restored ones. */
const APP_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:shop-api/connection-DeF456';
/** Another configured database's server, by its secret: an admin that is no member of shop-api's role. */
const OTHER_ADMIN_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:lifeline/replica-admin-GhI789';
/** ledger's secret as RDS manages it: username and password only; host and database name come from RDS. */
const LEDGER_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:rds!db-ledger-JkL012';
/** ledger-api's connection secret: the same application role. */
const LEDGER_APP_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:ledger-api/connection-MnO345';

const EARLIER_BACKUP_AT = '2026-01-15T08:00:00.000Z';
/** The longest configured name whose default target still fits PostgreSQL's 63 characters, and the longest name. */
const LONG_DEFAULTED = `shop_${'l'.repeat(34)}`;
const LONGEST = `shop_${'x'.repeat(58)}`;
/** A database of a thousand tables with long names: one report entry each would not fit a state. */
const WIDE = 'wide';
const WIDE_TABLES = 1000;
/** Table names of 62 characters (the prefix and a 4-digit number): PostgreSQL's 63 less the "_" of their array type. */
const WIDE_TABLE = 'sensor_readings_of_the_north_building_on_the_third_floor_x';

const pg = sharedPostgres();
const s3 = sharedS3();
const secrets = mockClient(SecretsManagerClient);
const rds = mockClient(RDSClient);
/** Step Functions, which CreateTarget asks whether the execution a target's mark names still runs. */
const sfn = mockClient(SFNClient);
const ssm = new FakeSsm();

/** Roles are the cluster's, shared by every test file: each run makes its own. */
const uniqueRole = (stem: string) => `${stem}_${randomBytes(4).toString('hex')}`;

/** The owners of the restored database's tables. */
async function tableOwners(database: string): Promise<string[]> {
  const rows = await pg.query<{ tableowner: string }>(
    database,
    "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
  );
  return rows.map((r) => r.tableowner);
}

/** Everything printed while `run` runs (EMF metric lines included), and its result. */
async function printed<T>(run: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
  try {
    return { result: await run(), lines };
  } finally {
    spy.mockRestore();
  }
}

/** The EMF metric lines printed, as JSON. */
function metricLines(lines: string[]): Record<string, any>[] {
  return lines.flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as Record<string, any>;
      return parsed._aws?.CloudWatchMetrics ? [parsed] : [];
    } catch {
      return [];
    }
  });
}

async function databaseExists(name: string): Promise<boolean> {
  return (await pg.query('postgres', 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length === 1;
}

/** This file's databases: the restores' targets are all named shop*, and other test files share the cluster. */
async function databases(): Promise<string[]> {
  const rows = await pg.query<{ datname: string }>('postgres', "SELECT datname FROM pg_database WHERE datname LIKE 'shop%' ORDER BY 1");
  return rows.map((r) => r.datname);
}

describe('restore.asl.json', () => {
  it('passes asl-validator once its placeholders are filled in, as deployed', async () => {
    const definition = await loadDefinition(DEFINITION, RESTORE_SUBSTITUTIONS);
    expect(aslErrors(definition)).toBe('');
    // The same check refuses a transition to a state that does not exist.
    const broken = structuredClone(definition);
    (broken.States.ResolveBackup as { Next: string }).Next = 'Nowhere';
    expect(aslErrors(broken)).not.toBe('');
  });

  it('sends every failure after the input is valid to Cleanup, and ends with the name Cleanup gives', async () => {
    const definition = await loadDefinition(DEFINITION, RESTORE_SUBSTITUTIONS);
    type Catching = { Type: string; Resource?: string; Catch?: { ErrorEquals: string[]; Next: string }[] };
    const states = definition.States as Record<string, Catching>;
    // Every Task but the first, the notifications (which end anyway) and Cleanup itself.
    const tasks = Object.keys(states).filter(
      (name) => states[name]!.Type === 'Task' && !['ValidateInput', 'Notify', 'NotifyFailure', 'Cleanup'].includes(name),
    );
    expect(tasks.sort()).toEqual([
      'ConcludeMigrations',
      'CreateTarget',
      'HandOver',
      'KeepTarget',
      'MigrationsFailed',
      'PrepareMigrations',
      'ResolveBackup',
      'RunMigrations',
      'RunRestore',
      'Summarize',
      'ValidateRestore',
      'VerifyApproval',
      'WaitForApproval',
    ]);
    // A failed migrations task goes through MigrationsFailed, which releases the target secret and names the migration.
    const catches = (name: string) => states[name]!.Catch?.find((c) => c.ErrorEquals.includes('States.ALL'))?.Next;
    for (const name of tasks) expect(catches(name), name).toBe(name === 'RunMigrations' ? 'MigrationsFailed' : 'Cleanup');
    // Cleanup failing still notifies, and the execution fails with a stable name.
    expect(states.Cleanup!.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.cleanupError', Next: 'CleanupFailed' }]);
    expect(definition.States.CleanupFailed).toMatchObject({ Type: 'Pass', Parameters: { error: 'RestoreFailed' }, Next: 'NotifyFailure' });
    expect(definition.States.Failed).toEqual({ Type: 'Fail', ErrorPath: '$.failure.error', CausePath: '$.failure.cause' });
    expect('Catch' in definition.States.ValidateInput!).toBe(false);
  });

  it("runs the steps that connect to a database in its network's function, selecting each whole result", async () => {
    const definition = await loadDefinition(DEFINITION, RESTORE_SUBSTITUTIONS);
    type Invoke = {
      Resource: string;
      Parameters: Record<string, unknown>;
      ResultSelector?: Record<string, string>;
      Retry: { ErrorEquals: string[] }[];
    };
    const states = definition.States as Record<string, Invoke>;
    const results = { CreateTarget: CreatedTarget, ValidateRestore: ValidationReport, Cleanup: RestoreFailure };
    for (const [name, schema] of Object.entries(results)) {
      const state = states[name]!;
      expect(state.Resource, name).toBe('arn:aws:states:::lambda:invoke');
      expect(state.Parameters['FunctionName.$'], name).toBe('$.request.stepsFunctionArn');
      // Exactly the fields of the step's result, so the state holds what the handler returned.
      const fields = Object.keys(schema.shape);
      expect(state.ResultSelector, name).toEqual(Object.fromEntries(fields.map((field) => [`${field}.$`, `$.Payload.${field}`])));
      // Lambda's transient errors are retried (Cleanup retries whatever failed).
      const retried = state.Retry.flatMap((r) => r.ErrorEquals);
      expect(retried.includes('Lambda.TooManyRequestsException') || retried.includes('States.ALL'), name).toBe(true);
    }
    for (const name of ['ValidateInput', 'ResolveBackup', 'Summarize']) expect(states[name]!.Resource, name).toBe(RESTORE_STEPS_FUNCTION);
  });

  it('retries every function that answers its first call ResourceNotReady, as an idle function in a VPC does', async () => {
    expect(tasksFailingAnIdleFunction(await loadDefinition(DEFINITION, RESTORE_SUBSTITUTIONS))).toEqual([]);
  });

  it('retries HandOver only where the cutover did not start or its answer was lost, never a cutover that failed', async () => {
    const definition = await loadDefinition(DEFINITION, RESTORE_SUBSTITUTIONS);
    const retried = (definition.States.HandOver as { Retry: { ErrorEquals: string[] }[] }).Retry.flatMap((r) => r.ErrorEquals);
    expect(retried.sort()).toEqual(['StepFunctions.ExecutionLimitExceeded', 'StepFunctions.SdkClientException']);
    expect((definition.States.HandOver as { Parameters: Record<string, string> }).Parameters['Name.$']).toBe('$$.Execution.Name');
  });

  it('refuses a placeholder without a value', async () => {
    const { RunnerClusterArn: _, ...withoutCluster } = RESTORE_SUBSTITUTIONS;
    await expect(loadDefinition(DEFINITION, withoutCluster)).rejects.toThrow(/no value for \$\{RunnerClusterArn\}/);
  });
});

describe('the restore workflow run locally against PostgreSQL and the S3-compatible server', () => {
  let source: string;
  let bucket: string;
  let backup: BackupResult;
  let earlier: BackupResult;
  let ledgerSource: string;
  let settings: RestoreSettings;
  let stepsHandler: LambdaHandler;
  const created: string[] = [];
  const appRole = uniqueRole('shop_app');
  const appPassword = randomBytes(18).toString('base64url');
  const otherAdmin = uniqueRole('lifeline_admin');
  const otherAdminPassword = randomBytes(18).toString('base64url');

  beforeAll(async () => {
    await pg.query(
      'postgres',
      `CREATE ROLE ${appRole} LOGIN PASSWORD '${appPassword}'; CREATE ROLE ${otherAdmin} LOGIN CREATEDB PASSWORD '${otherAdminPassword}'`,
    );
    source = await pg.createDatabase('restore_wf_source');
    // The application's role creates and owns its objects, as its migrations would.
    await pg.query('postgres', `ALTER DATABASE "${source}" OWNER TO ${appRole}`);
    const asApp = connectPostgres({ host: pg.host, port: pg.port, user: appRole, password: appPassword });
    await createRichDatabase(asApp, source);
    bucket = await s3.createBucket('restore-workflow');
    // An older backup, taken before a row was added, for the restore at a point in time.
    earlier = await backUp(pg, s3, { source, label: 'shop', bucket, now: () => new Date(EARLIER_BACKUP_AT) });
    await pg.query(source, "INSERT INTO app.constants (name) VALUES ('added after the earlier backup')");
    backup = await backUp(pg, s3, { source, label: 'shop', bucket });
    ledgerSource = await pg.createDatabase('ledger_source');
    await pg.query('postgres', `ALTER DATABASE "${ledgerSource}" OWNER TO ${appRole}`);
    await asApp.query(
      ledgerSource,
      'CREATE TABLE entries (id int PRIMARY KEY, amount numeric); INSERT INTO entries SELECT g, g * 1.5 FROM generate_series(1, 50) g',
    );
    await backUp(pg, s3, { source: ledgerSource, label: 'ledger', bucket });
    for (const label of [LONG_DEFAULTED, LONGEST]) await backUp(pg, s3, { source, label, bucket });
    const wideSource = await pg.createDatabase('wide_source');
    await pg.query('postgres', `ALTER DATABASE "${wideSource}" OWNER TO ${appRole}`);
    await asApp.query(
      wideSource,
      `DO $$ BEGIN FOR i IN 1..${WIDE_TABLES} LOOP
         EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY); INSERT INTO %1$I VALUES (1)', '${WIDE_TABLE}' || lpad(i::text, 4, '0'));
       END LOOP; END $$`,
    );
    await backUp(pg, s3, { source: wideSource, label: WIDE, bucket });

    const server = { host: pg.host, port: pg.port };
    const secretValues = {
      [ADMIN_SECRET]: { ...server, username: pg.user, password: pg.password, dbname: source },
      [APP_SECRET]: { ...server, username: appRole, password: appPassword, dbname: source },
      [OTHER_ADMIN_SECRET]: { ...server, username: otherAdmin, password: otherAdminPassword },
      [LEDGER_SECRET]: { username: pg.user, password: pg.password },
      [LEDGER_APP_SECRET]: { ...server, username: appRole, password: appPassword, dbname: ledgerSource },
    };
    for (const [arn, value] of Object.entries(secretValues)) {
      const name = arn.split(':secret:')[1]!.slice(0, -7);
      secrets.on(GetSecretValueCommand, { SecretId: arn }).resolves({ ARN: arn, Name: name, SecretString: JSON.stringify(value) });
    }
    // As RDS describes an instance whose database was created with it.
    rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'ledger' }).resolves({
      DBInstances: [{ DBInstanceIdentifier: 'ledger', Endpoint: { Address: pg.host, Port: pg.port }, DBName: ledgerSource }],
    });
    // The catalog as the restore group's stack writes it: one parameter per database.
    const network = {
      port: pg.port,
      network: 'private',
      stepsFunctionArn: RESTORE_NETWORK_STEPS_FUNCTION,
      runner: { taskDefinition: RUNNER_FAMILY, subnetIds: ['subnet-0a1b2c3d'], securityGroupIds: ['sg-0a1b2c3d'] },
    };
    const catalog: RestoreDatabase[] = [
      {
        name: 'shop',
        secretArn: ADMIN_SECRET,
        rds: { instanceIdentifier: 'shop' },
        ...network,
        applications: [{ name: 'shop-api', connectionSecretArn: APP_SECRET }],
      },
      {
        name: 'ledger',
        secretArn: LEDGER_SECRET,
        rds: { instanceIdentifier: 'ledger' },
        ...network,
        applications: [{ name: 'ledger-api', connectionSecretArn: LEDGER_APP_SECRET }],
      },
      ...[LONG_DEFAULTED, LONGEST, WIDE].map((name) => ({
        name,
        secretArn: ADMIN_SECRET,
        rds: { instanceIdentifier: 'shop' },
        ...network,
        applications: [{ name: 'shop-api', connectionSecretArn: APP_SECRET }],
      })),
      {
        name: 'replica',
        secretArn: OTHER_ADMIN_SECRET,
        databaseName: 'postgres',
        rds: { instanceIdentifier: 'replica' },
        ...network,
        applications: [],
      },
    ];
    for (const database of catalog) {
      ssm.parameters.set(`${restoreCatalogPath('lifeline', 1)}/${database.name}`, { value: JSON.stringify(database), type: 'String' });
    }
    settings = { deployment: 'lifeline', backupStacks: 1, bucket, approvalTimeoutSeconds: 1, runnerVcpus: 2 };
    // The real Lambda handler, configured as the stack configures it.
    process.env.AWS_ENDPOINT_URL_S3 = s3.endpoint;
    process.env.LIFELINE_RESTORE_SETTINGS = JSON.stringify(settings);
    ({ handler: stepsHandler } = await import('../../lambdas/restore/handler.js'));
  });

  afterAll(async () => {
    for (const name of created) await pg.query('postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    secrets.reset();
    rds.reset();
    sfn.reset();
    ssm.mock.reset();
  });

  interface Run {
    input: unknown;
    answer?: (request: CallbackRequest) => Promise<CallbackAnswer>;
    /** The runner's VAULT_BUCKET. */
    vaultBucket?: string;
    /** What happens in the runner after the restore job (a runner that dies midway). */
    afterJob?: (job: RestoreJob) => Promise<void>;
    /** A step the network's function fails, as a function that cannot reach the database. */
    failing?: string;
    /** A step whose function answers its first call as Lambda answers for a function idle in its VPC. */
    idleOnce?: string;
    /** RunTask's answers before one that starts a task: what Step Functions makes of ECS's failures. */
    unplaced?: string[];
  }

  async function run({ input, answer, vaultBucket = bucket, afterJob, failing, idleOnce, unplaced = [] }: Run) {
    const notifications: Notification[] = [];
    const requests: CallbackRequest[] = [];
    /** Which function ran each step. */
    const invoked: Record<string, string> = {};
    /** What RunRestore asked ECS to run, and where. */
    const ran: unknown[] = [];
    /** The overrides RunRestore sent, and those core reckons with (restore/job.ts runnerOverrides) for the same job. */
    const overrides: { asl: unknown; core: unknown }[] = [];
    /** Each step's event and what it answered, in order. */
    const steps: { event: any; result: any }[] = [];
    const vault = createS3Client({ endpoint: s3.endpoint });
    const deployed =
      (arn: string): LambdaHandler =>
      async (event, context) => {
        const { step } = event as { step: string };
        invoked[step] = arn;
        if (step === failing) throw new LifelineError('DatabaseUnreachable', `cannot connect to the database for ${step}`);
        if (step === idleOnce) {
          idleOnce = undefined;
          throw Object.assign(new Error('The function is currently in the Pending state.'), { name: 'Lambda.ResourceNotReadyException' });
        }
        const answered = await stepsHandler(event, context);
        steps.push({ event, result: answered });
        return answered;
      };
    const result = await runLocalExecution({
      definitionFile: DEFINITION,
      substitutions: RESTORE_SUBSTITUTIONS,
      input,
      functions: {
        [RESTORE_STEPS_FUNCTION]: deployed(RESTORE_STEPS_FUNCTION),
        [RESTORE_NETWORK_STEPS_FUNCTION]: deployed(RESTORE_NETWORK_STEPS_FUNCTION),
        ...APPROVAL_FUNCTIONS,
      },
      tasks: {
        ...NO_MIGRATIONS,
        // ECS cannot run here: the runner's job runs in this process, answered in runTask.sync's shape.
        RunRestore: async (parameters) => {
          const { TaskDefinition, NetworkConfiguration, Overrides } = parameters as Record<string, unknown>;
          const refusal = unplaced.shift();
          if (refusal)
            throw Object.assign(new Error('{"Failures":[{"Reason":"Capacity is unavailable at this time."}]}'), { name: refusal });
          ran.push({ TaskDefinition, NetworkConfiguration });
          return inProcessTask(async (environment) => {
            const job = RestoreJob.parse(JSON.parse(environment.LIFELINE_RESTORE_JOB!));
            overrides.push({ asl: Overrides, core: runnerOverrides(job) });
            // The runner's entry, as the container runs it: in place, it asks Step Functions (the local engine's
            // record of this execution) whether a human approved the job.
            const env = { ...runnerEnvironment({ bucket: vaultBucket, stagingDir: tmpdir() }), ...environment };
            await restoreFromEnvironment(env, { s3: vault, secrets: new SecretsManagerClient({}), sfn: localStepFunctions() });
            await afterJob?.(job);
          }, runnerExitCode)(parameters);
        },
      },
      notify: (notification) => notifications.push(notification),
      answer: async (request) => {
        requests.push(request);
        if (!answer) throw new Error('no approval expected');
        return answer(request);
      },
      retryIntervals: { Cleanup: 0, CreateTarget: 0, RunRestore: 0 },
    });
    return { ...result, notifications, requests, invoked, ran, overrides, steps };
  }

  const reject = (reason: string) => (): Promise<CallbackAnswer> => Promise.resolve({ error: 'Rejected', cause: reason });

  it('fails a bad input in ValidateInput, naming the field, with nothing created or notified', async () => {
    const before = await databases();
    for (const [input, field] of [
      [{ database: 'shop', colour: 'red' }, /Unrecognized key: \\"colour\\"/],
      [{ database: 'billing' }, /database: \\"billing\\" is not a configured database of deployment lifeline/],
      [{ database: 'shop', cutover: 'billing-api' }, /cutover: \\"billing-api\\" is not a configured application of database \\"shop\\"/],
      [{ database: 'shop', key: backup.key, at: '2026-01-01T00:00:00Z' }, /at: give key or at, not both/],
      [
        { database: 'shop', target: { serverSecretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:someone/else-PqR678' } },
        /target.serverSecretArn: .* is not the secret of a configured database that restores of \\"shop\\" reach \(those in its network private and backups stack: ledger, replica, shop, shop_l+, shop_x+, wide\)/,
      ],
    ] as const) {
      const result = await run({ input });
      expect(result.status, JSON.stringify(input)).toBe('FAILED');
      expect(result.error).toBe('InvalidInput');
      expect(result.cause).toMatch(field);
      expect(result.states).toEqual(['ValidateInput']);
      expect(result.notifications).toEqual([]);
    }
    expect(await databases()).toEqual(before);
  });

  it('restores {"database": "shop"} into shop_restored_<UTC second>, validated, without asking anyone', async () => {
    const { result, lines } = await printed(() => run({ input: { database: 'shop' } }));
    const output = result.output as any;
    if (output?.target?.database) created.push(output.target.database);
    expect(result.error ?? null, result.cause).toBeNull();
    expect(result.status).toBe('SUCCEEDED');
    expect(result.states).not.toContain('WaitForApproval');
    expect(result.requests).toEqual([]);

    expect(output.target.database).toMatch(/^shop_restored_\d{14}$/);
    expect(output.backup).toEqual({
      key: backup.key,
      takenAt: backup.manifest.startedAt,
      bytes: backup.bytes,
      migration: backup.manifest.latestMigration,
    });
    expect(output.backup.migration.name).toBe(RICH_DATABASE_LATEST_MIGRATION);
    expect(output.validation.passed).toBe(true);
    expect(output.validation.migration).toMatchObject({ ok: true, checked: true, actual: { name: RICH_DATABASE_LATEST_MIGRATION } });
    expect(output.validation.tables).toEqual({
      checked: backup.manifest.tables.length,
      failed: 0,
      failures: [],
      log: `CloudWatch Logs of the restore steps function: the 1 "validation tables" line of execution ${result.executionArn}`,
    });
    // Every table's check is in that line of the steps function's log, not in the execution's state.
    const logged = lines.flatMap((line) => {
      try {
        const entry = JSON.parse(line) as Record<string, any>;
        return entry.message === 'validation tables' ? [entry] : [];
      } catch {
        return [];
      }
    });
    expect(logged).toEqual([expect.objectContaining({ execution: result.executionArn, page: 1, pages: 1 })]);
    expect(logged[0]!.tables).toHaveLength(backup.manifest.tables.length);
    expect(output.approver).toBeNull();
    expect(output.handOver).toBeNull();
    expect(output.cutover).toBeNull();
    expect(Object.keys(output.stepSeconds)).toEqual(['ValidateInput', 'ResolveBackup', 'CreateTarget', 'RunRestore', 'ValidateRestore']);
    expect(output.restoreWallSeconds).toBeGreaterThan(0);
    expect(output.restoreWallSeconds).toBeGreaterThanOrEqual(output.stepSeconds.RunRestore);

    // The restored rows are the source's.
    const count = `SELECT count(*)::int AS n FROM "Billing"."InvoiceLine"`;
    expect(await pg.query(output.target.database, count)).toEqual(await pg.query(source, count));
    expect(result.notifications.map((n) => n.state)).toEqual(['Notify']);
    expect(result.notifications[0]!.subject).toBe(`Lifeline: shop restored into ${output.target.database}`);
    expect(result.notifications[0]!.message).toContain('passed validation');

    // Owned by the application's role, and proved as that role.
    expect(await tableOwners(output.target.database)).toEqual([appRole]);
    expect(output.target.owner).toBe(appRole);
    expect(output.validation.validatedAs).toBe(appRole);
    // Compared with its live source, which has not changed since the backup.
    expect(output.validation.drift).toEqual({
      compared: true,
      reason: null,
      source: expect.stringMatching(/\//),
      differences: 0,
      first: [],
    });
    // The steps that connect to the database ran in its network's function; the others outside.
    expect(result.invoked).toEqual({
      validateInput: RESTORE_STEPS_FUNCTION,
      resolveBackup: RESTORE_STEPS_FUNCTION,
      createTarget: RESTORE_NETWORK_STEPS_FUNCTION,
      prepareMigrations: RESTORE_NETWORK_STEPS_FUNCTION,
      validateRestore: RESTORE_NETWORK_STEPS_FUNCTION,
      keepTarget: RESTORE_NETWORK_STEPS_FUNCTION,
      summarize: RESTORE_STEPS_FUNCTION,
    });
    // The runner of the database's restore group, in its network, as the catalog says.
    expect(result.ran).toEqual([
      {
        TaskDefinition: RUNNER_FAMILY,
        NetworkConfiguration: {
          AwsvpcConfiguration: { Subnets: ['subnet-0a1b2c3d'], SecurityGroups: ['sg-0a1b2c3d'], AssignPublicIp: 'DISABLED' },
        },
      },
    ]);
    // The overrides are as long as ValidateInput reckoned them, which bounds them under ECS's limit.
    expect(result.overrides).toHaveLength(1);
    expect(JSON.stringify(result.overrides[0]!.asl)).toBe(JSON.stringify(result.overrides[0]!.core));
    const [emf, ...more] = metricLines(lines);
    expect(more).toEqual([]);
    expect(emf).toMatchObject({
      Database: 'shop',
      service: 'lifeline-restore',
      RestoreSucceeded: 1,
      RestoreSeconds: output.restoreWallSeconds,
    });
    expect(emf!._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'Lifeline',
      Metrics: expect.arrayContaining([
        { Name: 'RestoreSucceeded', Unit: 'Count' },
        { Name: 'RestoreSeconds', Unit: 'Seconds' },
      ]),
    });
    expect(lines.join('\n')).not.toContain(appPassword);
  });

  it('drops the restored database when the approver rejects, and fails with Rejected', async () => {
    const target = `shop_rejected_${Date.now()}`;
    created.push(target);
    const result = await run({
      input: { database: 'shop', cutover: 'shop-api', target: { database: target } },
      answer: reject('wrong backup: we need the one before the bad migration'),
    });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('Rejected');
    expect(result.cause).toBe('wrong backup: we need the one before the bad migration');
    expect(result.states.slice(-3)).toEqual(['Cleanup', 'NotifyFailure', 'Failed']);
    expect(await databaseExists(target)).toBe(false);
    const failure = result.notifications.find((n) => n.state === 'NotifyFailure')!;
    expect(failure.subject).toBe('Lifeline: restore of shop failed (Rejected)');
    expect(failure.message).toContain(`Dropped ${target}, which this execution had created.`);
    expect(await databaseExists(source)).toBe(true);
  });

  it('keeps the restored database of a rejected run when the input says keepOnFailure', async () => {
    const target = `shop_kept_${Date.now()}`;
    created.push(target);
    const result = await run({
      input: { database: 'shop', cutover: 'shop-api', target: { database: target }, keepOnFailure: true },
      answer: reject('keep it for the investigation'),
    });
    expect(result.error).toBe('Rejected');
    expect(await databaseExists(target)).toBe(true);
  });

  it('keeps a database handed over, kept on failure or restored out of reach of a cleanup event made by hand', async () => {
    const stamp = Date.now();
    const [handedOver, keptOnFailure, restored] = [`shop_handed_${stamp}`, `shop_kept_${stamp}`, `shop_done_${stamp}`] as const;
    created.push(handedOver, keptOnFailure, restored);
    const runs = {
      // HandOver fails here (no cutover state machine runs locally), after the database was handed over.
      [handedOver]: await run({ input: { database: 'shop', cutover: 'shop-api', target: { database: handedOver } }, answer: approve }),
      [keptOnFailure]: await run({
        input: { database: 'shop', cutover: 'shop-api', target: { database: keptOnFailure }, keepOnFailure: true },
        answer: reject('keep it for the investigation'),
      }),
      [restored]: await run({ input: { database: 'shop', target: { database: restored } } }),
    };
    expect(runs[handedOver]!.states).toContain('HandOver');
    expect(runs[handedOver]!.states.indexOf('KeepTarget')).toBe(runs[handedOver]!.states.indexOf('PrepareHandOver') - 2);
    expect(runs[keptOnFailure]!.error).toBe('Rejected');
    expect(runs[restored]!.status).toBe('SUCCEEDED');
    const why = {
      [handedOver]: 'handed over to the cutover of shop-api',
      [keptOnFailure]: 'kept on failure',
      [restored]: 'restored',
    };
    for (const [database, result] of Object.entries(runs)) {
      expect(
        await pg.query('postgres', "SELECT shobj_description(oid, 'pg_database') AS mark FROM pg_database WHERE datname = $1", [database]),
      ).toEqual([{ mark: `lifeline kept ${result.executionArn} (${why[database]})` }]);
      // Anyone who may invoke the network's steps function sends Cleanup's event for that execution, as if it had
      // failed before handing anything over, with keepOnFailure off.
      const { request, backup: used } = result.steps.find((call) => call.event.step === 'createTarget')!.event;
      const target = result.steps.find((call) => call.event.step === 'createTarget')!.result;
      const forged = await stepsHandler(
        { step: 'cleanup', state: { request: { ...request, keepOnFailure: false }, backup: used, target } },
        { getRemainingTimeInMillis: () => 900_000 },
      );
      expect(forged).toMatchObject({ dropped: null, kept: database });
      expect((forged as RestoreFailure).message).toContain(`Kept ${database}: this execution had kept it`);
      expect(await databaseExists(database)).toBe(true);
    }
  });

  it('drops the restored database when nobody answers in time, and fails with ApprovalTimedOut', async () => {
    const target = `shop_unanswered_${Date.now()}`;
    created.push(target);
    const result = await run({
      input: { database: 'shop', cutover: 'shop-api', target: { database: target } },
      answer: () => new Promise<never>(() => undefined),
    });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ApprovalTimedOut');
    expect(result.cause).toBe('nobody approved or rejected within 1 seconds');
    expect(result.requests).toHaveLength(1);
    expect(await databaseExists(target)).toBe(false);
  });

  it('fails with VerificationFailed when a smoke check does not return true, and drops what it restored', async () => {
    const target = `shop_smoke_${Date.now()}`;
    created.push(target);
    const { result, lines } = await printed(() =>
      run({
        input: {
          database: 'shop',
          target: { database: target },
          smokeChecks: [
            { name: 'accounts exist', sql: 'SELECT count(*) > 0 FROM app.accounts' },
            { name: 'no closed accounts', sql: "SELECT count(*) = 0 FROM app.accounts WHERE status = 'closed'" },
          ],
        },
      }),
    );
    expect(metricLines(lines)).toEqual([expect.objectContaining({ Database: 'shop', RestoreFailed: 1 })]);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('VerificationFailed');
    expect(result.cause).toMatch(/smoke check "no closed accounts" returned false, not true/);
    expect(result.cause).not.toMatch(/accounts exist/);
    expect(await databaseExists(target)).toBe(false);
  });

  it('fails a smoke check of several statements, which could leave the read-only transaction, and writes nothing', async () => {
    const target = `shop_smoke_escape_${Date.now()}`;
    created.push(target);
    const result = await run({
      input: {
        database: 'shop',
        target: { database: target },
        smokeChecks: [{ name: 'escapes', sql: 'SELECT true; COMMIT; DELETE FROM app.accounts' }],
        // Kept, to see that nothing was written.
        keepOnFailure: true,
      },
    });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('VerificationFailed');
    expect(result.cause).toMatch(/smoke check "escapes" failed: cannot insert multiple commands into a prepared statement/);
    const accounts = 'SELECT count(*)::int AS n FROM app.accounts';
    expect(await pg.query(target, accounts)).toEqual(await pg.query(source, accounts));
    expect((await pg.query<{ n: number }>(target, accounts))[0]!.n).toBeGreaterThan(0);
  });

  it('keeps the rows out of the report, the cause, the e-mails, the logs and the output, whatever a smoke check returns or fails with', async () => {
    const secret = `sk_live_${randomBytes(12).toString('hex')}`;
    // 36 rows of 1 KB, each with the secret: as a probe once copied 36 KB of a table into every record of the run.
    const seed = async (job: RestoreJob) => {
      await pg.query(
        job.database,
        `CREATE TABLE public.leak_probe (secret text PRIMARY KEY);
         INSERT INTO public.leak_probe SELECT '${secret}-' || g || repeat('.', 1000) FROM generate_series(1, 36) g;
         CREATE FUNCTION public.leak() RETURNS boolean LANGUAGE plpgsql AS $f$
           DECLARE found text; BEGIN SELECT secret INTO found FROM public.leak_probe LIMIT 1; RAISE EXCEPTION 'found %', found; END $f$;
         ALTER TABLE public.leak_probe OWNER TO ${appRole}; ALTER FUNCTION public.leak() OWNER TO ${appRole}`,
      );
    };
    const checks = {
      'returns the rows': 'SELECT string_agg(secret, $$,$$) FROM leak_probe',
      'returns a row': 'SELECT * FROM leak_probe',
      'returns them as json': 'SELECT json_agg(leak_probe) FROM leak_probe',
      'returns an array': 'SELECT array_agg(secret) FROM leak_probe',
      'casts a value': 'SELECT secret::int > 0 FROM leak_probe',
      'names a value': 'SELECT split_part(secret, $$-$$, 1)::regclass IS NOT NULL FROM leak_probe',
      'raises a value': 'SELECT leak()',
      'finds nothing': 'SELECT true FROM leak_probe WHERE false',
    };
    const target = `shop_leak_${Date.now()}`;
    created.push(target);
    const { result: failed, lines: failedLines } = await printed(() =>
      run({
        input: {
          database: 'shop',
          target: { database: target },
          smokeChecks: Object.entries(checks).map(([name, sql]) => ({ name, sql })),
        },
        afterJob: seed,
      }),
    );
    expect(failed.error, failed.cause).toBe('VerificationFailed');
    // Pass or fail, the value's type, PostgreSQL's message line without what it quotes, its SQLSTATE.
    for (const told of [
      'smoke check "returns the rows" returned a text, not true',
      'smoke check "returns a row" returned a text, not true',
      'smoke check "returns them as json" returned a json, not true',
      'smoke check "returns an array" returned a text[], not true',
      'smoke check "casts a value" failed: invalid input syntax for type integer: "..." (SQLSTATE 22P02)',
      'smoke check "names a value" failed: relation "..." does not exist (SQLSTATE 42P01)',
      'smoke check "raises a value" failed: a function raised an error (SQLSTATE P0001); its message is left out, since it may quote the rows',
      'smoke check "finds nothing" returned no rows, not true',
    ]) {
      expect(failed.cause).toContain(told);
    }
    const failure = failed.notifications.find((n) => n.state === 'NotifyFailure')!;
    expect(failure.message).toContain('smoke check "returns the rows" returned a text, not true');
    for (const [what, text] of [
      ['the execution', JSON.stringify(failed)],
      ['the logs', failedLines.join('\n')],
    ]) {
      expect(text, what).not.toContain('sk_live_');
    }

    // Checks that pass read the rows too: the approval's request carries their report, and nothing of the rows.
    const approvedTarget = `shop_leak_approval_${Date.now()}`;
    created.push(approvedTarget);
    const { result: asked, lines: askedLines } = await printed(() =>
      run({
        input: {
          database: 'shop',
          cutover: 'shop-api',
          target: { database: approvedTarget },
          smokeChecks: [{ name: 'secrets kept', sql: `SELECT count(*) = 36 FROM leak_probe WHERE secret LIKE 'sk_live_%'` }],
        },
        afterJob: seed,
        answer: reject('only the request was to be seen'),
      }),
    );
    expect(asked.error, asked.cause).toBe('Rejected');
    const request = asked.notifications.find((n) => n.state === 'WaitForApproval')!;
    expect(JSON.stringify(request.message)).toContain('1 smoke checks passed');
    expect(JSON.stringify(asked)).not.toContain(secret);
    expect(askedLines.join('\n')).not.toContain(secret);
  });

  it('refuses tables and schemas the backup does not have in ResolveBackup, naming every one, before anything is created', async () => {
    const target = `shop_unknown_tables_${Date.now()}`;
    created.push(target);
    const unknown = await run({
      input: { database: 'shop', tables: ['InvoiceLine', 'nope', '"Billing"."Nope"', 'app.InvoiceLine'], target: { database: target } },
    });
    expect(unknown.error).toBe('InvalidInput');
    expect(unknown.cause).toBe(`tables: "nope", "Billing"."Nope", "app.InvoiceLine" are not in backup ${backup.key}`);
    expect(unknown.states).toEqual(['ValidateInput', 'ResolveBackup', 'Cleanup', 'NotifyFailure', 'Failed']);
    expect(unknown.notifications.find((n) => n.state === 'NotifyFailure')!.message).toContain('"Billing"."Nope"');

    const schemas = await run({ input: { database: 'shop', schemas: ['app', 'sales'], target: { database: target } } });
    expect(schemas.error).toBe('InvalidInput');
    expect(schemas.cause).toBe(`schemas: "sales" has no tables in backup ${backup.key}`);
    expect(schemas.states).not.toContain('CreateTarget');
    expect(await databaseExists(target)).toBe(false);

    // Schema-qualified, quoted or not, as the runner selects them too.
    const qualified = await run({
      input: { database: 'shop', tables: ['"Billing"."InvoiceLine"', 'app.constants'], target: { database: target } },
    });
    expect(qualified.error ?? null, qualified.cause).toBeNull();
    expect((qualified.output as any).validation.tables).toMatchObject({ checked: 2, failed: 0 });
    const tables = await pg.query(
      target,
      "SELECT schemaname || '.' || tablename AS name FROM pg_tables WHERE schemaname IN ('app', 'Billing') ORDER BY 1",
    );
    expect(tables).toEqual([{ name: 'Billing.InvoiceLine' }, { name: 'app.constants' }]);
  });

  it("refuses postgres, template databases and a database the application's role does not own, before anything is written, saying what to do", async () => {
    for (const name of ['postgres', 'template1']) {
      const refused = await run({ input: { database: 'shop', target: { database: name } } });
      expect(refused.error).toBe('InvalidInput');
      // The first state has no Catch: its cause is Lambda's error, as Step Functions records it.
      expect(JSON.parse(refused.cause!).errorMessage).toMatch(
        new RegExp(`target\\.database: "${name}" is .*; a restore never writes into it: name a new database`),
      );
      expect(refused.states).toEqual(['ValidateInput']);
    }
    const template = `shop_template_${Date.now()}`;
    await pg.query('postgres', `CREATE DATABASE "${template}" IS_TEMPLATE true`);
    try {
      const refused = await run({ input: { database: 'shop', target: { database: template } } });
      expect(refused.error).toBe('InvalidInput');
      expect(refused.cause).toBe(
        `target.database: "${template}" on ${pg.host}:${pg.port} is a template database (datistemplate), which new databases are copied from; a restore never writes into it: name a new database`,
      );
      expect(refused.states).not.toContain('RunRestore');
      expect(await pg.query('postgres', 'SELECT datistemplate FROM pg_database WHERE datname = $1', [template])).toEqual([
        { datistemplate: true },
      ]);
    } finally {
      await pg.query('postgres', `ALTER DATABASE "${template}" IS_TEMPLATE false`);
      await pg.query('postgres', `DROP DATABASE "${template}"`);
    }

    // An operator's empty database, owned by the admin: pg_restore --role would fail in it midway.
    const foreign = await pg.createDatabase('shop_foreign_owner');
    created.push(foreign);
    const refused = await run({ input: { database: 'shop', target: { database: foreign } } });
    expect(refused.error).toBe('InvalidInput');
    expect(refused.cause).toBe(
      `target.database: "${foreign}" on ${pg.host}:${pg.port} belongs to ${pg.user}, not to the application's role "${appRole}", which must own what is restored into it: ` +
        `run ALTER DATABASE "${foreign}" OWNER TO "${appRole}" there (as its owner or the master user) and restore again, or restore into a new database; nothing was restored`,
    );
    expect(refused.states).not.toContain('RunRestore');
    // The fix it names is enough.
    await pg.query('postgres', `ALTER DATABASE "${foreign}" OWNER TO "${appRole}"`);
    const owned = await run({ input: { database: 'shop', target: { database: foreign } } });
    expect(owned.error ?? null, owned.cause).toBeNull();
    expect(await tableOwners(foreign)).toEqual([appRole]);
  });

  it('restores one database twice within a minute, each time into a database of its own', async () => {
    const first = await run({ input: { database: 'shop' } });
    const firstTarget = (first.output as any)?.target?.database as string;
    if (firstTarget) created.push(firstTarget);
    expect(first.error ?? null, first.cause).toBeNull();
    // The next second at the latest (a restore here takes about as long): the second execution starts in another.
    const stamp = /_(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)$/.exec(firstTarget)!.slice(1);
    const nextSecond = Date.UTC(+stamp[0]!, +stamp[1]! - 1, +stamp[2]!, +stamp[3]!, +stamp[4]!, +stamp[5]! + 1);
    while (Date.now() < nextSecond) await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await run({ input: { database: 'shop' } });
    const secondTarget = (second.output as any)?.target?.database as string;
    if (secondTarget) created.push(secondTarget);
    expect(second.error ?? null, second.cause).toBeNull();
    expect(secondTarget).not.toBe(firstTarget);
    const count = `SELECT count(*)::int AS n FROM "Billing"."InvoiceLine"`;
    expect(await pg.query(secondTarget, count)).toEqual(await pg.query(firstTarget, count));
  });

  it('takes over the empty database a stopped execution left, and refuses a name while the execution that marked it runs', async () => {
    const execution = (name: string) => `arn:aws:states:us-east-1:000000000000:execution:lifeline-restore:${name}`;
    const [stopped, forgotten, running] = [
      execution(`stopped-${Date.now()}`),
      execution(`forgotten-${Date.now()}`),
      execution(`running-${Date.now()}`),
    ];
    sfn.on(DescribeExecutionCommand, { executionArn: stopped }).resolves({ executionArn: stopped, status: 'ABORTED' });
    sfn
      .on(DescribeExecutionCommand, { executionArn: forgotten })
      .rejects(new ExecutionDoesNotExist({ message: `Execution Does Not Exist: '${forgotten}'`, $metadata: {} }));
    sfn.on(DescribeExecutionCommand, { executionArn: running }).resolves({ executionArn: running, status: 'RUNNING' });
    /** A database as a CreateTarget of `marker` left it: created for the application's role, marked, empty. */
    const leftBy = async (marker: string) => {
      const name = await pg.createDatabase('shop_left');
      created.push(name);
      await pg.query(
        'postgres',
        `ALTER DATABASE "${name}" OWNER TO "${appRole}"; COMMENT ON DATABASE "${name}" IS 'lifeline restore ${marker}'`,
      );
      return name;
    };
    for (const marker of [stopped, forgotten]) {
      const left = await leftBy(marker);
      const result = await run({ input: { database: 'shop', target: { database: left } } });
      expect(result.error ?? null, result.cause).toBeNull();
      expect(await tableOwners(left)).toEqual([appRole]);
      // Now this execution's, as if it had created it, and kept as its result.
      expect(
        await pg.query('postgres', "SELECT shobj_description(oid, 'pg_database') AS mark FROM pg_database WHERE datname = $1", [left]),
      ).toEqual([{ mark: `lifeline kept ${result.executionArn} (restored)` }]);
    }
    const busy = await leftBy(running);
    const refused = await run({ input: { database: 'shop', target: { database: busy } } });
    expect(refused.error).toBe('InvalidInput');
    expect(refused.cause).toBe(
      `target.database: "${busy}" on ${pg.host}:${pg.port} is being restored by execution ${running} (RUNNING); restore into another database`,
    );
    expect(refused.states).not.toContain('RunRestore');
    expect(await databaseExists(busy)).toBe(true);
  });

  it('never restores into the source database, and leaves it as it was', async () => {
    const before = await pg.query(source, 'SELECT count(*)::int AS n FROM app.accounts');
    const result = await run({ input: { database: 'shop', target: { database: source } } });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidInput');
    expect(result.cause).toMatch(new RegExp(`target.database: "${source}" is the source of backup .*, or over it with "inPlace": true`));
    expect(result.states).not.toContain('RunRestore');
    expect(await pg.query(source, 'SELECT count(*)::int AS n FROM app.accounts')).toEqual(before);
  });

  it('refuses a target that exists with tables, and leaves it as it was', async () => {
    const occupied = await pg.createDatabase('shop_occupied');
    created.push(occupied);
    await pg.query(occupied, 'CREATE TABLE notes (body text); INSERT INTO notes VALUES ($$keep me$$)');
    const result = await run({ input: { database: 'shop', target: { database: occupied } } });
    expect(result.error).toBe('InvalidInput');
    expect(result.cause).toMatch(
      new RegExp(`target.database: "${occupied}" on .* is not empty \\(public\\.notes\\); restore into a new database`),
    );
    expect(await pg.query(occupied, 'SELECT body FROM notes')).toEqual([{ body: 'keep me' }]);
  });

  it('fails with ChecksumMismatch when the archive was tampered with, and drops the created database', async () => {
    // Same size, different bytes: only the runner's SHA-256 check can tell.
    const tamperedBucket = await s3.createBucket('restore-tampered');
    const { CopyObjectCommand, GetObjectCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
    const tampered = Buffer.from(
      await (await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: backup.key }))).Body!.transformToByteArray(),
    );
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 10) ^ 0xff, tampered.length - 10);
    await s3.client.send(new PutObjectCommand({ Bucket: tamperedBucket, Key: backup.key, Body: tampered }));
    await s3.client.send(
      new CopyObjectCommand({ Bucket: tamperedBucket, Key: backup.manifestKey, CopySource: `${bucket}/${backup.manifestKey}` }),
    );
    const target = `shop_tampered_${Date.now()}`;
    created.push(target);
    process.env.LIFELINE_RESTORE_SETTINGS = JSON.stringify({ ...settings, bucket: tamperedBucket });
    let result;
    try {
      result = await run({ input: { database: 'shop', target: { database: target } }, vaultBucket: tamperedBucket });
    } finally {
      process.env.LIFELINE_RESTORE_SETTINGS = JSON.stringify(settings);
    }
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ChecksumMismatch');
    expect(await databaseExists(target)).toBe(false);
  });

  it('fails with RestoreFailed when the runner dies after writing, drops only the database it created', async () => {
    const target = `shop_runner_died_${Date.now()}`;
    created.push(target);
    const before = (await databases()).filter((name) => name !== target);
    let restoredRows: unknown;
    const result = await run({
      input: { database: 'shop', target: { database: target } },
      afterJob: async () => {
        // The restore has written into the target by now; then the container fails.
        restoredRows = await pg.query(target, 'SELECT count(*)::int AS n FROM app.accounts');
        throw new Error('container killed');
      },
    });
    expect(restoredRows).toEqual(await pg.query(source, 'SELECT count(*)::int AS n FROM app.accounts'));
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('RestoreFailed');
    expect(result.cause).toMatch(
      /^the runner arn:aws:ecs:us-east-1:000000000000:task\/lifeline-runner\/[0-9a-f]+ stopped with exit code 1 \(RestoreFailed\)/,
    );
    expect(await databases()).toEqual(before);
  });

  it('restores the latest backup taken at or before "at"', async () => {
    const target = `shop_at_${Date.now()}`;
    created.push(target);
    const result = await run({ input: { database: 'shop', at: '2026-01-15T09:30:00+01:00', target: { database: target } } });
    expect(result.error ?? null, result.cause).toBeNull();
    expect((result.output as any).backup).toMatchObject({ key: earlier.key, takenAt: EARLIER_BACKUP_AT });
    const constants = "SELECT count(*)::int AS n FROM app.constants WHERE name = 'added after the earlier backup'";
    expect(await pg.query(target, constants)).toEqual([{ n: 0 }]);
    expect(await pg.query(source, constants)).toEqual([{ n: 1 }]);

    const tooEarly = await run({ input: { database: 'shop', at: '2026-01-15T07:59:59Z', target: { database: `${target}_none` } } });
    expect(tooEarly.error).toBe('BackupNotFound');
    expect(tooEarly.cause).toMatch(/no backup of "shop" at or before 2026-01-15T07:59:59.000Z/);
    expect(await databaseExists(`${target}_none`)).toBe(false);
  });

  it('restores only the chosen tables into a side database, validated by their rows', async () => {
    const target = `shop_side_${Date.now()}`;
    created.push(target);
    const result = await run({ input: { database: 'shop', tables: ['InvoiceLine'], schemas: ['Billing'], target: { database: target } } });
    expect(result.error ?? null, result.cause).toBeNull();
    const output = result.output as any;
    expect(output.validation.tables).toMatchObject({ checked: 1, failed: 0, failures: [] });
    const count = `SELECT count(*)::int AS n FROM "Billing"."InvoiceLine"`;
    expect(await pg.query(target, count)).toEqual([{ n: 2000 }]);
    expect(output.validation.migration).toMatchObject({ checked: false, ok: true });
    const tables = await pg.query(
      target,
      "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    );
    expect(tables).toEqual([{ schemaname: 'Billing', tablename: 'InvoiceLine' }]);
    expect(await tableOwners(target)).toEqual([appRole]);
  });

  it("refuses an admin that cannot act as the application's role, naming the fix, before anything is created", async () => {
    const target = `shop_other_admin_${Date.now()}`;
    created.push(target);
    const input = { database: 'shop', target: { database: target, serverSecretArn: OTHER_ADMIN_SECRET } };
    const refused = await run({ input });
    expect(refused.error).toBe('InvalidInput');
    expect(refused.cause).toBe(
      `${otherAdmin} cannot act as the application's role "${appRole}" on ${pg.host}:${pg.port}, which the restored objects must belong to; ` +
        `run GRANT "${appRole}" TO "${otherAdmin}" there (on RDS as the master user) and restore again; nothing was restored`,
    );
    expect(refused.states).not.toContain('RunRestore');
    expect(await databaseExists(target)).toBe(false);

    // The fix the error names is enough.
    await pg.query('postgres', `GRANT ${appRole} TO ${otherAdmin}`);
    const granted = await run({ input });
    expect(granted.error ?? null, granted.cause).toBeNull();
    expect(await tableOwners(target)).toEqual([appRole]);
  });

  it("fails validation as the application's role when that role cannot read what was restored, and drops it", async () => {
    const target = `shop_unreadable_${Date.now()}`;
    created.push(target);
    const result = await run({
      input: { database: 'shop', target: { database: target } },
      // As an archive whose privileges shut the application out would leave it.
      afterJob: async (job) => {
        await pg.query(job.database, `REVOKE ALL ON SCHEMA app FROM ${appRole}`);
      },
    });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('VerificationFailed');
    expect(result.cause).toMatch(
      new RegExp(
        `^${target} failed validation as ${appRole}, the application's role, which cannot use it: permission denied for schema app`,
      ),
    );
    expect(await databaseExists(target)).toBe(false);
  });

  it('finds the server of a database whose RDS-managed secret holds only username and password through RDS', async () => {
    rds.resetHistory();
    const result = await run({ input: { database: 'ledger' } });
    expect(result.error ?? null, result.cause).toBeNull();
    const output = result.output as any;
    created.push(output.target.database);
    expect(output.target.database).toMatch(/^ledger_restored_\d{14}$/);
    expect(rds.commandCalls(DescribeDBInstancesCommand).map((call) => call.args[0].input)).toContainEqual({
      DBInstanceIdentifier: 'ledger',
    });
    const count = 'SELECT count(*)::int AS n, sum(amount)::text AS total FROM entries';
    expect(await pg.query(output.target.database, count)).toEqual(await pg.query(ledgerSource, count));
    expect(await tableOwners(output.target.database)).toEqual([appRole]);
  });

  it('notifies and fails with RestoreFailed when Cleanup itself fails', async () => {
    const result = await run({ input: { database: 'shop', at: '2000-01-01T00:00:00Z' }, failing: 'cleanup' });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('RestoreFailed');
    expect(result.cause).toMatch(/^the restore failed with BackupNotFound, and its cleanup with DatabaseUnreachable/);
    expect(result.states.slice(-4)).toEqual(['Cleanup', 'CleanupFailed', 'NotifyFailure', 'Failed']);
    const failure = result.notifications.find((n) => n.state === 'NotifyFailure')!;
    expect(failure.subject).toBe('Lifeline: restore of shop failed, and so did its cleanup');
  });

  it('waits out a function that wakes from idle in its VPC: its first call answers ResourceNotReady', async () => {
    const target = `shop_idle_${Date.now()}`;
    created.push(target);
    const result = await run({ input: { database: 'shop', target: { database: target } }, idleOnce: 'createTarget' });
    expect(result.error ?? null, result.cause).toBeNull();
    expect(result.status).toBe('SUCCEEDED');
  });

  it('starts the runner again while Fargate has no capacity or ECS throttles, and never runs a failed task again', async () => {
    const placedTarget = `shop_placed_${Date.now()}`;
    created.push(placedTarget);
    const placed = await run({
      input: { database: 'shop', target: { database: placedTarget } },
      unplaced: ['AmazonECS.Unknown', 'ECS.AmazonECSException', 'ECS.ThrottlingException'],
    });
    expect(placed.error ?? null, placed.cause).toBeNull();
    expect(placed.ran).toHaveLength(1);

    const target = `shop_runner_failed_${Date.now()}`;
    created.push(target);
    const failed = await run({
      input: { database: 'shop', target: { database: target } },
      afterJob: () => Promise.reject(new Error('container killed')),
    });
    expect(failed.error).toBe('RestoreFailed');
    expect(failed.ran).toHaveLength(1);
  });

  it('notifies the success of a restore whatever its names, in a subject SNS takes', async () => {
    const result = await run({ input: { database: LONG_DEFAULTED } });
    const output = result.output as any;
    if (output?.target?.database) created.push(output.target.database);
    expect(result.error ?? null, result.cause).toBeNull();
    expect(result.status).toBe('SUCCEEDED');
    const notice = result.notifications.find((n) => n.state === 'Notify')!;
    expect(notice.subject).toHaveLength(99);
    const room = 99 - '...'.length - `Lifeline: ${LONG_DEFAULTED} restored into `.length;
    expect(notice.subject).toBe(`Lifeline: ${LONG_DEFAULTED} restored into ${(output.target.database as string).slice(0, room)}...`);
    // The message names it whole.
    expect(JSON.stringify(notice.message)).toContain(output.target.database);
  });

  it('keeps the report of a thousand tables within what a state holds: counts and the first failures; every check in the log', async () => {
    // Every check goes to the log too, as in the deployed function: printed, not shown.
    const { result: restored } = await printed(() => run({ input: { database: WIDE } }));
    const output = restored.output as any;
    if (output?.target?.database) created.push(output.target.database);
    expect(restored.error ?? null, restored.cause).toBeNull();
    expect(output.validation.tables).toMatchObject({ checked: WIDE_TABLES, failed: 0, failures: [] });

    // Rows that differ from the backup in 25 tables: the report names the first 20 and counts the rest.
    const target = `wide_tampered_${Date.now()}`;
    created.push(target);
    const { result: failed } = await printed(() =>
      run({
        input: { database: WIDE, target: { database: target } },
        afterJob: async () => {
          await pg.query(
            target,
            `DO $$ BEGIN FOR i IN 1..25 LOOP
             EXECUTE format('INSERT INTO %I VALUES (2)', '${WIDE_TABLE}' || lpad(i::text, 4, '0'));
           END LOOP; END $$`,
          );
        },
      }),
    );
    expect(failed.error, failed.cause).toBe('VerificationFailed');
    expect(failed.cause).toMatch(new RegExp(`${WIDE_TABLE}0020 has 2 rows, the backup 1; 5 more tables differ\\.`));
    expect(failed.cause).not.toMatch(/0021 has/);
  });

  it('asks for the approval of an in-place restore of the longest name, in a subject SNS takes', async () => {
    const result = await run({ input: { database: LONGEST, inPlace: true }, answer: reject('only the subject was to be seen') });
    expect(result.error, result.cause).toBe('Rejected');
    const asked = result.notifications.find((n) => n.state === 'WaitForApproval')!;
    expect(asked.subject).toBe(`Lifeline: approve restoring ${LONGEST} in p...`);
  });

  const addedAfterEarlier = "SELECT count(*)::int AS n FROM app.constants WHERE name = 'added after the earlier backup'";

  it('asks a human before writing over the source in place, and a rejection changes nothing', async () => {
    const before = await pg.query(source, addedAfterEarlier);
    expect(before).toEqual([{ n: 1 }]);
    const result = await run({ input: { database: 'shop', key: earlier.key, inPlace: true }, answer: reject('not the right backup') });
    expect(result.error).toBe('Rejected');
    expect(result.states).toEqual([
      'ValidateInput',
      'ResolveBackup',
      'CreateTarget',
      'RestoresInPlace',
      'PrepareInPlaceApproval',
      'WaitForApproval',
      'Cleanup',
      'NotifyFailure',
      'Failed',
    ]);
    const published = result.notifications.find((n) => n.state === 'WaitForApproval')!;
    expect(published.subject).toBe('Lifeline: approve restoring shop in place');
    expect(published.message).toMatchObject({ report: { key: earlier.key, takenAt: EARLIER_BACKUP_AT } });
    expect((published.message as any).question).toMatch(
      new RegExp(`^Restore backup ${earlier.key} .* over the source database ${source} of shop on .*Nothing has been written yet\\.$`),
    );
    expect(await databaseExists(source)).toBe(true);
    expect(await pg.query(source, addedAfterEarlier)).toEqual(before);
    expect(result.notifications.find((n) => n.state === 'NotifyFailure')!.message).not.toContain('Dropped');
  });

  it('leaves the source as it was when an approved in-place restore fails: one transaction, nothing dropped', async () => {
    const before = await databaseDigest(pg.url(source));
    // pg_restore --clean cannot drop a partition's inherited primary key (metrics.events_*): the restore fails midway.
    const result = await run({ input: { database: 'shop', key: earlier.key, inPlace: true }, answer: approve });
    expect(result.error).toBe('RestoreFailed');
    expect(result.states).toContain('RunRestore');
    expect(await databaseDigest(pg.url(source))).toEqual(before);
    const failure = result.notifications.find((n) => n.state === 'NotifyFailure')!;
    expect(failure.message).toContain(`In place, ${source} is never dropped`);
  });

  it('restores over the source in place once a human approved, owned by the application', async () => {
    await pg.query(ledgerSource, 'INSERT INTO entries VALUES (51, 0)');
    const result = await run({ input: { database: 'ledger', inPlace: true }, answer: approve });
    expect(result.error ?? null, result.cause).toBeNull();
    expect(result.states.slice(3, 13)).toEqual([
      'RestoresInPlace',
      'PrepareInPlaceApproval',
      'WaitForApproval',
      'VerifyApproval',
      'Approved',
      'RunRestore',
      'PrepareMigrations',
      'MigrationsToRun',
      'ValidateRestore',
      'CheckValidation',
    ]);
    const output = result.output as any;
    expect(output.target).toEqual({ database: ledgerSource, serverSecretArn: LEDGER_SECRET, owner: appRole });
    expect(output.validation).toMatchObject({ passed: true, validatedAs: appRole });
    // The source is what was restored: there is no live source left to compare it with.
    expect(output.validation.drift).toEqual({
      compared: false,
      reason: 'an in-place restore replaced its source',
      source: null,
      differences: 0,
      first: [],
    });
    expect(Object.keys(output.stepSeconds)).toEqual([
      'ValidateInput',
      'ResolveBackup',
      'CreateTarget',
      'WaitForApproval',
      'RunRestore',
      'ValidateRestore',
    ]);
    expect(await pg.query(ledgerSource, 'SELECT count(*)::int AS n FROM entries')).toEqual([{ n: 50 }]);
    expect(await tableOwners(ledgerSource)).toEqual([appRole]);
  });
});
