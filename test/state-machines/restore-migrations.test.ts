import { CreateSecretCommand, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupResult } from '../../lambdas/core/backup/pipeline.js';
import { migrationsTargetSecretName, restoreCatalogPath } from '../../lambdas/core/names.js';
import type { RestoreDatabase } from '../../lambdas/core/restore/catalog.js';
import { RELEASED_TARGET_SECRET } from '../../lambdas/core/restore/migrations.js';
import type { RestoreSettings, ValidationReport } from '../../lambdas/core/restore/state.js';
import { createS3Client } from '../../lambdas/core/vault/s3.js';
import { localExecution } from '../../lambdas/core/workflows/local-executions.js';
import { inProcessTask, runLocalExecution, type Json, type LambdaHandler } from '../../lambdas/core/workflows/local.js';
import { startMoto, type MotoServer } from '../support/moto.js';
import { PRISMA_MIGRATIONS_TABLE } from '../support/migration-tables.js';
import { connectPostgres } from '../support/postgres.js';
import { backUp, sharedPostgres, sharedS3 } from '../support/shared.js';
import {
  APPROVAL_FUNCTIONS,
  RESTORE_NETWORK_STEPS_FUNCTION,
  RESTORE_STEPS_FUNCTION,
  RESTORE_SUBSTITUTIONS,
  restoreRunnerInProcess,
} from '../support/workflows.js';

/**
 * The application's migrations on a restore it is cut over to (runbook database-recovery step 4: `prisma migrate
 * deploy` against the restored database), through the real restore.asl.json: Secrets Manager and SSM are moto's; ECS
 * is played as it runs the migrations task definition: it reads DATABASE_URL from the target secret when the task
 * starts and runs the command (psql standing in for Prisma, recording in `_prisma_migrations` as Prisma does).
 */

const LABEL = 'migshop';
const RESTORE_STATE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:lifeline-restore';
const TARGET_SECRET = migrationsTargetSecretName('lifeline', 'shop-api');
/** A migration as Prisma applies one: its row started, its SQL, its row finished; a failure leaves the row unfinished with its log. */
const applyAsPrisma = (name: string, sql: string) => `
  INSERT INTO _prisma_migrations (id, checksum, migration_name) VALUES ('${randomUUID()}', '${'c'.repeat(64)}', '${name}');
  UPDATE _prisma_migrations SET logs = 'ERROR: what the migration failed with' WHERE migration_name = '${name}';
  ${sql};
  UPDATE _prisma_migrations SET finished_at = now(), logs = NULL, applied_steps_count = 1 WHERE migration_name = '${name}';`;

const pg = sharedPostgres();
const s3 = sharedS3();
/** Step Functions answers DescribeExecution from the local engine's record, and for the executions a test invents. */
const sfn = mockClient(SFNClient);
const otherExecutions = new Map<string, string>();
const appRole = `mig_app_${randomBytes(4).toString('hex')}`;
const appPassword = randomBytes(18).toString('base64url');

let moto: MotoServer;
let secrets: SecretsManagerClient;
let source: string;
let bucket: string;
let backup: BackupResult;
let restoreSteps: LambdaHandler;
let scripts: string;

beforeAll(async () => {
  await pg.query('postgres', `CREATE ROLE ${appRole} LOGIN PASSWORD '${appPassword}'`);
  source = await pg.createDatabase('migrations_source');
  await pg.query('postgres', `ALTER DATABASE "${source}" OWNER TO ${appRole}`);
  const asApp = connectPostgres({ host: pg.host, port: pg.port, user: appRole, password: appPassword });
  await asApp.query(
    source,
    `${PRISMA_MIGRATIONS_TABLE}; CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 50)`,
  );
  await asApp.query(source, applyAsPrisma('20261101090000_init', 'SELECT 1'));
  bucket = await s3.createBucket('restore-migrations');
  backup = await backUp(pg, s3, { source, label: LABEL, bucket, now: () => new Date('2026-11-23T10:00:00.000Z') });

  moto = await startMoto();
  secrets = new SecretsManagerClient(moto.clientConfig);
  const secret = async (Name: string, value: unknown) =>
    (await secrets.send(new CreateSecretCommand({ Name, SecretString: typeof value === 'string' ? value : JSON.stringify(value) }))).ARN!;
  const adminSecret = await secret('lifeline/migshop-admin', { username: pg.user, password: pg.password });
  // The application keeps a URL, with a parameter of its own that its migrations must see too.
  const appSecret = await secret(
    'shop-api/connection',
    `postgresql://${appRole}:${appPassword}@${pg.host}:${pg.port}/${source}?sslmode=disable&application_name=shop-api`,
  );
  await secret(TARGET_SECRET, RELEASED_TARGET_SECRET);
  const database: RestoreDatabase = {
    name: LABEL,
    secretArn: adminSecret,
    host: pg.host,
    port: pg.port,
    databaseName: source,
    rds: { instanceIdentifier: LABEL },
    network: 'private',
    stepsFunctionArn: RESTORE_NETWORK_STEPS_FUNCTION,
    runner: { taskDefinition: 'lifeline-restore-runner-1', subnetIds: ['subnet-0a1b2c3d'], securityGroupIds: ['sg-0a1b2c3d'] },
    applications: [
      {
        name: 'shop-api',
        connectionSecretArn: appSecret,
        migrations: {
          taskDefinition: 'lifeline-migrations-shop-api',
          targetSecret: TARGET_SECRET,
          timeoutSeconds: 600,
          command: ['npx', 'prisma', 'migrate', 'deploy'],
        },
      },
    ],
  };
  await new SSMClient(moto.clientConfig).send(
    new PutParameterCommand({ Name: `${restoreCatalogPath('lifeline', 1)}/${LABEL}`, Value: JSON.stringify(database), Type: 'String' }),
  );
  const settings: RestoreSettings = { deployment: 'lifeline', backupStacks: 1, bucket, approvalTimeoutSeconds: 60, runnerVcpus: 2 };
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: moto.endpoint,
    AWS_ENDPOINT_URL_SSM: moto.endpoint,
    AWS_REGION: 'us-east-1',
    LIFELINE_RESTORE_SETTINGS: JSON.stringify(settings),
  });
  ({ handler: restoreSteps } = await import('../../lambdas/restore/handler.js'));
  sfn.on(DescribeExecutionCommand).callsFake(({ executionArn }: { executionArn: string }) => {
    const status = otherExecutions.get(executionArn) ?? localExecution(executionArn)?.status;
    if (!status) throw Object.assign(new Error(`Execution Does Not Exist: '${executionArn}'`), { name: 'ExecutionDoesNotExist' });
    return { executionArn, stateMachineArn: RESTORE_STATE_MACHINE, status, startDate: new Date() };
  });
  scripts = await mkdtemp(join(tmpdir(), 'lifeline-migrations-'));
});

afterAll(async () => {
  const targets = await pg.query<{ datname: string }>(
    'postgres',
    `SELECT datname FROM pg_database WHERE datname LIKE '${LABEL}_restored_%'`,
  );
  for (const name of [source, ...targets.map((row) => row.datname)])
    await pg.query('postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await pg.query('postgres', `DROP ROLE IF EXISTS ${appRole}`);
  await moto?.stop();
  sfn.reset();
  if (scripts) await rm(scripts, { recursive: true, force: true });
});

interface MigrationsRun {
  /** The DATABASE_URL the task read from its secret when it started. */
  url: string;
  /** RunMigrations' parameters, as ECS received them. */
  parameters: Json;
}

/**
 * Runs a restore of the backup cut over to shop-api with `input`, ECS running `sql` as the migrations command
 * (`beforeStart` acts just before the task reads its secret), and rejects it at the approval after noting what
 * the restored database holds then. Returns the run, the validation report, and what the approval saw.
 */
async function restoreWithMigrations(
  sql: string,
  input: Record<string, unknown> = {},
  beforeStart?: () => Promise<void>,
  /** A step whose function fails, as a Lambda that crashed before doing anything. */
  crashing?: string,
) {
  const file = join(scripts, `${randomBytes(4).toString('hex')}.sql`);
  await writeFile(file, sql);
  const runs: MigrationsRun[] = [];
  const steps: string[] = [];
  let report: ValidationReport | undefined;
  let atApproval: { columns: string[]; migrations: string[] } | undefined;
  const vault = createS3Client({ endpoint: s3.endpoint });
  const recorded: LambdaHandler = async (event, context) => {
    steps.push((event as { step: string }).step);
    if ((event as { step: string }).step === crashing) throw Object.assign(new Error('Runtime exited'), { name: 'Runtime.ExitError' });
    const result = await restoreSteps(event, context);
    if ((event as { step: string }).step === 'validateRestore') report = result as ValidationReport;
    return result;
  };
  const result = await runLocalExecution({
    definitionFile: 'state-machines/restore.asl.json',
    substitutions: RESTORE_SUBSTITUTIONS,
    input: { database: LABEL, key: backup.key, cutover: 'shop-api', ...input },
    functions: { [RESTORE_STEPS_FUNCTION]: recorded, [RESTORE_NETWORK_STEPS_FUNCTION]: recorded, ...APPROVAL_FUNCTIONS },
    tasks: {
      RunRestore: restoreRunnerInProcess(vault, bucket),
      // ECS starts the task: the execution role resolves the secret's DATABASE_URL key, and the container runs the command.
      RunMigrations: async (parameters) => {
        await beforeStart?.();
        const value = await secrets.send(new GetSecretValueCommand({ SecretId: TARGET_SECRET }));
        const url = (JSON.parse(value.SecretString!) as { DATABASE_URL: string }).DATABASE_URL;
        runs.push({ url, parameters });
        return inProcessTask(
          () => runCommand(['sh', '-c', 'exec psql -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f "$0"', file], { DATABASE_URL: url }),
          (error) => (error as { exitCode: number }).exitCode,
        )(parameters);
      },
    },
    notify: () => undefined,
    answer: async () => {
      const target = (
        await pg.query<{ datname: string }>('postgres', `SELECT datname FROM pg_database WHERE datname LIKE '${LABEL}_restored_%'`)
      )[0]!.datname;
      atApproval = {
        columns: (
          await pg.query<{ name: string }>(
            target,
            "SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'orders' ORDER BY 1",
          )
        ).map((r) => r.name),
        migrations: (
          await pg.query<{ name: string }>(
            target,
            'SELECT migration_name AS name FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY 1',
          )
        ).map((r) => r.name),
      };
      return { error: 'Rejected', cause: 'seen enough' };
    },
    retryIntervals: { Cleanup: 0, PrepareMigrations: 0 },
  });
  const remaining = await pg.query<{ datname: string }>(
    'postgres',
    `SELECT datname FROM pg_database WHERE datname LIKE '${LABEL}_restored_%'`,
  );
  const held = JSON.parse((await secrets.send(new GetSecretValueCommand({ SecretId: TARGET_SECRET }))).SecretString!);
  return { result, runs, steps, report, atApproval, remaining: remaining.map((r) => r.datname), held };
}

/** Runs `command` with `env` added; rejects with its exit code as a task's container would end. */
function runCommand(command: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(Object.assign(new Error(stderr), { exitCode: code ?? 1 }))));
  });
}

describe('a restore cut over to an application with migrations, through the real restore.asl.json', () => {
  it("runs them on the restored database before validating it, DATABASE_URL only in the task's secret, and reports what they applied", async () => {
    const { result, runs, report, atApproval, remaining, held } = await restoreWithMigrations(
      applyAsPrisma('20261201090000_add_note', 'ALTER TABLE orders ADD COLUMN note text'),
    );
    expect(result.states.slice(result.states.indexOf('RunRestore'), result.states.indexOf('ValidateRestore') + 1)).toEqual([
      'RunRestore',
      'PrepareMigrations',
      'MigrationsToRun',
      'RunMigrations',
      'ConcludeMigrations',
      'ValidateRestore',
    ]);
    // The task read the restored database's URL, as the application's role with the application's own parameters.
    expect(runs).toHaveLength(1);
    const url = new URL(runs[0]!.url);
    expect(url.pathname).toMatch(new RegExp(`^/${LABEL}_restored_`));
    expect(decodeURIComponent(url.username)).toBe(appRole);
    expect(url.searchParams.get('application_name')).toBe('shop-api');
    // Nothing of it in what ECS was sent: no overrides at all.
    expect(runs[0]!.parameters).toMatchObject({ TaskDefinition: 'lifeline-migrations-shop-api', LaunchType: 'FARGATE' });
    expect(JSON.stringify(runs[0]!.parameters)).not.toContain(appPassword);
    expect((runs[0]!.parameters as Record<string, unknown>).Overrides).toBeUndefined();
    // The restore was migrated, the source not; the report says what ran and expects the newest migration.
    expect(atApproval).toEqual({ columns: ['id', 'note'], migrations: ['20261101090000_init', '20261201090000_add_note'] });
    const sourceColumns = await pg.query<{ name: string }>(
      source,
      "SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'orders'",
    );
    expect(sourceColumns.map((r) => r.name)).toEqual(['id']);
    expect(report!.passed).toBe(true);
    expect(report!.migrations).toEqual({
      application: 'shop-api',
      command: ['npx', 'prisma', 'migrate', 'deploy'],
      applied: [{ tool: 'prisma', name: '20261201090000_add_note' }],
    });
    expect(report!.migration).toMatchObject({ ok: true, expected: { tool: 'prisma', name: '20261201090000_add_note' } });
    expect(report!.summary).toContain('the newest of the 1 the migrations applied');
    // Rejected: the restore is dropped, and the target secret released, holding no URL.
    expect(result).toMatchObject({ status: 'FAILED', error: 'Rejected' });
    expect(remaining).toEqual([]);
    expect(held).toEqual({ released: true, execution: result.executionArn });
  });

  it('ends in Cleanup naming the migration Prisma recorded as failed, drops the restore and releases the secret', async () => {
    const { result, report, remaining, held, steps } = await restoreWithMigrations(
      applyAsPrisma('20261202090000_add_index', 'CREATE INDEX orders_note ON orders (no_such_column)'),
    );
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('MigrationsFailed');
    expect(result.cause).toMatch(
      /the migrations of shop-api \(npx prisma migrate deploy\) exited with code 3 on migshop_restored_\S+: Prisma migration 20261202090000_add_index failed: ERROR: what the migration failed with/,
    );
    expect(result.states).toContain('MigrationsFailed');
    expect(result.states).not.toContain('ValidateRestore');
    expect(report).toBeUndefined();
    expect(steps).toContain('cleanup');
    expect(remaining).toEqual([]);
    expect(held).toEqual({ released: true, execution: result.executionArn });
  });

  it('waits while another running restore holds the target secret, and goes on once that one has ended', async () => {
    const other = `${RESTORE_STATE_MACHINE.replace(':stateMachine:', ':execution:')}:another-restore`;
    otherExecutions.set(other, 'RUNNING');
    await secrets.send(
      new PutSecretValueCommand({
        SecretId: TARGET_SECRET,
        SecretString: JSON.stringify({ DATABASE_URL: 'postgresql://elsewhere/other', execution: other }),
      }),
    );
    let refusals = 0;
    const original = restoreSteps;
    restoreSteps = async (event, context) => {
      try {
        return await original(event, context);
      } catch (error) {
        if ((error as Error).name === 'MigrationsBusy' && ++refusals === 2) otherExecutions.set(other, 'SUCCEEDED');
        throw error;
      }
    };
    try {
      const { result, runs, atApproval } = await restoreWithMigrations(
        applyAsPrisma('20261203090000_add_total', 'ALTER TABLE orders ADD COLUMN total int'),
      );
      expect(refusals).toBe(2);
      expect(runs).toHaveLength(1);
      expect(new URL(runs[0]!.url).pathname).toMatch(new RegExp(`^/${LABEL}_restored_`));
      expect(atApproval!.columns).toEqual(['id', 'total']);
      expect(result.error).toBe('Rejected');
    } finally {
      restoreSteps = original;
    }
  });

  it('trusts no run whose target secret another restore rewrote before its task started: it fails and drops the restore', async () => {
    const other = `${RESTORE_STATE_MACHINE.replace(':stateMachine:', ':execution:')}:racing-restore`;
    otherExecutions.set(other, 'RUNNING');
    const elsewhere = await pg.createDatabase('migrations_elsewhere');
    await pg.query('postgres', `ALTER DATABASE "${elsewhere}" OWNER TO ${appRole}`);
    await pg.query(elsewhere, `SET ROLE ${appRole}; ${PRISMA_MIGRATIONS_TABLE}; CREATE TABLE orders (id int)`);
    const racing = `postgresql://${appRole}:${appPassword}@${pg.host}:${pg.port}/${elsewhere}?sslmode=disable`;
    const { result, runs, remaining, report } = await restoreWithMigrations(
      applyAsPrisma('20261204090000_add_state', 'ALTER TABLE orders ADD COLUMN state text'),
      {},
      async () => {
        await secrets.send(
          new PutSecretValueCommand({ SecretId: TARGET_SECRET, SecretString: JSON.stringify({ DATABASE_URL: racing, execution: other }) }),
        );
      },
    );
    expect(new URL(runs[0]!.url).pathname).toBe(`/${elsewhere}`);
    expect(result.error).toBe('MigrationsFailed');
    expect(result.cause).toContain("was written by another restore while this one's migrations ran");
    expect(report).toBeUndefined();
    expect(remaining).toEqual([]);
    await pg.query('postgres', `DROP DATABASE "${elsewhere}" WITH (FORCE)`);
    await secrets.send(new PutSecretValueCommand({ SecretId: TARGET_SECRET, SecretString: RELEASED_TARGET_SECRET }));
  });

  it('releases the target secret in Cleanup when the run ends before ConcludeMigrations could', async () => {
    const { result, runs, held, remaining } = await restoreWithMigrations(
      applyAsPrisma('20261207090000_add_code', 'ALTER TABLE orders ADD COLUMN code text'),
      {},
      undefined,
      'concludeMigrations',
    );
    expect(runs).toHaveLength(1);
    expect(result.states.slice(-3)).toEqual(['Cleanup', 'NotifyFailure', 'Failed']);
    expect(remaining).toEqual([]);
    expect(held).toEqual({ released: true, execution: result.executionArn });
  });

  it('checks the rows as restored, before a data migration changes them, and passes', async () => {
    const { report, atApproval } = await restoreWithMigrations(
      applyAsPrisma('20261206090000_purge_old_orders', 'DELETE FROM orders WHERE id > 40'),
    );
    expect(atApproval!.migrations).toContain('20261206090000_purge_old_orders');
    // 50 orders restored, as the backup holds; the migration then deleted 10, which is its business.
    expect(report!.passed).toBe(true);
    expect(report!.tables).toMatchObject({ checked: 2, failed: 0 });
    expect(report!.summary).toContain("2 tables match the backup's row counts before the migrations");
    expect(report!.migrations!.applied).toEqual([{ tool: 'prisma', name: '20261206090000_purge_old_orders' }]);
  });

  it('leaves the restore as the backup holds it with runMigrations false', async () => {
    const { result, runs, report, atApproval } = await restoreWithMigrations(
      applyAsPrisma('20261205090000_add_flag', 'ALTER TABLE orders ADD COLUMN flag bool'),
      { runMigrations: false },
    );
    expect(runs).toEqual([]);
    expect(result.states).not.toContain('RunMigrations');
    expect(atApproval!.columns).toEqual(['id']);
    expect(report!.migrations).toBeNull();
    expect(report!.migration).toMatchObject({ ok: true, expected: { name: '20261101090000_init' } });
  });
});
