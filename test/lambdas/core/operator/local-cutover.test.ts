import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { putConnectionSecret, readSecretVersion, restoreSecretVersion } from '../../../../lambdas/core/cutover/secret.js';
import { answerDecision } from '../../../../lambdas/core/operator/approvals.js';
import { localSeal } from '../../../../lambdas/core/workflows/approval.js';
import { localSecretsManager } from '../../../../lambdas/core/operator/local-aws.js';
import { runCutoverLocally } from '../../../../lambdas/core/operator/local-cutover.js';
import { LocalLock } from '../../../../lambdas/core/operator/local-lock.js';
import { LocalSecretStore } from '../../../../lambdas/core/operator/local-secrets.js';
import { localSecretArn, type LocalRestoreSettings } from '../../../../lambdas/core/operator/local-settings.js';
import { LocalWorkloads } from '../../../../lambdas/core/operator/local-workloads.js';
import { freePort } from '../../../support/application.js';
import { runCli } from '../../../support/cli.js';
import { connectPostgres } from '../../../support/postgres.js';
import { sharedPostgres } from '../../../support/shared.js';

/** The local control planes of `lifeline run cutover --local`: a secret file, a process, a lock file; then the real cutover.asl.json on them. */

const SAMPLE_APPLICATION = fileURLToPath(new URL('../../../../lambdas/core/operator/sample-application.ts', import.meta.url));
const APP_SECRET = localSecretArn('application', 'shop-api');

const pg = sharedPostgres();
const role = `local_cutover_${randomBytes(4).toString('hex')}`;
const rolePassword = randomBytes(12).toString('hex');
const asApp = connectPostgres({ host: pg.host, port: pg.port, user: role, password: rolePassword });
const databases: string[] = [];
let directory: string;
let source: string;
let target: string;
/** A database of the role without the orders table the application's /health reads. */
let unusable: string;

const appUrl = (database: string) => `postgresql://${role}:${rolePassword}@${pg.host}:${pg.port}/${database}`;

async function ownedDatabase(prefix: string, orders: number | null): Promise<string> {
  const name = await pg.createDatabase(prefix);
  databases.push(name);
  await pg.query('postgres', `ALTER DATABASE "${name}" OWNER TO ${role}`);
  if (orders !== null)
    await asApp.query(name, `CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, ${orders})`);
  return name;
}

beforeAll(async () => {
  await pg.query('postgres', `CREATE ROLE ${role} LOGIN PASSWORD '${rolePassword}'`);
  source = await ownedDatabase('local_cutover_source', 3);
  target = await ownedDatabase('local_cutover_target', 5);
  unusable = await ownedDatabase('local_cutover_unusable', null);
  directory = await mkdtemp(join(tmpdir(), 'lifeline-local-cutover-'));
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
  for (const name of databases) await pg.query('postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await pg.query('postgres', `DROP ROLE IF EXISTS ${role}`);
});

describe('the local secret store', () => {
  it('keeps versions with staging labels: a swap writes the file, a revert puts the recorded version back in it', async () => {
    const file = join(directory, 'secret-store.json');
    await writeFile(file, JSON.stringify({ DATABASE_URL: appUrl(source), LOG_LEVEL: 'info' }));
    const secrets = localSecretsManager(new Map(), new LocalSecretStore([{ arn: APP_SECRET, file }], join(directory, 'store-state')));
    const recorded = await readSecretVersion(secrets, APP_SECRET);
    const next = JSON.stringify({ DATABASE_URL: appUrl(target), LOG_LEVEL: 'info' });
    const token = '6f1d2c3b-0000-4000-8000-000000000001';
    expect(await putConnectionSecret(secrets, APP_SECRET, recorded.versionId, token, next)).toBe(token);
    expect(await readFile(file, 'utf8')).toBe(next);
    // The same swap again (a retry) writes nothing new.
    expect(await putConnectionSecret(secrets, APP_SECRET, recorded.versionId, token, next)).toBe(token);
    expect(await restoreSecretVersion(secrets, APP_SECRET, recorded.versionId, token)).toEqual({ moved: true });
    expect(await readFile(file, 'utf8')).toBe(recorded.secretString);
    expect(await readSecretVersion(secrets, APP_SECRET)).toEqual(recorded);
    // A late swap under the same token is the same request as the first: it writes nothing, and the file stays reverted.
    await putConnectionSecret(secrets, APP_SECRET, recorded.versionId, token, next);
    expect(await readFile(file, 'utf8')).toBe(recorded.secretString);
  });

  it('takes a file changed by hand as a new current version, so a swap recorded before it refuses to write', async () => {
    const file = join(directory, 'secret-by-hand.txt');
    await writeFile(file, appUrl(source));
    const secrets = localSecretsManager(new Map(), new LocalSecretStore([{ arn: APP_SECRET, file }], join(directory, 'by-hand-state')));
    const recorded = await readSecretVersion(secrets, APP_SECRET);
    await writeFile(file, appUrl(unusable));
    await expect(
      putConnectionSecret(secrets, APP_SECRET, recorded.versionId, '6f1d2c3b-0000-4000-8000-000000000002', appUrl(target)),
    ).rejects.toMatchObject({ name: 'SecretChanged' });
    expect(await readFile(file, 'utf8')).toBe(appUrl(unusable));
  });
});

describe('the local lock', () => {
  const take = (me: string, now: number, expiresAt: number) => ({
    TableName: 'locks',
    Item: { application: { S: 'shop-api' }, executionArn: { S: me }, expiresAt: { N: String(expiresAt) } },
    ConditionExpression: 'attribute_not_exists(#application) OR #expiresAt < :now OR #holder = :me',
    ExpressionAttributeNames: { '#application': 'application', '#expiresAt': 'expiresAt', '#holder': 'executionArn' },
    ExpressionAttributeValues: { ':now': { N: String(now) }, ':me': { S: me } },
  });
  const release = (me: string) => ({
    TableName: 'locks',
    Key: { application: { S: 'shop-api' } },
    ConditionExpression: '#holder = :me',
    ExpressionAttributeNames: { '#holder': 'executionArn' },
    ExpressionAttributeValues: { ':me': { S: me } },
  });

  it('lets one execution hold an application, another take it only once it expired, and only the holder release it', async () => {
    const lock = new LocalLock(join(directory, 'lock-state'));
    const tasks = lock.tasks();
    await tasks.TakeLock(take('first', 100, 200));
    await tasks.TakeLock(take('first', 101, 200)); // a retried take finds its own lock
    await expect(tasks.TakeLock(take('second', 150, 300))).rejects.toMatchObject({ name: 'DynamoDB.ConditionalCheckFailedException' });
    await expect(tasks.ReleaseLock(release('second'))).rejects.toMatchObject({ name: 'DynamoDB.ConditionalCheckFailedException' });
    await tasks.TakeLock(take('second', 250, 400));
    expect((await lock.holder('shop-api'))?.executionArn).toEqual({ S: 'second' });
    await expect(tasks.ReleaseLockAfterFailure(release('first'))).rejects.toMatchObject({
      name: 'DynamoDB.ConditionalCheckFailedException',
    });
    await tasks.ReleaseLock(release('second'));
    expect(await lock.holder('shop-api')).toBeUndefined();
  });

  it('refuses a condition it does not know rather than half-honouring it', async () => {
    const tasks = new LocalLock(join(directory, 'lock-state')).tasks();
    await expect(
      tasks.TakeLock({ ...take('first', 1, 2), ConditionExpression: 'attribute_not_exists(#application)' }),
    ).rejects.toMatchObject({
      name: 'InvalidConfig',
    });
  });
});

describe('local workloads', () => {
  it('restarts a process so it reads its secret file again, fails a start that exits, and stops it', async () => {
    const file = join(directory, 'workload-secret.txt');
    await writeFile(file, appUrl(source));
    const port = await freePort();
    const healthUrl = `http://127.0.0.1:${port}/health`;
    const start = `"${process.execPath}" "${SAMPLE_APPLICATION}" --port ${port}`;
    const workloads = new LocalWorkloads(
      [{ name: 'shop-api', start, directory, healthUrl, secretFile: file }],
      join(directory, 'workload-state'),
    );
    try {
      await workloads.restart('shop-api');
      const first = await workloads.pid('shop-api');
      expect(await (await fetch(healthUrl)).json()).toEqual({ database: source, orders: 3 });
      await writeFile(file, appUrl(target));
      await workloads.restart('shop-api');
      expect(await workloads.pid('shop-api')).not.toBe(first);
      expect(await (await fetch(healthUrl)).json()).toEqual({ database: target, orders: 5 });

      await writeFile(file, 'not a connection');
      await expect(workloads.restart('shop-api')).rejects.toMatchObject({
        name: 'DeploymentFailed',
        message: expect.stringContaining('exited'),
      });
    } finally {
      await workloads.stop('shop-api');
      await workloads.close();
    }
    expect(await workloads.pid('shop-api')).toBeUndefined();
    await expect(fetch(healthUrl)).rejects.toThrow();
  });

  it('stops on close() the processes that end with this one, and starts none once closing', async () => {
    const file = join(directory, 'owned-workload-secret.txt');
    await writeFile(file, appUrl(source));
    const port = await freePort();
    const healthUrl = `http://127.0.0.1:${port}/health`;
    const start = `"${process.execPath}" "${SAMPLE_APPLICATION}" --port ${port}`;
    const workloads = new LocalWorkloads(
      [{ name: 'shop-api', start, directory, healthUrl, secretFile: file }],
      join(directory, 'owned-state'),
      {
        endWithThisProcess: true,
      },
    );
    await workloads.restart('shop-api');
    const pid = await workloads.pid('shop-api');
    expect(pid).toBeDefined();
    await workloads.close();
    expect(await workloads.pid('shop-api')).toBeUndefined();
    await expect(fetch(healthUrl)).rejects.toThrow();
    await expect(workloads.restart('shop-api')).rejects.toMatchObject({
      name: 'DeploymentFailed',
      message: 'shop-api was not started: its workloads are closing',
    });
    expect(await workloads.pid('shop-api')).toBeUndefined();
    await expect(fetch(healthUrl)).rejects.toThrow();
  });
});

describe('lifeline run cutover --local', () => {
  let settings: LocalRestoreSettings;
  let secretFile: string;
  let workloads: LocalWorkloads;

  beforeAll(async () => {
    const port = await freePort();
    secretFile = join(directory, 'shop-api.secret.json');
    settings = {
      bucket: 'unused-by-a-cutover',
      databases: [{ name: 'shop', url: pg.url(source) }],
      applications: [
        {
          name: 'shop-api',
          database: 'shop',
          secretFile: 'shop-api.secret.json',
          start: `"${process.execPath}" "${SAMPLE_APPLICATION}" --port ${port}`,
          healthCheck: { url: `http://127.0.0.1:${port}/health`, count: 2, windowSeconds: 5, intervalSeconds: 0.2 },
          freeze: { mode: 'read-only-source' },
        },
      ],
      approvalTimeoutSeconds: 60,
      jobs: 2,
      directory,
    };
    workloads = new LocalWorkloads(
      [
        {
          name: 'shop-api',
          start: settings.applications[0]!.start!,
          directory,
          healthUrl: settings.applications[0]!.healthCheck!.url,
          secretFile,
        },
      ],
      join(directory, '.lifeline'),
    );
  });

  afterEach(async () => {
    await workloads.stop('shop-api');
  });

  afterAll(() => workloads.close());

  async function cutover(database: string) {
    await writeFile(secretFile, JSON.stringify({ DATABASE_URL: appUrl(source) }));
    await workloads.restart('shop-api');
    const asked: string[] = [];
    const result = await runCutoverLocally({
      input: { application: 'shop-api', database: { serverSecretArn: localSecretArn('database', 'shop'), name: database } },
      settings,
      notify: () => undefined,
      answer: async (request) => {
        asked.push(request.state);
        return answerDecision(request, { identity: 'alice (local run)' }, { approve: true, comment: null }, { seal: localSeal() });
      },
    });
    return { ...result, asked };
  }

  it('asks for approval, freezes, swaps the secret file, restarts the process, proves it on the new database, and unlocks', async () => {
    const result = await cutover(target);
    expect(result.error ?? null, `${result.cause} in ${result.states.join(' > ')}`).toBeNull();
    expect(result.status).toBe('SUCCEEDED');
    expect(result.asked).toEqual(['WaitForApproval']);
    expect(result.output).toMatchObject({
      application: 'shop-api',
      from: { database: source },
      to: { database: target },
      freeze: 'read-only-source',
    });
    expect(JSON.parse(await readFile(secretFile, 'utf8'))).toEqual({ DATABASE_URL: appUrl(target) });
    expect(await (await fetch(settings.applications[0]!.healthCheck!.url)).json()).toEqual({ database: target, orders: 5 });
    expect(existsSync(join(directory, '.lifeline', 'locks', 'shop-api.json'))).toBe(false);
    const setting = await pg.query<{ setconfig: string[] | null }>(
      source,
      'SELECT setconfig FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())',
    );
    expect(setting.flatMap((row) => row.setconfig ?? [])).not.toContain('default_transaction_read_only=on');
  });

  it('runs from the command line with a settings file whose paths are relative to it, approved by --approve', async () => {
    await writeFile(secretFile, JSON.stringify({ DATABASE_URL: appUrl(source) }));
    await workloads.restart('shop-api');
    const { directory: _, ...inFile } = settings;
    await writeFile(join(directory, 'settings.json'), JSON.stringify(inFile));
    const input = { application: 'shop-api', database: { serverSecretArn: localSecretArn('database', 'shop'), name: target } };
    await writeFile(join(directory, 'input.json'), JSON.stringify(input));
    // Run from the repository: the secret file and the state directory are found beside the settings file all the same.
    const files = ['--input', join(directory, 'input.json'), '--settings', join(directory, 'settings.json')];
    const run = await runCli(['run', 'cutover', '--local', ...files, '--approve', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: 'SUCCEEDED', output: { application: 'shop-api', to: { database: target } } });
    expect(JSON.parse(await readFile(secretFile, 'utf8'))).toEqual({ DATABASE_URL: appUrl(target) });
    // The application outlives the command that switched it, as it outlives a deployment.
    expect(await (await fetch(settings.applications[0]!.healthCheck!.url)).json()).toEqual({ database: target, orders: 5 });
  });

  it('rolls back to the recorded secret and restarts on the old database when the new one fails the health check', async () => {
    const result = await cutover(unusable);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('CutoverRolledBack');
    expect(JSON.parse(await readFile(secretFile, 'utf8'))).toEqual({ DATABASE_URL: appUrl(source) });
    expect(await (await fetch(settings.applications[0]!.healthCheck!.url)).json()).toEqual({ database: source, orders: 3 });
    expect(existsSync(join(directory, '.lifeline', 'locks', 'shop-api.json'))).toBe(false);
  });
});
