import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createRequire } from 'node:module';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup, type BackupResult } from '../../lambdas/core/backup.js';
import { fromRdsSecret, fromUrl } from '../../lambdas/core/connection.js';
import { createS3Client } from '../../lambdas/core/s3.js';
import { readSecretString } from '../../lambdas/core/secrets.js';
import { CutoverInput } from '../../lambdas/core/workflows/cutover-input.js';
import {
  inProcessTask,
  loadDefinition,
  runLocalExecution,
  type CallbackAnswer,
  type CallbackRequest,
  type Notification,
} from '../../lambdas/core/workflows/local.js';
import { exitCodeFor, RestoreJob, runRestoreJob } from '../../lambdas/core/workflows/restore-job.js';
import type { RestoreSettings } from '../../lambdas/core/workflows/restore-state.js';
import { createRichDatabase, RICH_DATABASE_LATEST_MIGRATION } from '../support/fixture.js';
import { sharedPostgres, sharedS3 } from '../support/shared.js';

const DEFINITION = 'state-machines/restore.asl.json';
const STEPS_FUNCTION = 'arn:aws:lambda:us-east-1:000000000000:function:lifeline-restore-steps';
const SUBSTITUTIONS = {
  RestoreStepsFunctionArn: STEPS_FUNCTION,
  RunnerClusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/lifeline-runner',
  RunnerTaskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/lifeline-runner:1',
  ApprovalsTopicArn: 'arn:aws:sns:us-east-1:000000000000:lifeline-approvals',
  NotificationsTopicArn: 'arn:aws:sns:us-east-1:000000000000:lifeline-notifications',
};
/** The server's admin secret: the configured database's secret, so also the default target's server. */
const ADMIN_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:lifeline/shop-admin-AbC123';
/** shop-api's connection secret. It connects as the admin user until runRestore can restore as a role. */
const APP_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:shop-api/connection-DeF456';

const EARLIER_BACKUP_AT = '2026-01-15T08:00:00.000Z';

const pg = sharedPostgres();
const s3 = sharedS3();
const secrets = mockClient(SecretsManagerClient);

/** As the runner resolves secrets: Secrets Manager (mocked here), RDS secret JSON. */
async function connectionFromSecret(secretArn: string) {
  return fromRdsSecret(await readSecretString(new SecretsManagerClient({}), secretArn), { database: 'postgres' });
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
    const validate = createRequire(import.meta.url)('asl-validator') as (definition: unknown) => {
      isValid: boolean;
      errorsText(separator: string): string;
    };
    const definition = await loadDefinition(DEFINITION, SUBSTITUTIONS);
    const result = validate(definition);
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
    // The same check refuses a transition to a state that does not exist.
    const broken = structuredClone(definition);
    (broken.States.ResolveBackup as { Next: string }).Next = 'Nowhere';
    expect(validate(broken).isValid).toBe(false);
  });

  it('sends every failure after the input is valid to Cleanup, and ends with the name Cleanup gives', async () => {
    const definition = await loadDefinition(DEFINITION, SUBSTITUTIONS);
    for (const name of ['ResolveBackup', 'CreateTarget', 'RunRestore', 'ValidateRestore', 'WaitForApproval']) {
      const state = definition.States[name] as { Catch: { ErrorEquals: string[]; Next: string }[] };
      expect(state.Catch.find((c) => c.ErrorEquals.includes('States.ALL'))?.Next, name).toBe('Cleanup');
    }
    expect(definition.States.Failed).toEqual({ Type: 'Fail', ErrorPath: '$.failure.error', CausePath: '$.failure.cause' });
    expect('Catch' in definition.States.ValidateInput!).toBe(false);
  });

  it('refuses a placeholder without a value', async () => {
    const { RunnerClusterArn: _, ...withoutCluster } = SUBSTITUTIONS;
    await expect(loadDefinition(DEFINITION, withoutCluster)).rejects.toThrow(/no value for \$\{RunnerClusterArn\}/);
  });
});

describe('the restore workflow run locally against PostgreSQL and the S3-compatible server', () => {
  let source: string;
  let bucket: string;
  let backup: BackupResult;
  let earlier: BackupResult;
  let settings: RestoreSettings;
  let stepsHandler: (event: unknown) => Promise<unknown>;
  const created: string[] = [];

  beforeAll(async () => {
    source = await pg.createDatabase('restore_wf_source');
    await createRichDatabase(pg, source);
    bucket = await s3.createBucket('restore-workflow');
    const backUp = (now?: () => Date) =>
      runBackup({
        connection: fromUrl(pg.url(source)),
        database: 'shop',
        bucket,
        s3: s3.client,
        trigger: 'manual',
        tier: 'auto',
        timeZone: 'UTC',
        now,
      });
    // An older backup, taken before a row was added, for the restore at a point in time.
    earlier = await backUp(() => new Date(EARLIER_BACKUP_AT));
    await pg.query(source, "INSERT INTO app.constants (name) VALUES ('added after the earlier backup')");
    backup = await backUp();
    const secret = JSON.stringify({ host: pg.host, port: pg.port, username: pg.user, password: pg.password, dbname: source });
    secrets
      .on(GetSecretValueCommand, { SecretId: ADMIN_SECRET })
      .resolves({ ARN: ADMIN_SECRET, Name: 'lifeline/shop-admin', SecretString: secret });
    secrets
      .on(GetSecretValueCommand, { SecretId: APP_SECRET })
      .resolves({ ARN: APP_SECRET, Name: 'shop-api/connection', SecretString: secret });
    settings = {
      bucket,
      approvalTimeoutSeconds: 1,
      runnerVcpus: 2,
      databases: [{ name: 'shop', secretArn: ADMIN_SECRET, runner: { subnetIds: ['subnet-0a1b2c3d'], securityGroupIds: ['sg-0a1b2c3d'] } }],
      applications: [{ name: 'shop-api', database: 'shop', connectionSecretArn: APP_SECRET }],
    };
    // The real Lambda handler, configured as the stack configures it.
    process.env.AWS_ENDPOINT_URL_S3 = s3.endpoint;
    process.env.LIFELINE_RESTORE_SETTINGS = JSON.stringify(settings);
    ({ handler: stepsHandler } = await import('../../lambdas/restore/handler.js'));
  });

  afterAll(async () => {
    for (const name of created) await pg.query('postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    secrets.reset();
  });

  interface Run {
    input: unknown;
    answer?: (request: CallbackRequest) => Promise<CallbackAnswer>;
    /** The runner's VAULT_BUCKET. */
    vaultBucket?: string;
    /** What happens in the runner after the restore job (a runner that dies midway). */
    afterJob?: () => Promise<void>;
  }

  async function run({ input, answer, vaultBucket = bucket, afterJob }: Run) {
    const notifications: Notification[] = [];
    const requests: CallbackRequest[] = [];
    const vault = createS3Client({ endpoint: s3.endpoint });
    const result = await runLocalExecution({
      definitionFile: DEFINITION,
      substitutions: SUBSTITUTIONS,
      input,
      functions: { [STEPS_FUNCTION]: stepsHandler },
      tasks: {
        // ECS cannot run here: the runner's job runs in this process, answered in runTask.sync's shape.
        RunRestore: inProcessTask(async (environment) => {
          const job = RestoreJob.parse(JSON.parse(environment.LIFELINE_RESTORE_JOB!));
          await runRestoreJob(job, { s3: vault, bucket: vaultBucket, connection: connectionFromSecret });
          await afterJob?.();
        }, exitCodeFor),
      },
      notify: (notification) => notifications.push(notification),
      answer: async (request) => {
        requests.push(request);
        if (!answer) throw new Error('no approval expected');
        return answer(request);
      },
    });
    return { ...result, notifications, requests };
  }

  const approve = (): Promise<CallbackAnswer> =>
    Promise.resolve({
      output: {
        approver: 'arn:aws:sts::000000000000:assumed-role/oncall/alice',
        comment: 'counts look right',
        decidedAt: new Date().toISOString(),
      },
    });
  const reject = (reason: string) => (): Promise<CallbackAnswer> => Promise.resolve({ error: 'Rejected', cause: reason });

  it('fails a bad input in ValidateInput, naming the field, with nothing created or notified', async () => {
    const before = await databases();
    for (const [input, field] of [
      [{ database: 'shop', colour: 'red' }, /Unrecognized key: \\"colour\\"/],
      [{ database: 'billing' }, /database: \\"billing\\" is not a configured database \(configured: shop\)/],
      [{ database: 'shop', cutover: 'billing-api' }, /cutover: \\"billing-api\\" is not a configured application/],
      [{ database: 'shop', key: backup.key, at: '2026-01-01T00:00:00Z' }, /at: give key or at, not both/],
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

  it('restores {"database": "shop"} into shop_restored_<UTC minute>, validated, without asking anyone', async () => {
    const result = await run({ input: { database: 'shop' } });
    const output = result.output as any;
    if (output?.target?.database) created.push(output.target.database);
    expect(result.error ?? null, result.cause).toBeNull();
    expect(result.status).toBe('SUCCEEDED');
    expect(result.states).not.toContain('WaitForApproval');
    expect(result.requests).toEqual([]);

    expect(output.target.database).toMatch(/^shop_restored_\d{12}$/);
    expect(output.backup).toEqual({
      key: backup.key,
      takenAt: backup.manifest.startedAt,
      bytes: backup.bytes,
      migration: backup.manifest.latestMigration,
    });
    expect(output.backup.migration.name).toBe(RICH_DATABASE_LATEST_MIGRATION);
    expect(output.validation.passed).toBe(true);
    expect(output.validation.migration).toMatchObject({ ok: true, checked: true, actual: { name: RICH_DATABASE_LATEST_MIGRATION } });
    expect(output.validation.tables).toHaveLength(backup.manifest.tables.length);
    expect(output.approver).toBeNull();
    expect(output.handOver).toBeNull();
    expect(Object.keys(output.stepSeconds)).toEqual(['ValidateInput', 'ResolveBackup', 'CreateTarget', 'RunRestore', 'ValidateRestore']);
    expect(output.restoreWallSeconds).toBeGreaterThan(0);
    expect(output.restoreWallSeconds).toBeGreaterThanOrEqual(output.stepSeconds.RunRestore);

    // The restored rows are the source's.
    const count = `SELECT count(*)::int AS n FROM "Billing"."InvoiceLine"`;
    expect(await pg.query(output.target.database, count)).toEqual(await pg.query(source, count));
    expect(result.notifications.map((n) => n.state)).toEqual(['Notify']);
    expect(result.notifications[0]!.subject).toBe(`Lifeline: shop restored into ${output.target.database}`);
    expect(result.notifications[0]!.message).toContain('passed validation');
  });

  it('asks for approval with the report and the exact commands, then hands over to cutover', async () => {
    const target = `shop_cutover_${Date.now()}`;
    created.push(target);
    const result = await run({ input: { database: 'shop', cutover: 'shop-api', target: { database: target } }, answer: approve });
    expect(result.error ?? null, result.cause).toBeNull();
    expect(result.status).toBe('SUCCEEDED');

    expect(result.requests).toHaveLength(1);
    const [request] = result.requests;
    const published = result.notifications.find((n) => n.state === 'WaitForApproval')!;
    expect(published.topicArn).toBe(SUBSTITUTIONS.ApprovalsTopicArn);
    expect(published.message).toMatchObject({
      approve: `lifeline approve ${result.executionArn} --comment "..."`,
      reject: `lifeline reject ${result.executionArn} --reason "..."`,
      executionArn: result.executionArn,
      taskToken: request!.token,
      timeoutSeconds: 1,
      report: { passed: true },
    });
    expect((published.message as any).question).toMatch(/Approve to switch the application shop-api to shop_cutover_/);

    const output = result.output as any;
    expect(output.approver).toBe('arn:aws:sts::000000000000:assumed-role/oncall/alice');
    expect(output.approvalComment).toBe('counts look right');
    expect(output.stepSeconds.WaitForApproval).toBeGreaterThanOrEqual(0);
    expect(CutoverInput.parse(output.handOver)).toEqual({
      application: 'shop-api',
      database: { serverSecretArn: ADMIN_SECRET, name: target },
      freezeWrites: false,
      origin: { workflow: 'restore', executionArn: result.executionArn, backupKey: backup.key },
      approval: { approver: output.approver, comment: 'counts look right', decidedAt: expect.any(String) },
    });
    expect(await databaseExists(target)).toBe(true);
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
    const result = await run({
      input: {
        database: 'shop',
        target: { database: target },
        smokeChecks: [
          { name: 'accounts exist', sql: 'SELECT count(*) > 0 FROM app.accounts' },
          { name: 'no closed accounts', sql: "SELECT count(*) = 0 FROM app.accounts WHERE status = 'closed'" },
        ],
      },
    });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('VerificationFailed');
    expect(result.cause).toMatch(/smoke check "no closed accounts" returned false, not true/);
    expect(result.cause).not.toMatch(/accounts exist/);
    expect(await databaseExists(target)).toBe(false);
  });

  it('never restores into the source database, and leaves it as it was', async () => {
    const before = await pg.query(source, 'SELECT count(*)::int AS n FROM app.accounts');
    const result = await run({ input: { database: 'shop', target: { database: source } } });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidInput');
    expect(result.cause).toMatch(new RegExp(`target.database: "${source}" is the source of backup`));
    expect(result.states).not.toContain('RunRestore');
    expect(await pg.query(source, 'SELECT count(*)::int AS n FROM app.accounts')).toEqual(before);
  });

  it('refuses a target that exists with tables, and leaves it as it was', async () => {
    const occupied = await pg.createDatabase('shop_occupied');
    created.push(occupied);
    await pg.query(occupied, 'CREATE TABLE notes (body text); INSERT INTO notes VALUES ($$keep me$$)');
    const result = await run({ input: { database: 'shop', target: { database: occupied } } });
    expect(result.error).toBe('InvalidInput');
    expect(result.cause).toMatch(/already exists and holds tables \(public\.notes\)/);
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
});
