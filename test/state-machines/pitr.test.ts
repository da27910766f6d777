/**
 * pitr.asl.json run locally, as deployed: its steps call RDS and Secrets Manager on a real AWS API server
 * (moto_server on loopback), and Validate connects over verified TLS to a throwaway PostgreSQL standing in for the
 * restored instance's endpoint. moto's RDS restores at once and copies settings itself, so the tests assert on the
 * requests Lifeline sends (captured by an SDK middleware), and an SDK middleware scripts what moto cannot: the
 * restored instance's status sequence (creating, backing-up, available; incompatible-restore), throttling, and
 * the endpoint it reports (and Performance Insights on the source, which moto does not report).
 */
import {
  CreateDBClusterCommand,
  CreateDBClusterParameterGroupCommand,
  CreateDBInstanceCommand,
  CreateDBParameterGroupCommand,
  CreateDBSnapshotCommand,
  CreateDBSubnetGroupCommand,
  CreateOptionGroupCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  ModifyDBInstanceCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CutoverInput } from '../../lambdas/core/cutover/input.js';
import { LifelineError } from '../../lambdas/core/errors.js';
import { parseInput } from '../../lambdas/core/validation.js';
import { fixedRestoreCatalog, type RestoreDatabase } from '../../lambdas/core/restore/catalog.js';
import { PITR_EXECUTION_TAG, type PitrSettings } from '../../lambdas/core/pitr/state.js';
import { runPitrStep } from '../../lambdas/core/pitr/steps.js';
import {
  loadDefinition,
  runLocalExecution,
  type CallbackAnswer,
  type CallbackRequest,
  type Json,
  type LambdaHandler,
  type Notification,
} from '../../lambdas/core/workflows/local.js';
import { startMoto, createSubnets, type MotoServer } from '../support/moto.js';
import { startPostgres, type PostgresCluster } from '../support/postgres.js';
import { PRISMA_MIGRATIONS_TABLE, prismaMigration } from '../support/migration-tables.js';
import { scratchDirectory } from '../support/scratch.js';
import {
  APPROVAL_FUNCTIONS,
  APPROVAL_VERIFY_FUNCTION,
  approve,
  aslErrors,
  NO_MIGRATIONS,
  tasksFailingAnIdleFunction,
} from '../support/workflows.js';
import { migrationsTargetSecretName } from '../../lambdas/core/names.js';
import { RELEASED_TARGET_SECRET } from '../../lambdas/core/restore/migrations.js';
import { localExecutionStatus } from '../../lambdas/core/workflows/local-executions.js';
import { inProcessTask } from '../../lambdas/core/workflows/local.js';

const DEFINITION = 'state-machines/pitr.asl.json';
const arn = (service: string, resource: string) => `arn:aws:${service}:us-east-1:000000000000:${resource}`;
const PITR_STEPS = arn('lambda', 'function:lifeline-pitr-steps');
const PITR_NETWORK_STEPS = arn('lambda', 'function:lifeline-pitr-private');
const SUBSTITUTIONS = {
  PitrStepsFunctionArn: PITR_STEPS,
  ApprovalsTopicArn: arn('sns', 'lifeline-approvals'),
  NotificationsTopicArn: arn('sns', 'lifeline-notifications'),
  CutoverStateMachineArn: arn('states', 'stateMachine:lifeline-cutover'),
  ApprovalVerifyFunctionArn: APPROVAL_VERIFY_FUNCTION,
  RunnerClusterArn: arn('ecs', 'cluster/lifeline-runner'),
};
/** shop-api's migrations, as the restore group's catalog places them (lib/restore/migrations-tasks.ts). */
const MIGRATIONS = {
  taskDefinition: 'lifeline-migrations-shop-api',
  targetSecret: migrationsTargetSecretName('lifeline', 'shop-api'),
  timeoutSeconds: 600,
  command: ['npx', 'prisma', 'migrate', 'deploy'],
};
const SOURCE = 'shop-production';
const CLUSTER_SOURCE = 'ledger-production';
const CLUSTER_SOURCE_WRITER = 'ledger-production-1';
const MONITORING_ROLE = 'arn:aws:iam::000000000000:role/rds-monitoring';
/** Any valid secret ARN: the admin secret is not used by PITR. */
const ADMIN_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:lifeline/shop-admin-AbC123';

/** One request Lifeline sent to RDS. */
interface Sent {
  command: string;
  input: Record<string, any>;
}

let moto: MotoServer;
let pg: PostgresCluster;
let rds: RDSClient;
let secrets: SecretsManagerClient;
let appSecretArn: string;
let sent: Sent[] = [];
/** Scripted statuses of a restored instance, by identifier: each DescribeDBInstances takes the next, the last stays. */
let statuses: Record<string, string[]> = {};
/** Throttling errors (Rate exceeded) to answer a restored instance's next DescribeDBInstances with, once its restore was sent. */
let throttles: Record<string, number> = {};
/**
 * What moto cannot model of a rename (the renamed instance unavailable until its new DNS name resolves): a status for
 * an instance as DescribeDBInstances reports it (after the scripted statuses), or undefined for moto's.
 */
let renameHook: ((identifier: string, instance: Record<string, any>) => string | undefined) | undefined;
/** Clusters' CloneGroupId, by identifier (moto reports none). */
let cloneGroups: Record<string, string> = {};
/** Requests RDS carries out whose answer then never arrives, by command name: how many to lose. */
let lostAnswers: Record<string, number> = {};
const restored = new Set<string>();

const settings: PitrSettings = {
  deployment: 'lifeline',
  backupStacks: 1,
  approvalTimeoutSeconds: 3600,
  networkFunctions: { private: PITR_NETWORK_STEPS },
  pollSeconds: 0,
  maxWaitSeconds: 5,
  renameSources: true,
};

function catalogEntries(): RestoreDatabase[] {
  const shop: RestoreDatabase = {
    name: 'shop',
    secretArn: ADMIN_SECRET,
    port: 5432,
    rds: { instanceIdentifier: SOURCE },
    network: 'private',
    stepsFunctionArn: arn('lambda', 'function:lifeline-restore1-private'),
    runner: { taskDefinition: 'lifeline-restore-runner-1', subnetIds: ['subnet-1'], securityGroupIds: ['sg-1'] },
    applications: [{ name: 'shop-api', connectionSecretArn: appSecretArn, migrations: MIGRATIONS }],
  };
  // An Aurora cluster; its application connects as the same role to the same stand-in database.
  const ledger: RestoreDatabase = {
    ...shop,
    name: 'ledger',
    rds: { clusterIdentifier: CLUSTER_SOURCE },
    applications: [{ name: 'ledger-api', connectionSecretArn: appSecretArn }],
  };
  // Two applications: which role validates is ambiguous without cutover or validateAs.
  const crowded: RestoreDatabase = {
    ...shop,
    name: 'crowded',
    rds: { instanceIdentifier: 'crowded-production' },
    applications: [
      { name: 'a-api', connectionSecretArn: appSecretArn },
      { name: 'b-api', connectionSecretArn: appSecretArn },
    ],
  };
  return [shop, ledger, crowded];
}

/**
 * Records every request, and for the restored instances (not the source) answers what moto cannot: the scripted
 * status, throttling, and the loopback endpoint of the PostgreSQL standing in for them.
 */
function instrument(client: RDSClient): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? 'unknown';
      const input = (args.input ?? {}) as Record<string, any>;
      sent.push({ command, input: structuredClone(input) });
      const id = (input.DBInstanceIdentifier ?? input.TargetDBInstanceIdentifier ?? input.DBClusterIdentifier) as string | undefined;
      if (/^Restore|^CreateDBInstance/.test(command) && id) restored.add(id);
      if (command === 'DescribeDBInstancesCommand' && id && restored.has(id) && (throttles[id] ?? 0) > 0) {
        throttles[id]!--;
        throw Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $fault: 'client' });
      }
      const result = await next(args);
      if (lostAnswers[command] !== undefined && lostAnswers[command] > 0) {
        lostAnswers[command]--;
        throw Object.assign(new Error('socket hang up after the request was sent'), { name: 'TimeoutError' });
      }
      const output = result.output as {
        DBInstances?: Record<string, any>[];
        DBInstance?: Record<string, any>;
        DBClusters?: Record<string, any>[];
        DBCluster?: Record<string, any>;
      };
      for (const cluster of [...(output.DBClusters ?? []), ...(output.DBCluster ? [output.DBCluster] : [])]) {
        const identifier = cluster.DBClusterIdentifier as string;
        if (cloneGroups[identifier]) cluster.CloneGroupId = cloneGroups[identifier];
        if (identifier === CLUSTER_SOURCE) continue;
        Object.assign(cluster, { Endpoint: '127.0.0.1', Port: pg.port });
        const script = statuses[identifier];
        if (script && command === 'DescribeDBClustersCommand') cluster.Status = script.length > 1 ? script.shift() : script[0];
      }
      for (const instance of [...(output.DBInstances ?? []), ...(output.DBInstance ? [output.DBInstance] : [])]) {
        const identifier = instance.DBInstanceIdentifier as string;
        const renaming = command === 'DescribeDBInstancesCommand' ? renameHook?.(identifier, instance) : undefined;
        if (renaming) instance.DBInstanceStatus = renaming;
        if (identifier === CLUSTER_SOURCE_WRITER) continue;
        if (identifier === SOURCE) {
          // moto does not report Performance Insights, which AWS does for a source that has it on.
          Object.assign(instance, { PerformanceInsightsEnabled: true, PerformanceInsightsRetentionPeriod: 7 });
          continue;
        }
        instance.Endpoint = { Address: '127.0.0.1', Port: pg.port };
        const script = statuses[identifier];
        if (script && command === 'DescribeDBInstancesCommand') {
          instance.DBInstanceStatus = script.length > 1 ? script.shift() : script[0];
        }
      }
      return result;
    },
    { step: 'initialize', name: 'pitrTestInstrument' },
  );
}

const calls = (command: string) => sent.filter((s) => s.command === `${command}Command`);
/** What the workflow did to anything but describe. */
const changes = () => sent.filter((s) => !/^(Describe|ListTags)/.test(s.command));

async function instanceExists(identifier: string): Promise<boolean> {
  try {
    await new RDSClient(moto.clientConfig).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }));
    return true;
  } catch (error) {
    if ((error as Error).name === 'DBInstanceNotFoundFault') return false;
    throw error;
  }
}

/** A Lambda error's message out of the cause Step Functions records (Lambda's error JSON), or the cause itself. */
function errorMessage(cause: string | undefined): string {
  try {
    return (JSON.parse(cause ?? '') as { errorMessage: string }).errorMessage;
  } catch {
    return cause ?? '';
  }
}

interface Run {
  input: unknown;
  answer?: (request: CallbackRequest) => Promise<CallbackAnswer>;
  /** The cutover's one step, given the hand-over input once it parsed as CutoverInput; throws to fail the cutover. */
  cutover?: (input: CutoverInput) => Promise<unknown>;
  /** ECS running shop-api's migrations task: by default, none may run. */
  runMigrations?: (parameters: Json) => Promise<Json>;
}

/** A stand-in for cutover.asl.json: one Lambda step that checks its input against core's CutoverInput. */
const STUB_CUTOVER_FUNCTION = arn('lambda', 'function:stub-cutover');
let stubCutoverFile: string;

async function run({
  input,
  answer = (request) => approve(request),
  cutover = () => Promise.resolve({ switched: true }),
  runMigrations = NO_MIGRATIONS.RunMigrations,
}: Run) {
  const catalog = fixedRestoreCatalog(catalogEntries());
  const handler: LambdaHandler = (event, context) =>
    runPitrStep(event, {
      settings,
      catalog,
      rds,
      secrets,
      executions: localExecutionStatus,
      sslRootCert: pg.caFile,
      lambdaRemainingMs: context.getRemainingTimeInMillis(),
    });
  const notifications: Notification[] = [];
  const approvals: CallbackRequest[] = [];
  const result = await runLocalExecution({
    definitionFile: DEFINITION,
    substitutions: SUBSTITUTIONS,
    functions: { [PITR_STEPS]: handler, [PITR_NETWORK_STEPS]: handler, ...APPROVAL_FUNCTIONS },
    stateMachines: {
      [SUBSTITUTIONS.CutoverStateMachineArn]: {
        definitionFile: stubCutoverFile,
        substitutions: { StubCutoverFunctionArn: STUB_CUTOVER_FUNCTION },
        functions: { [STUB_CUTOVER_FUNCTION]: (event) => cutover(parseInput(CutoverInput, event, 'cutover input')) },
      },
    },
    tasks: { RunMigrations: runMigrations },
    retryIntervals: { DescribeRestore: 0, StartRestore: 0, ResolveRestorePoint: 0, Cleanup: 0, PrepareMigrations: 0 },
    input,
    notify: (n) => notifications.push(n),
    answer: (request) => {
      approvals.push(request);
      return answer(request);
    },
  });
  return { result, notifications, approvals, output: result.output as Record<string, any> | undefined };
}

describe('pitr.asl.json', () => {
  it('passes asl-validator once its placeholders are filled in, and retries every function that wakes', async () => {
    const definition = await loadDefinition(DEFINITION, SUBSTITUTIONS);
    expect(aslErrors(definition)).toBe('');
    expect(tasksFailingAnIdleFunction(definition)).toEqual([]);
  });

  it('sends every failure after the input is valid to Cleanup, which still notifies when it fails itself', async () => {
    const definition = await loadDefinition(DEFINITION, SUBSTITUTIONS);
    type State = { Type: string; Catch?: { ErrorEquals: string[]; Next: string }[]; TimeoutSeconds?: number; TimeoutSecondsPath?: string };
    const states = definition.States as Record<string, State>;
    const tasks = Object.keys(states).filter(
      (n) => states[n]!.Type === 'Task' && !['ValidateInput', 'Notify', 'NotifyFailure', 'Cleanup'].includes(n),
    );
    expect(tasks.sort()).toEqual(
      [
        'ConcludeMigrations',
        'CreateWriter',
        'DescribeRestore',
        'Finish',
        'MigrationsFailed',
        'PrepareMigrations',
        'RunMigrations',
        'HandOver',
        'RenameBack',
        'RenameIn',
        'ResolveRestorePoint',
        'StartRestore',
        'Summarize',
        'Validate',
        'VerifyApproval',
        'WaitForApproval',
      ].sort(),
    );
    // A failed rename is renamed back first, then cleaned up.
    const caughtBy = (name: string) => states[name]!.Catch?.find((c) => c.ErrorEquals.includes('States.ALL'))?.Next;
    // A failed migrations task goes through MigrationsFailed, which releases the target secret and names the migration.
    const catcher = (name: string) => ({ RenameIn: 'RenameBack', RunMigrations: 'MigrationsFailed' })[name] ?? 'Cleanup';
    for (const name of tasks) expect(caughtBy(name), name).toBe(catcher(name));
    expect(states.Cleanup!.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.cleanupError', Next: 'CleanupFailed' }]);
    // Every Task has a timeout, and the RDS steps retry throttling.
    for (const [name, state] of Object.entries(states)) {
      if (state.Type === 'Task') expect(state.TimeoutSeconds ?? state.TimeoutSecondsPath, name).toBeDefined();
    }
    const cleanupRetries = (states.Cleanup as unknown as { Retry: { ErrorEquals: string[] }[] }).Retry.map((r) => r.ErrorEquals[0]);
    expect(cleanupRetries.indexOf('PitrCleanupPending')).toBeLessThan(cleanupRetries.indexOf('States.ALL'));
    for (const name of ['ResolveRestorePoint', 'StartRestore', 'DescribeRestore', 'CreateWriter', 'Finish']) {
      const retried = (states[name] as unknown as { Retry: { ErrorEquals: string[] }[] }).Retry.flatMap((r) => r.ErrorEquals);
      expect(retried, name).toContain('Throttling');
    }
  });
});

describe('the PITR workflow run locally against moto_server and PostgreSQL', () => {
  beforeAll(async () => {
    stubCutoverFile = join(scratchDirectory('pitr-'), 'cutover.asl.json');
    await writeFile(
      stubCutoverFile,
      JSON.stringify({
        StartAt: 'Switch',
        States: { Switch: { Type: 'Task', Resource: '${StubCutoverFunctionArn}', TimeoutSeconds: 60, End: true } },
      }),
    );
    [moto, pg] = await Promise.all([startMoto(), startPostgres({ tls: { hostname: '127.0.0.1' } })]);
    // The database the restored instance brings back, and the application's own role that owns it.
    await pg.query('postgres', "CREATE ROLE shop_app LOGIN PASSWORD 'app-password'");
    await pg.query('postgres', 'CREATE DATABASE shop OWNER shop_app');
    await pg.query(
      'shop',
      `SET ROLE shop_app;
       CREATE TABLE orders (id int PRIMARY KEY, total numeric); INSERT INTO orders VALUES (1, 10), (2, 20);
       ${PRISMA_MIGRATIONS_TABLE}
       ${prismaMigration('20261120_add_orders', { started: '2026-11-20T00:00:00Z', finished: '2026-11-20T00:00:01Z' })}
       ${prismaMigration('20261121_add_coupons', { started: '2026-11-21T00:00:00Z', finished: null })}`,
    );
    secrets = new SecretsManagerClient(moto.clientConfig);
    const secret = await secrets.send(
      new CreateSecretCommand({
        Name: 'shop-api/connection',
        SecretString: `postgresql://shop_app:app-password@shop.example.internal:5432/shop`,
      }),
    );
    appSecretArn = secret.ARN!;
    await secrets.send(new CreateSecretCommand({ Name: MIGRATIONS.targetSecret, SecretString: RELEASED_TARGET_SECRET }));
    rds = new RDSClient({ ...moto.clientConfig, maxAttempts: 1 });
    instrument(rds);
    // The source, with settings that RDS would not carry over by itself.
    const setup = new RDSClient(moto.clientConfig);
    const subnets = await createSubnets(moto.endpoint);
    await setup.send(
      new CreateDBSubnetGroupCommand({ DBSubnetGroupName: 'shop-private', DBSubnetGroupDescription: 'shop', SubnetIds: subnets }),
    );
    await setup.send(
      new CreateDBParameterGroupCommand({ DBParameterGroupName: 'shop-pg13', DBParameterGroupFamily: 'postgres13', Description: 'shop' }),
    );
    await setup.send(
      new CreateOptionGroupCommand({
        OptionGroupName: 'shop-options',
        EngineName: 'postgres',
        MajorEngineVersion: '13',
        OptionGroupDescription: 'shop',
      }),
    );
    await setup.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: SOURCE,
        DBInstanceClass: 'db.r6g.large',
        Engine: 'postgres',
        EngineVersion: '13.7',
        MasterUsername: 'lifeline_admin',
        MasterUserPassword: 'admin-password',
        AllocatedStorage: 100,
        StorageType: 'io1',
        Iops: 3000,
        BackupRetentionPeriod: 7,
        DBSubnetGroupName: 'shop-private',
        VpcSecurityGroupIds: ['sg-0a1b2c3d4e5f67890'],
        DBParameterGroupName: 'shop-pg13',
        OptionGroupName: 'shop-options',
        MultiAZ: true,
        DeletionProtection: true,
        EnableIAMDatabaseAuthentication: true,
        CopyTagsToSnapshot: true,
        PreferredMaintenanceWindow: 'sun:03:00-sun:04:00',
        PreferredBackupWindow: '01:00-01:30',
        CACertificateIdentifier: 'rds-ca-rsa2048-g1',
        Tags: [{ Key: 'team', Value: 'shop' }],
      }),
    );
    await setup.send(
      new CreateDBClusterParameterGroupCommand({
        DBClusterParameterGroupName: 'ledger-cluster-params',
        DBParameterGroupFamily: 'aurora-postgresql13',
        Description: 'ledger',
      }),
    );
    await setup.send(
      new CreateDBClusterCommand({
        DBClusterIdentifier: CLUSTER_SOURCE,
        Engine: 'aurora-postgresql',
        EngineVersion: '13.7',
        MasterUsername: 'lifeline_admin',
        MasterUserPassword: 'admin-password',
        BackupRetentionPeriod: 7,
        DBSubnetGroupName: 'shop-private',
        VpcSecurityGroupIds: ['sg-0f1e2d3c4b5a69788'],
        DBClusterParameterGroupName: 'ledger-cluster-params',
        DeletionProtection: true,
        EnableIAMDatabaseAuthentication: true,
        CopyTagsToSnapshot: true,
        Port: 5432,
        Tags: [{ Key: 'team', Value: 'ledger' }],
      }),
    );
    await setup.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: CLUSTER_SOURCE_WRITER,
        DBClusterIdentifier: CLUSTER_SOURCE,
        Engine: 'aurora-postgresql',
        DBInstanceClass: 'db.r6g.xlarge',
        CACertificateIdentifier: 'rds-ca-rsa2048-g1',
      }),
    );
    await setup.send(
      new ModifyDBInstanceCommand({
        DBInstanceIdentifier: CLUSTER_SOURCE_WRITER,
        MonitoringInterval: 30,
        MonitoringRoleArn: MONITORING_ROLE,
        ApplyImmediately: true,
      }),
    );
    // moto keeps monitoring and Performance Insights only when they are modified.
    await setup.send(
      new ModifyDBInstanceCommand({
        DBInstanceIdentifier: SOURCE,
        MonitoringInterval: 60,
        MonitoringRoleArn: MONITORING_ROLE,
        EnablePerformanceInsights: true,
        ApplyImmediately: true,
      }),
    );
  });

  afterAll(async () => {
    await Promise.all([moto?.stop(), pg?.stop()]);
  });

  beforeEach(() => {
    sent = [];
    statuses = {};
    throttles = {};
    lostAnswers = {};
    renameHook = undefined;
    cloneGroups = {};
  });

  /** A moment inside the source's window as moto reports it: its creation, which is no later than its latest restorable time. */
  async function momentInWindow(): Promise<string> {
    const { DBInstances } = await new RDSClient(moto.clientConfig).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: SOURCE }));
    return DBInstances![0]!.InstanceCreateTime!.toISOString();
  }

  it('restores the instance to a time with every setting passed, waits through creating and backing-up, validates over TLS and is approved', async () => {
    const target = 'shop-pitr-to-time';
    statuses[target] = ['creating', 'backing-up', 'available'];
    const at = await momentInWindow();
    const { result, output, notifications, approvals } = await run({ input: { database: 'shop', restorePoint: at, target } });
    expect(result.error ?? '', result.cause).toBe('');
    expect(result.status).toBe('SUCCEEDED');

    // The restore request carries the source's settings, which RDS would otherwise reset to defaults.
    const [restore] = calls('RestoreDBInstanceToPointInTime');
    expect(restore!.input).toMatchObject({
      SourceDBInstanceIdentifier: SOURCE,
      TargetDBInstanceIdentifier: target,
      DBInstanceClass: 'db.r6g.large',
      DBSubnetGroupName: 'shop-private',
      VpcSecurityGroupIds: ['sg-0a1b2c3d4e5f67890'],
      DBParameterGroupName: 'shop-pg13',
      OptionGroupName: 'shop-options',
      MultiAZ: true,
      DeletionProtection: true,
      EnableIAMDatabaseAuthentication: true,
      StorageType: 'io1',
      Iops: 3000,
      CopyTagsToSnapshot: true,
    });
    expect(new Date(restore!.input.RestoreTime).toISOString()).toBe(at);
    expect(restore!.input.UseLatestRestorableTime).toBeUndefined();
    expect(restore!.input.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'team', Value: 'shop' },
        { Key: PITR_EXECUTION_TAG, Value: result.executionArn },
      ]),
    );
    // What a restore cannot take comes once it is available, with the restored instance's own managed secret.
    const [modify] = calls('ModifyDBInstance');
    expect(modify!.input).toMatchObject({
      DBInstanceIdentifier: target,
      ApplyImmediately: true,
      ManageMasterUserPassword: true,
      MonitoringInterval: 60,
      MonitoringRoleArn: MONITORING_ROLE,
      EnablePerformanceInsights: true,
      PerformanceInsightsRetentionPeriod: 7,
      PreferredMaintenanceWindow: 'sun:03:00-sun:04:00',
      PreferredBackupWindow: '01:00-01:30',
      BackupRetentionPeriod: 7,
      CACertificateIdentifier: 'rds-ca-rsa2048-g1',
    });
    // Three looks: creating, backing-up, available. The source was only ever described.
    expect(calls('DescribeDBInstances').filter((c) => c.input.DBInstanceIdentifier === target).length).toBeGreaterThanOrEqual(3);
    expect(changes().every((c) => c.input.DBInstanceIdentifier !== SOURCE)).toBe(true);
    expect(changes().map((c) => c.command)).toEqual(['RestoreDBInstanceToPointInTimeCommand', 'ModifyDBInstanceCommand']);

    expect(output).toMatchObject({
      status: 'SUCCEEDED',
      source: { kind: 'instance', identifier: SOURCE },
      target: { identifier: target, host: '127.0.0.1', port: pg.port },
      restorePoint: { kind: 'time', time: at },
      validation: {
        passed: true,
        validatedAs: 'shop_app',
        database: 'shop',
        tables: 2,
        migration: {
          latest: { tool: 'prisma', name: '20261120_add_orders' },
          // The live source, as the application's secret names it, is not reachable from here: the report says so.
          state: {
            tools: ['prisma'],
            missing: null,
            notCompared: expect.stringMatching(/^the source shop_app@shop\.example\.internal:5432\/shop could not be read: /),
            failed: { count: 1, first: [{ tool: 'prisma', name: '20261121_add_coupons', at: '2026-11-21T00:00:00.000Z' }] },
            rolledBack: [],
          },
        },
      },
      approver: 'arn:aws:sts::000000000000:assumed-role/oncall/alice',
    });
    expect(output!.target.masterSecretArn).toMatch(/^arn:aws:secretsmanager:/);
    expect(output!.copiedSettings).toEqual(
      expect.arrayContaining(['DBSubnetGroupName', 'VpcSecurityGroupIds', 'DBParameterGroupName', 'Tags']),
    );
    expect(Object.keys(output!.stepSeconds)).toEqual(
      expect.arrayContaining(['ValidateInput', 'ResolveRestorePoint', 'Restore', 'Finish', 'Validate', 'WaitForApproval']),
    );
    expect(approvals).toHaveLength(1);
    expect((approvals[0]!.parameters as any).Message.question).toContain('passed validation as shop_app over TLS');
    expect((approvals[0]!.parameters as any).Message.question).toContain(
      'Migrations: 1 failed or unfinished here (prisma 20261121_add_coupons).',
    );
    expect(notifications.at(-1)!.subject).toBe(`Lifeline: shop recovered into ${target}`);
  });

  it('restores to the latest restorable time, through throttled looks (Rate exceeded) retried with backoff', async () => {
    const target = 'shop-pitr-latest';
    statuses[target] = ['creating', 'available'];
    throttles[target] = 2;
    const { result, output } = await run({ input: { database: 'shop', restorePoint: 'latest', target } });
    expect(result.status, result.cause).toBe('SUCCEEDED');
    const [restore] = calls('RestoreDBInstanceToPointInTime');
    expect(restore!.input).toMatchObject({ UseLatestRestorableTime: true, TargetDBInstanceIdentifier: target });
    expect(restore!.input.RestoreTime).toBeUndefined();
    expect(throttles[target]).toBe(0);
    expect(result.states.filter((s) => s === 'DescribeRestore').length).toBeGreaterThanOrEqual(2);
    expect(output!.restorePoint.kind).toBe('latest');
  });

  it('restores once when the answer to its restore call is lost: the retried StartRestore finds its own restore by the tag', async () => {
    const target = 'shop-pitr-answer-lost';
    lostAnswers.RestoreDBInstanceToPointInTimeCommand = 1;
    const { result } = await run({ input: { database: 'shop', restorePoint: 'latest', target } });
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(result.states.filter((s) => s === 'StartRestore')).toHaveLength(1);
    expect(calls('RestoreDBInstanceToPointInTime')).toHaveLength(1);
    // The retry looked for the target and found it carrying this execution's tag.
    expect(calls('DescribeDBInstances').filter((c) => c.input.DBInstanceIdentifier === target).length).toBeGreaterThanOrEqual(2);
  });

  it('refuses a time outside the restorable window, naming the window, before anything is created', async () => {
    const { result, notifications } = await run({
      input: { database: 'shop', restorePoint: '2020-01-01T00:00:00Z', target: 'shop-pitr-too-old' },
    });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('OutsideRestorableWindow');
    expect(result.cause).toMatch(
      /2020-01-01T00:00:00.000Z is outside RDS instance shop-production's restorable window, \S+ \(estimated\) to \S+/,
    );
    expect(changes()).toEqual([]);
    expect(await instanceExists('shop-pitr-too-old')).toBe(false);
    expect(notifications.map((n) => n.subject)).toEqual(['Lifeline: PITR of shop failed (OutsideRestorableWindow)']);
  });

  it('deletes what it restored when a human rejects it: deletion protection off first, then the delete, the source untouched', async () => {
    const target = 'shop-pitr-rejected';
    statuses[target] = ['available'];
    const { result, notifications } = await run({
      input: { database: 'shop', restorePoint: 'latest', target, finalSnapshot: true },
      answer: () => Promise.resolve({ error: 'Rejected', cause: 'rejected by bob: wrong moment' }),
    });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('Rejected');
    const order = changes().map((c) => [c.command, c.input.DBInstanceIdentifier ?? c.input.TargetDBInstanceIdentifier]);
    expect(order).toEqual([
      ['RestoreDBInstanceToPointInTimeCommand', target],
      ['ModifyDBInstanceCommand', target],
      ['ModifyDBInstanceCommand', target],
      ['DeleteDBInstanceCommand', target],
    ]);
    expect(calls('ModifyDBInstance')[1]!.input).toEqual({
      DBInstanceIdentifier: target,
      DeletionProtection: false,
      ApplyImmediately: true,
    });
    // finalSnapshot asked for, and the instance was available: a final snapshot, named.
    expect(calls('DeleteDBInstance')[0]!.input).toMatchObject({
      SkipFinalSnapshot: false,
      FinalDBSnapshotIdentifier: expect.stringMatching(/^shop-pitr-rejected-final-\d{14}$/),
    });
    expect(await instanceExists(target)).toBe(false);
    expect(await instanceExists(SOURCE)).toBe(true);
    expect(notifications.at(-1)!.message).toContain(`Deleted ${target}, which this execution had restored.`);
  });

  it('deletes what it restored when nobody answers the approval in time (ApprovalTimedOut)', async () => {
    const target = 'shop-pitr-unanswered';
    // The task's timeout, as Step Functions fails it: the state's Catch for States.Timeout.
    const { result } = await run({
      input: { database: 'shop', restorePoint: 'latest', target, approvalTimeoutHours: 2 },
      answer: () => Promise.resolve({ error: 'States.Timeout', cause: 'the task timed out' }),
    });
    expect(result.error).toBe('ApprovalTimedOut');
    expect(result.cause).toBe('nobody approved or rejected within 7200 seconds');
    expect(result.states.slice(-4)).toEqual(['ApprovalTimedOut', 'Cleanup', 'NotifyFailure', 'Failed']);
    expect(calls('DeleteDBInstance')[0]!.input).toMatchObject({ DBInstanceIdentifier: target, SkipFinalSnapshot: true });
    expect(await instanceExists(target)).toBe(false);
  });

  it('ends a restore that RDS leaves incompatible-restore, deleting it with SkipFinalSnapshot', async () => {
    const target = 'shop-pitr-incompatible';
    statuses[target] = ['creating', 'incompatible-restore'];
    const { result } = await run({ input: { database: 'shop', restorePoint: 'latest', target, finalSnapshot: true } });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('PitrRestoreFailed');
    expect(result.cause).toContain('ended in status incompatible-restore');
    expect(result.states).not.toContain('Finish');
    expect(calls('DeleteDBInstance')[0]!.input).toMatchObject({ DBInstanceIdentifier: target, SkipFinalSnapshot: true });
    expect(calls('DeleteDBInstance')[0]!.input.FinalDBSnapshotIdentifier).toBeUndefined();
    expect(await instanceExists(target)).toBe(false);
  });

  it('gives up after its bound of looks (PitrTimedOut) and deletes what it restored', async () => {
    const target = 'shop-pitr-slow';
    statuses[target] = ['creating'];
    const { result } = await run({ input: { database: 'shop', restorePoint: 'latest', target } });
    expect(result.error).toBe('PitrTimedOut');
    // maxWaitSeconds 5 at pollSeconds 0 (counted as 1): five looks.
    expect(result.states.filter((s) => s === 'DescribeRestore')).toHaveLength(5);
    expect(await instanceExists(target)).toBe(false);
  });

  it('refuses a target that exists and is not its own, and deletes nothing', async () => {
    const existing = `${SOURCE}-pitr-copy`;
    await new RDSClient(moto.clientConfig).send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: existing,
        DBInstanceClass: 'db.t4g.micro',
        Engine: 'postgres',
        MasterUsername: 'someone',
        MasterUserPassword: 'someone-password',
        AllocatedStorage: 20,
      }),
    );
    const { result, notifications } = await run({ input: { database: 'shop', restorePoint: 'latest', target: existing } });
    expect(result.error).toBe('InvalidInput');
    expect(result.cause).toContain(`target: "${existing}" exists already and is not this execution's; nothing was created`);
    expect(notifications.at(-1)!.message).toContain(`Kept ${existing}: it does not carry this execution's tag.`);
    expect(changes()).toEqual([]);
    expect(await instanceExists(existing)).toBe(true);
  });

  it("restores the Aurora cluster to a time, then creates its writer as the source's once the cluster is available", async () => {
    const target = 'ledger-pitr-to-time';
    const writer = `${target}-writer`;
    statuses[target] = ['creating', 'available'];
    statuses[writer] = ['creating', 'backing-up', 'available'];
    const { DBClusters } = await new RDSClient(moto.clientConfig).send(
      new DescribeDBClustersCommand({ DBClusterIdentifier: CLUSTER_SOURCE }),
    );
    const at = DBClusters![0]!.EarliestRestorableTime!.toISOString();
    const { result, output } = await run({ input: { database: 'ledger', restorePoint: at, target } });
    expect(result.status, result.cause).toBe('SUCCEEDED');
    // The cluster first, then (once it is available) its writer, then the modify: never monitoring on the cluster.
    expect(changes().map((c) => c.command)).toEqual([
      'RestoreDBClusterToPointInTimeCommand',
      'CreateDBInstanceCommand',
      'ModifyDBClusterCommand',
    ]);
    const [restore] = calls('RestoreDBClusterToPointInTime');
    expect(restore!.input).toMatchObject({
      SourceDBClusterIdentifier: CLUSTER_SOURCE,
      DBClusterIdentifier: target,
      RestoreType: 'full-copy',
      DBSubnetGroupName: 'shop-private',
      VpcSecurityGroupIds: ['sg-0f1e2d3c4b5a69788'],
      DBClusterParameterGroupName: 'ledger-cluster-params',
      DeletionProtection: true,
      EnableIAMDatabaseAuthentication: true,
      CopyTagsToSnapshot: true,
    });
    expect(new Date(restore!.input.RestoreToTime).toISOString()).toBe(at);
    expect(Object.keys(restore!.input).filter((k) => /Monitoring|PerformanceInsights/.test(k))).toEqual([]);
    expect(calls('CreateDBInstance')[0]!.input).toMatchObject({
      DBInstanceIdentifier: writer,
      DBClusterIdentifier: target,
      Engine: 'aurora-postgresql',
      DBInstanceClass: 'db.r6g.xlarge',
      MonitoringInterval: 30,
      MonitoringRoleArn: MONITORING_ROLE,
      CACertificateIdentifier: 'rds-ca-rsa2048-g1',
      Tags: expect.arrayContaining([{ Key: PITR_EXECUTION_TAG, Value: result.executionArn }]),
    });
    expect(calls('ModifyDBCluster')[0]!.input).toMatchObject({
      DBClusterIdentifier: target,
      ManageMasterUserPassword: true,
      ApplyImmediately: true,
    });
    expect(result.states.indexOf('CreateWriter')).toBeGreaterThan(result.states.indexOf('DescribeRestore'));
    expect(output).toMatchObject({ source: { kind: 'cluster', identifier: CLUSTER_SOURCE }, target: { identifier: target, writer } });
  });

  it('deletes a rejected Aurora restore in order: the writer, then the cluster with its deletion protection off', async () => {
    const target = 'ledger-pitr-rejected';
    const writer = `${target}-writer`;
    const { result } = await run({
      input: { database: 'ledger', restorePoint: 'latest', target },
      answer: () => Promise.resolve({ error: 'Rejected', cause: 'rejected by bob' }),
    });
    expect(result.error).toBe('Rejected');
    const cleanup = changes()
      .slice(3)
      .map((c) => [c.command, c.input.DBInstanceIdentifier ?? c.input.DBClusterIdentifier]);
    expect(cleanup).toEqual([
      ['DeleteDBInstanceCommand', writer],
      ['ModifyDBClusterCommand', target],
      ['DeleteDBClusterCommand', target],
    ]);
    expect(calls('ModifyDBCluster')[1]!.input).toEqual({ DBClusterIdentifier: target, DeletionProtection: false, ApplyImmediately: true });
    expect(calls('DeleteDBCluster')[0]!.input).toEqual({ DBClusterIdentifier: target, SkipFinalSnapshot: true });
    const remaining = await new RDSClient(moto.clientConfig).send(new DescribeDBClustersCommand({}));
    expect(remaining.DBClusters!.map((c) => c.DBClusterIdentifier)).not.toContain(target);
    expect(remaining.DBClusters!.map((c) => c.DBClusterIdentifier)).toContain(CLUSTER_SOURCE);
  });

  it('restores the newest manual snapshot, with the same settings passed', async () => {
    const target = 'shop-pitr-from-manual';
    const setup = new RDSClient(moto.clientConfig);
    await setup.send(new CreateDBSnapshotCommand({ DBInstanceIdentifier: SOURCE, DBSnapshotIdentifier: 'shop-before-release-41' }));
    await setup.send(new CreateDBSnapshotCommand({ DBInstanceIdentifier: SOURCE, DBSnapshotIdentifier: 'shop-before-release-42' }));
    const { result, output } = await run({ input: { database: 'shop', restorePoint: { snapshot: { latest: 'manual' } }, target } });
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(calls('RestoreDBInstanceToPointInTime')).toEqual([]);
    expect(calls('RestoreDBInstanceFromDBSnapshot')[0]!.input).toMatchObject({
      DBInstanceIdentifier: target,
      DBSnapshotIdentifier: 'shop-before-release-42',
      DBSubnetGroupName: 'shop-private',
      VpcSecurityGroupIds: ['sg-0a1b2c3d4e5f67890'],
      DBParameterGroupName: 'shop-pg13',
      MultiAZ: true,
      DeletionProtection: true,
    });
    expect(output!.restorePoint).toMatchObject({ kind: 'snapshot', snapshot: 'shop-before-release-42' });
  });

  /**
   * ECS running shop-api's migrations task: the execution role resolves DATABASE_URL from the target secret when the
   * task starts, and the container runs each of `statements` with psql, one transaction each (standing in for `prisma migrate deploy`, which records in
   * `_prisma_migrations` as it goes); the RDS CA bundle is the image's.
   */
  function migrationsTask(statements: string[], seen: { parameters?: Json; url?: string }) {
    return async (parameters: Json) => {
      seen.parameters = parameters;
      const value = await secrets.send(new GetSecretValueCommand({ SecretId: MIGRATIONS.targetSecret }));
      seen.url = (JSON.parse(value.SecretString!) as { DATABASE_URL: string }).DATABASE_URL;
      const psql = () =>
        new Promise<void>((resolve, reject) => {
          const child = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', seen.url!, ...statements.flatMap((sql) => ['-c', sql])], {
            env: { ...process.env, PGSSLROOTCERT: pg.caFile },
            stdio: 'ignore',
          });
          child.once('error', reject);
          child.once('exit', (code) => (code === 0 ? resolve() : reject(Object.assign(new Error('psql failed'), { exitCode: code }))));
        });
      return inProcessTask(psql, (error) => (error as { exitCode: number }).exitCode)(parameters);
    };
  }
  const heldBy = async () =>
    JSON.parse((await secrets.send(new GetSecretValueCommand({ SecretId: MIGRATIONS.targetSecret }))).SecretString!);
  const recordPrisma = (name: string, finished: boolean) =>
    `INSERT INTO _prisma_migrations (id, checksum, migration_name, finished_at, applied_steps_count)
     VALUES (gen_random_uuid()::text, '${'c'.repeat(64)}', '${name}', ${finished ? 'now()' : 'NULL'}, ${finished ? 1 : 0})`;

  it("runs the cut-over application's migrations on the restore before Validate, DATABASE_URL only in the task's secret, and reports them", async () => {
    const target = 'shop-pitr-migrated';
    statuses[target] = ['available'];
    const seen: { parameters?: Json; url?: string } = {};
    try {
      const { result, output } = await run({
        input: { database: 'shop', restorePoint: 'latest', target, cutover: 'shop-api' },
        runMigrations: migrationsTask(['CREATE TABLE pitr_notes (id int)', recordPrisma('20261201_pitr_notes', true)], seen),
      });
      expect(result.error ?? '', result.cause).toBe('');
      const at = result.states.indexOf('PrepareMigrations');
      expect(result.states.slice(at - 1, at + 5)).toEqual([
        'RestoreReady',
        'PrepareMigrations',
        'MigrationsToRun',
        'RunMigrations',
        'ConcludeMigrations',
        'Validate',
      ]);
      // The runners' placement in the source's network, the migrations task definition, and nothing overridden.
      expect(seen.parameters).toMatchObject({
        Cluster: SUBSTITUTIONS.RunnerClusterArn,
        TaskDefinition: MIGRATIONS.taskDefinition,
        NetworkConfiguration: { AwsvpcConfiguration: { Subnets: ['subnet-1'], SecurityGroups: ['sg-1'], AssignPublicIp: 'DISABLED' } },
      });
      expect((seen.parameters as Record<string, unknown>).Overrides).toBeUndefined();
      expect(JSON.stringify(seen.parameters)).not.toContain('app-password');
      // The restored endpoint, as the application's role, with the TLS settings of the application's own URL (none).
      const url = new URL(seen.url!);
      expect([url.hostname, url.port, url.pathname, url.username]).toEqual(['127.0.0.1', String(pg.port), '/shop', 'shop_app']);
      expect(url.searchParams.get('sslmode')).toBeNull();
      expect(output!.validation.migrations).toEqual({
        application: 'shop-api',
        command: MIGRATIONS.command,
        applied: [{ tool: 'prisma', name: '20261201_pitr_notes' }],
      });
      expect(output!.validation.migration.latest).toMatchObject({ tool: 'prisma', name: '20261201_pitr_notes' });
      expect(output!.validation.summary).toContain("shop-api's migrations applied 1");
      expect(await heldBy()).toEqual({ released: true, execution: result.executionArn });
    } finally {
      await pg.query(
        'shop',
        "DROP TABLE IF EXISTS pitr_notes; DELETE FROM _prisma_migrations WHERE migration_name = '20261201_pitr_notes'",
      );
    }
  });

  it('ends a failed migrations task in MigrationsFailed naming the migration, deletes the restore and releases the secret', async () => {
    const target = 'shop-pitr-migrations-fail';
    statuses[target] = ['available'];
    const seen: { parameters?: Json; url?: string } = {};
    try {
      const { result } = await run({
        input: { database: 'shop', restorePoint: 'latest', target, cutover: 'shop-api' },
        runMigrations: migrationsTask([recordPrisma('20261202_broken', false), 'SELECT 1 / 0'], seen),
      });
      expect(result.error).toBe('MigrationsFailed');
      expect(result.cause).toContain('exited with code');
      expect(result.cause).toContain('Prisma migration 20261202_broken failed');
      expect(result.states).not.toContain('Validate');
      expect(await instanceExists(target)).toBe(false);
      expect(await heldBy()).toEqual({ released: true, execution: result.executionArn });
    } finally {
      await pg.query('shop', "DELETE FROM _prisma_migrations WHERE migration_name = '20261202_broken'");
    }
  });

  it("hands the approved restore over to cutover by its own managed secret and endpoint, under this execution's name", async () => {
    const target = 'shop-pitr-cutover';
    const handedOver: CutoverInput[] = [];
    const { result, output } = await run({
      input: { database: 'shop', restorePoint: 'latest', target, cutover: 'shop-api', runMigrations: false },
      cutover: (input) => {
        handedOver.push(input);
        return Promise.resolve({ application: input.application, to: input.database });
      },
    });
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(handedOver).toEqual([
      {
        application: 'shop-api',
        database: { serverSecretArn: output!.target.masterSecretArn, name: 'shop', server: { host: '127.0.0.1', port: pg.port } },
        origin: { workflow: 'pitr', executionArn: result.executionArn, backupKey: null },
        approval: expect.objectContaining({ approver: 'arn:aws:sts::000000000000:assumed-role/oncall/alice' }),
      },
    ]);
    expect(output!.cutover.executionArn).toMatch(/:execution:lifeline-cutover:/);
    expect(output!.message).toContain(`Cutover switched shop-api to ${target}.`);
    // The RTO of this path: every step's seconds, the cutover's among them, and the whole.
    expect(Object.keys(output!.stepSeconds)).toEqual(expect.arrayContaining(['Restore', 'Validate', 'WaitForApproval', 'HandOver']));
    expect(output!.totalSeconds).toBeGreaterThanOrEqual(output!.stepSeconds.HandOver);
  });

  it("keeps the restored instance when the cutover fails after the hand-over, and fails with the cutover's name", async () => {
    const target = 'shop-pitr-cutover-rolled-back';
    const { result } = await run({
      input: { database: 'shop', restorePoint: 'latest', target, cutover: 'shop-api', runMigrations: false },
      cutover: () => Promise.reject(new LifelineError('CutoverRolledBack', 'the health URL failed; reverted')),
    });
    expect(result.error).toBe('CutoverRolledBack');
    expect(calls('DeleteDBInstance')).toEqual([]);
    expect(await instanceExists(target)).toBe(true);
  });

  it.each([
    [{ database: 'shop', restorePoint: 'yesterday' }, /restorePoint/],
    [{ database: 'shop', restorePoint: 'latest', target: '1-starts-with-a-digit' }, /target: must be letters/],
    [{ database: 'shop', restorePoint: 'latest', target: `x${'y'.repeat(63)}` }, /target: must be at most 63/],
    [{ database: 'nowhere', restorePoint: 'latest' }, /database: "nowhere" is not a configured database/],
    [{ database: 'shop', restorePoint: 'latest', cutover: 'billing-api' }, /cutover: "billing-api" is not a configured application/],
    [{ database: 'shop', restorePoint: 'latest', target: SOURCE }, /target: must contain "-pitr-"/],
    [
      { database: 'shop', restorePoint: 'latest', strategy: 'rename', cutover: 'shop-api' },
      /cutover: must be left out with strategy "rename"/,
    ],
    [
      { database: 'ledger', restorePoint: 'latest', strategy: 'rename' },
      /strategy: "rename" renames RDS instances; ledger is Aurora cluster/,
    ],
    [{ database: 'shop', restorePoint: 'latest', copyOnWrite: true }, /copyOnWrite: only an Aurora cluster can be cloned/],
    [
      { database: 'ledger', restorePoint: '2026-11-23T09:41:00Z', copyOnWrite: true },
      /copyOnWrite: a copy-on-write clone is of the latest/,
    ],
    [{ database: 'crowded', restorePoint: 'latest' }, /validateAs: database "crowded" has several applications \(a-api, b-api\)/],
    [
      { database: 'crowded', restorePoint: 'latest', cutover: 'c-api' },
      /cutover: "c-api" is not a configured application of database "crowded"/,
    ],
  ])('ends a bad input %j with InvalidInput naming the field, with no call to RDS', async (input, cause) => {
    const { result } = await run({ input });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidInput');
    expect(errorMessage(result.cause)).toMatch(cause);
    expect(sent).toEqual([]);
  });

  it('clones the Aurora cluster copy-on-write at its latest restorable time, naming its cluster parameter group', async () => {
    const target = 'ledger-pitr-clone';
    const { result, output } = await run({ input: { database: 'ledger', restorePoint: 'latest', target, copyOnWrite: true } });
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(calls('RestoreDBClusterToPointInTime')[0]!.input).toMatchObject({
      SourceDBClusterIdentifier: CLUSTER_SOURCE,
      DBClusterIdentifier: target,
      RestoreType: 'copy-on-write',
      UseLatestRestorableTime: true,
      // Without it, a clone gets the default cluster parameter group.
      DBClusterParameterGroupName: 'ledger-cluster-params',
    });
    expect(output).toMatchObject({ copyOnWrite: true, strategy: 'new-identifier' });
  });

  it('refuses a 16th copy-on-write clone of a source, before anything is created', async () => {
    const setup = new RDSClient(moto.clientConfig);
    cloneGroups[CLUSTER_SOURCE] = 'clone-group-1';
    // Fifteen clones in the source's clone group already (created here as clusters moto reports in it).
    for (let i = 0; i < 15; i++) {
      const id = `ledger-clone-${i}`;
      cloneGroups[id] = 'clone-group-1';
      await setup.send(
        new CreateDBClusterCommand({
          DBClusterIdentifier: id,
          Engine: 'aurora-postgresql',
          MasterUsername: 'x',
          MasterUserPassword: 'password-1',
        }),
      );
    }
    const { result } = await run({
      input: { database: 'ledger', restorePoint: 'latest', target: 'ledger-pitr-clone-16', copyOnWrite: true },
    });
    expect(result.error).toBe('InvalidInput');
    expect(result.cause).toContain("ledger-production has 15 copy-on-write clones already, Aurora's most (15)");
    expect(changes()).toEqual([]);
    // One clone fewer: the clone goes ahead.
    delete cloneGroups['ledger-clone-14'];
    sent = [];
    const second = await run({ input: { database: 'ledger', restorePoint: 'latest', target: 'ledger-pitr-clone-15', copyOnWrite: true } });
    expect(second.result.status, second.result.cause).toBe('SUCCEEDED');
  });

  /** The renamed instance unavailable for its first `looks` looks under its new name (RDS: until DNS resolves). */
  function renamingFor(looks: Record<string, number>, restoredTag: () => string) {
    const seen: Record<string, number> = {};
    return (identifier: string, instance: Record<string, any>) => {
      const restoredAtSource =
        identifier === SOURCE &&
        (instance.TagList as { Key: string; Value: string }[]).some((t) => t.Key === PITR_EXECUTION_TAG && t.Value === restoredTag());
      const key = restoredAtSource ? 'restored' : identifier.includes('-pitr-aside-') ? 'aside' : undefined;
      if (key === undefined || looks[key] === undefined) return undefined;
      seen[key] = (seen[key] ?? 0) + 1;
      return seen[key] <= looks[key] ? 'renaming' : undefined;
    };
  }

  /** The source back under its identifier and the restore deleted, after a test that left the restore in its place. */
  async function putSourceBack(aside: string, restoredAs: string) {
    const setup = new RDSClient(moto.clientConfig);
    await setup.send(
      new ModifyDBInstanceCommand({ DBInstanceIdentifier: SOURCE, NewDBInstanceIdentifier: restoredAs, ApplyImmediately: true }),
    );
    await setup.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: aside, NewDBInstanceIdentifier: SOURCE, ApplyImmediately: true }));
  }

  it("renames the source aside and gives the approved restore its identifier (strategy rename), through the rename's unavailability", async () => {
    const target = 'shop-pitr-renamed';
    const before = (await new RDSClient(moto.clientConfig).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: SOURCE })))
      .DBInstances![0]!;
    let executionArn = '';
    renameHook = renamingFor({ aside: 1, restored: 1 }, () => executionArn);
    const { result, output, approvals } = await run({
      input: { database: 'shop', restorePoint: 'latest', target, strategy: 'rename' },
      answer: (request) => {
        executionArn = request.executionArn;
        return approve(request);
      },
    });
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(approvals).toHaveLength(1);
    const aside = output!.rename.aside as string;
    expect(aside).toMatch(/^shop-production-pitr-aside-\d{14}$/);
    try {
      // The source first, once available; the restore once the source's new name was available.
      expect(changes().map((c) => [c.command, c.input.DBInstanceIdentifier, c.input.NewDBInstanceIdentifier])).toEqual([
        ['RestoreDBInstanceToPointInTimeCommand', undefined, undefined],
        ['ModifyDBInstanceCommand', target, undefined],
        ['ModifyDBInstanceCommand', SOURCE, aside],
        ['ModifyDBInstanceCommand', target, SOURCE],
      ]);
      expect(
        calls('ModifyDBInstance')
          .slice(1)
          .every((c) => c.input.ApplyImmediately === true),
      ).toBe(true);
      // Under the source's identifier now: the restore; the source waits aside, unchanged.
      const setup = new RDSClient(moto.clientConfig);
      const now = (await setup.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: SOURCE }))).DBInstances![0]!;
      expect(now.TagList).toContainEqual({ Key: PITR_EXECUTION_TAG, Value: result.executionArn });
      const asideNow = (await setup.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: aside }))).DBInstances![0]!;
      expect(asideNow.DbiResourceId).toBe(before.DbiResourceId);
      expect(await instanceExists(target)).toBe(false);
      expect(result.states.filter((s) => s === 'RenameIn').length).toBeGreaterThanOrEqual(4);
      expect(output).toMatchObject({
        strategy: 'rename',
        rename: { source: SOURCE, aside, renamed: [`${SOURCE} -> ${aside}`, `${target} -> ${SOURCE}`] },
        approver: 'arn:aws:sts::000000000000:assumed-role/oncall/alice',
      });
      expect(Object.keys(output!.stepSeconds)).toEqual(expect.arrayContaining(['WaitForApproval', 'Rename']));
      expect(output!.totalSeconds).toBeGreaterThanOrEqual(output!.recoveryWallSeconds);
      expect(output!.message).toContain(`${target} took ${SOURCE}'s identifier and endpoint; the source is ${aside}.`);
    } finally {
      await putSourceBack(aside, 'shop-pitr-renamed-kept');
    }
  });

  it('renames back when the rename does not finish in time, then deletes the restore: the source under its identifier again', async () => {
    const target = 'shop-pitr-rename-rolled-back';
    const before = (await new RDSClient(moto.clientConfig).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: SOURCE })))
      .DBInstances![0]!;
    let executionArn = '';
    // Under the source's identifier the restore stays unavailable past the bound of looks (5).
    renameHook = renamingFor({ aside: 1, restored: 4 }, () => executionArn);
    const { result, notifications } = await run({
      input: { database: 'shop', restorePoint: 'latest', target, strategy: 'rename' },
      answer: (request) => {
        executionArn = request.executionArn;
        return approve(request);
      },
    });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('PitrTimedOut');
    expect(result.states).toContain('RenameBack');
    const renames = calls('ModifyDBInstance')
      .filter((c) => c.input.NewDBInstanceIdentifier)
      .map((c) => `${c.input.DBInstanceIdentifier} -> ${c.input.NewDBInstanceIdentifier}`);
    const aside = renames[0]!.split(' -> ')[1]!;
    expect(renames).toEqual([`${SOURCE} -> ${aside}`, `${target} -> ${SOURCE}`, `${SOURCE} -> ${target}`, `${aside} -> ${SOURCE}`]);
    // The restore back under its own name, then deleted; the source under its identifier, the same instance.
    expect(calls('DeleteDBInstance').map((c) => c.input.DBInstanceIdentifier)).toEqual([target]);
    const now = (await new RDSClient(moto.clientConfig).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: SOURCE })))
      .DBInstances![0]!;
    expect(now.DbiResourceId).toBe(before.DbiResourceId);
    expect(await instanceExists(aside)).toBe(false);
    expect(notifications.at(-1)!.message).toContain(
      `Renamed back (${SOURCE} -> ${target}, ${aside} -> ${SOURCE}): ${SOURCE} is the source again.`,
    );
  });
});
