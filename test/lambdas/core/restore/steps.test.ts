import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { mockClient } from 'aws-sdk-client-mock';
import postgres from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LifelineError } from '../../../../lambdas/core/errors.js';
import { fixedRestoreCatalog, type RestoreDatabase } from '../../../../lambdas/core/restore/catalog.js';
import type { CreatedTarget, RestoreRequest, RestoreSettings } from '../../../../lambdas/core/restore/state.js';
import { classifyFailure, cleanup, createTarget, keepTarget, validateInput } from '../../../../lambdas/core/restore/steps.js';
import { deadlineAfter, withinDeadline } from '../../../../lambdas/core/deadline.js';
import { MAINTENANCE_DATABASE, withDatabaseNameLock, type ExecutionStatusLookup } from '../../../../lambdas/core/postgres/databases.js';
import { databaseComment, restoreStepsFixture } from '../../../support/restore-steps.js';
import { sharedPostgres } from '../../../support/shared.js';

const SHOP_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/admin-AbC123';
const BILLING_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:billing/admin-AbC123';
const API_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-api/connection-AbC123';
const REPORTS_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:reports/connection-AbC123';
const runner = { taskDefinition: 'lifeline-restore-runner-1', subnetIds: ['subnet-0a1b2c3d'], securityGroupIds: ['sg-0a1b2c3d'] };
const SHOP_STEPS = 'arn:aws:lambda:eu-west-1:123456789012:function:lifeline-restore1-private';
const WAREHOUSE_STEPS = 'arn:aws:lambda:eu-west-1:123456789012:function:lifeline-restore1-analytics';
const WAREHOUSE_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:warehouse/admin-AbC123';
const settings: RestoreSettings = {
  deployment: 'lifeline',
  backupStacks: 1,
  bucket: 'vault',
  approvalTimeoutSeconds: 86_400,
  runnerVcpus: 4,
};
const shop: RestoreDatabase = {
  name: 'shop',
  secretArn: SHOP_SECRET,
  port: 5432,
  rds: { instanceIdentifier: 'shop' },
  network: 'private',
  stepsFunctionArn: SHOP_STEPS,
  runner,
  applications: [{ name: 'shop-api', connectionSecretArn: API_SECRET }],
};
const billing: RestoreDatabase = {
  name: 'billing',
  secretArn: BILLING_SECRET,
  host: 'billing.cluster-c1a2b3.eu-west-1.rds.amazonaws.com',
  port: 5433,
  databaseName: 'billing',
  rds: { clusterIdentifier: 'billing' },
  network: 'private',
  stepsFunctionArn: SHOP_STEPS,
  runner,
  applications: [
    { name: 'billing-api', connectionSecretArn: REPORTS_SECRET },
    { name: 'billing-reports', connectionSecretArn: REPORTS_SECRET },
  ],
};
const warehouse: RestoreDatabase = {
  name: 'warehouse',
  secretArn: WAREHOUSE_SECRET,
  port: 5432,
  rds: { clusterIdentifier: 'warehouse' },
  network: 'analytics',
  stepsFunctionArn: WAREHOUSE_STEPS,
  runner: { ...runner, subnetIds: ['subnet-9a9b9c9d'], securityGroupIds: ['sg-9a9b9c9d'] },
  applications: [],
};
const catalog = fixedRestoreCatalog([shop, billing, warehouse]);
const execution = { id: 'arn:aws:states:eu-west-1:123456789012:execution:restore:x', startedAt: '2026-11-23T10:50:37.123Z' };
const plan = (input: unknown) => validateInput(input, execution, settings, catalog);

describe('validateInput', () => {
  it('fills every default from the deployment and the catalog: target, server, jobs, owner, approval, where it runs', async () => {
    expect(await plan({ database: 'shop' })).toEqual({
      database: 'shop',
      key: null,
      at: null,
      target: { serverSecretArn: SHOP_SECRET, database: 'shop_restored_20261123105037' },
      server: { name: 'shop', port: 5432, rds: { instanceIdentifier: 'shop' } },
      inPlace: false,
      tables: null,
      schemas: null,
      jobs: 4,
      smokeChecks: [],
      cutover: null,
      ownerSecretArn: API_SECRET,
      owner: null,
      keepOnFailure: false,
      markRolledBack: [],
      migrations: null,
      approval: { required: false, timeoutSeconds: 86_400, subject: 'Lifeline: approve the restore of shop' },
      cleanupFailedSubject: 'Lifeline: restore of shop failed, and so did its cleanup',
      stepsFunctionArn: SHOP_STEPS,
      runner,
      execution,
    });
    expect(await plan({ database: 'warehouse' })).toMatchObject({ stepsFunctionArn: WAREHOUSE_STEPS, runner: warehouse.runner });
    expect(await plan({ database: 'shop', cutover: 'shop-api', approvalTimeoutHours: 2, jobs: 8 })).toMatchObject({
      jobs: 8,
      cutover: 'shop-api',
      approval: { required: true, timeoutSeconds: 7200 },
    });
  });

  it('owns the restore by the one application of the database, the cutover one, or none when several share it', async () => {
    expect((await plan({ database: 'billing' })).ownerSecretArn).toBeNull();
    expect((await plan({ database: 'billing', cutover: 'billing-api' })).ownerSecretArn).toBe(REPORTS_SECRET);
  });

  it('takes the source database in place: its name left to CreateTarget, one job, no approval after validation', async () => {
    expect(await plan({ database: 'shop', inPlace: true, approvalTimeoutHours: 2 })).toMatchObject({
      target: { serverSecretArn: SHOP_SECRET, database: null },
      inPlace: true,
      jobs: 1,
      cutover: null,
      approval: { required: false, timeoutSeconds: 7200, subject: 'Lifeline: approve restoring shop in place' },
    });
  });

  it('refuses what the deployment does not have, naming the field', async () => {
    const refused = async (input: unknown) => {
      const error = await plan(input).then(
        () => undefined,
        (caught: unknown) => caught as LifelineError,
      );
      expect(error?.name).toBe('InvalidInput');
      return error?.message;
    };
    expect(await refused({ database: 'orders' })).toBe(
      'database: "orders" is not a configured database of deployment lifeline (its restore group lifeline-restore-1 has no catalog entry for it)',
    );
    expect(await refused({ database: 'shop', cutover: 'orders-api' })).toBe(
      'cutover: "orders-api" is not a configured application of database "shop" (its applications: shop-api)',
    );
    expect(await refused({ database: 'warehouse', cutover: 'billing-api' })).toBe(
      'cutover: "billing-api" is not a configured application of database "warehouse" (its applications: none)',
    );
    // The cutover switches an application only onto its own database's server (the config's): refused before anything exists.
    expect(await refused({ database: 'shop', cutover: 'shop-api', target: { serverSecretArn: BILLING_SECRET } })).toBe(
      'cutover: shop-api can be switched only to a database on the server of "shop", its configured database; leave target.serverSecretArn out, or restore without cutover',
    );
    expect(await refused({ database: 'shop', inPlace: true, cutover: 'shop-api' })).toMatch(
      /cutover: must be left out with inPlace: the application already uses the source database/,
    );
    expect(await refused({ database: 'shop', inPlace: true, jobs: 4 })).toMatch(
      /jobs: an inPlace restore runs in one transaction, so in one job/,
    );
    expect(await refused({ database: 'shop', jobs: 0 })).toMatch(/^invalid restore input: jobs: /);
  });

  it("refuses more table names than the runner's task overrides hold, before anything is created", async () => {
    const names = (count: number) => Array.from({ length: count }, (_, i) => `billing.invoice_line_items_${String(i).padStart(4, '0')}`);
    await expect(plan({ database: 'shop', tables: names(300) })).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringMatching(
        /^tables, schemas: 300 names would make the runner's task overrides \d+ characters, more than the 8192 ECS takes; restore fewer tables at a time/,
      ),
    });
    // As many as fit, with every other field of the job as long as it can be.
    expect((await plan({ database: 'shop', tables: names(100) })).tables).toHaveLength(100);
  });

  it('restores onto another server only by the secret of a database its runner reaches, the only secrets it may read', async () => {
    const onBilling = await plan({ database: 'shop', target: { serverSecretArn: BILLING_SECRET } });
    expect(onBilling.target).toEqual({ serverSecretArn: BILLING_SECRET, database: 'shop_restored_20261123105037' });
    // Billing's server, reached as its backups reach it; the restore still runs beside shop.
    expect(onBilling.server).toEqual({
      name: 'billing',
      host: billing.host,
      port: 5433,
      databaseName: 'billing',
      rds: { clusterIdentifier: 'billing' },
    });
    expect(onBilling.stepsFunctionArn).toBe(SHOP_STEPS);
    // Databases on one server may share its secret: each restores beside itself by default.
    const sharing = fixedRestoreCatalog([shop, { ...shop, name: 'shop_eu', databaseName: 'shop_eu', applications: [] }]);
    const { server } = await validateInput({ database: 'shop_eu' }, execution, settings, sharing);
    expect(server).toMatchObject({ name: 'shop_eu', databaseName: 'shop_eu' });
    const unknown = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:someone/else-AbC123';
    for (const secret of [unknown, WAREHOUSE_SECRET]) {
      await expect(plan({ database: 'shop', target: { serverSecretArn: secret } })).rejects.toThrow(
        expect.objectContaining({
          name: 'InvalidInput',
          message: `target.serverSecretArn: "${secret}" is not the secret of a configured database that restores of "shop" reach (those in its network private and backups stack: shop, billing); restore onto one of their servers`,
        }),
      );
    }
  });
});

describe('classifyFailure', () => {
  it("keeps a Lifeline error's name and takes the message out of Lambda's error JSON", () => {
    const cause = JSON.stringify({ errorType: 'BackupNotFound', errorMessage: 'no backup of "shop"', trace: ['at x'] });
    expect(classifyFailure({ Error: 'BackupNotFound', Cause: cause })).toEqual({ error: 'BackupNotFound', cause: 'no backup of "shop"' });
    expect(classifyFailure({ Error: 'Rejected', Cause: 'wrong backup' })).toEqual({ error: 'Rejected', cause: 'wrong backup' });
  });

  it("names a stopped runner task's failure by its exit code", () => {
    const task = {
      TaskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/runner/abc',
      StoppedReason: 'Essential container in task exited',
      Containers: [{ ExitCode: 15 }],
    };
    expect(classifyFailure({ Error: 'States.TaskFailed', Cause: JSON.stringify(task) })).toEqual({
      error: 'ChecksumMismatch',
      cause:
        'the runner arn:aws:ecs:eu-west-1:123456789012:task/runner/abc stopped with exit code 15 (ChecksumMismatch): Essential container in task exited',
    });
    const noExit = {
      TaskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/runner/def',
      StoppedReason: 'CannotPullContainerError',
      Containers: [{}],
    };
    expect(classifyFailure({ Error: 'States.TaskFailed', Cause: JSON.stringify(noExit) }).error).toBe('RestoreFailed');
  });

  it('names a cutover that timed out or was stopped CutoverUnresolved, not by its raw description', () => {
    for (const [status, ended] of [
      ['TIMED_OUT', 'timed out'],
      ['ABORTED', 'was stopped'],
    ] as const) {
      const cause = JSON.stringify({ ExecutionArn: 'arn:aws:states:eu-west-1:123456789012:execution:lifeline-cutover:x', Status: status });
      expect(classifyFailure({ Error: 'States.TaskFailed', Cause: cause })).toEqual({
        error: 'CutoverUnresolved',
        cause: `the cutover arn:aws:states:eu-west-1:123456789012:execution:lifeline-cutover:x ${ended} before it said what it left: check which database the application's connection secret names, its write freeze and its lock`,
      });
    }
  });

  it('names a second start of the same cutover, after the first ended, CutoverUnresolved', () => {
    const caught = {
      Error: 'StepFunctions.ExecutionAlreadyExistsException',
      Cause: 'Execution Already Exists: arn:...:lifeline-cutover:x',
    };
    expect(classifyFailure(caught)).toMatchObject({
      error: 'CutoverUnresolved',
      cause: expect.stringMatching(/^a cutover under this execution's name ran already and has ended/),
    });
  });

  it('names anything else RestoreFailed, keeping what Step Functions said', () => {
    expect(classifyFailure({ Error: 'States.Timeout', Cause: '' })).toEqual({ error: 'RestoreFailed', cause: 'States.Timeout:' });
    expect(classifyFailure({ Error: 'Lambda.Unknown', Cause: 'out of memory' })).toEqual({
      error: 'RestoreFailed',
      cause: 'Lambda.Unknown: out of memory',
    });
  });
});

describe("CreateTarget's mark on the database it creates, against PostgreSQL", () => {
  const pg = sharedPostgres();
  const secrets = mockClient(SecretsManagerClient);
  const ADMIN_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:lifeline/marks-admin-AbC123';
  const label = `marks${randomBytes(3).toString('hex')}`;
  const {
    settings: markSettings,
    catalog: markCatalog,
    deps,
    backup,
  } = restoreStepsFixture(pg, label, { secretArn: ADMIN_SECRET, approvalTimeoutSeconds: 60 });
  const timing = { startedAt: '2026-11-23T10:50:02.000Z', finishedAt: '2026-11-23T10:50:03.000Z' };
  const created: string[] = [];

  /** An execution's request, as ValidateInput makes it; executions of one minute get one default target name. */
  async function requestOf(executionName: string, startedAt: string, input: Record<string, unknown> = {}): Promise<RestoreRequest> {
    const execution = { id: `arn:aws:states:us-east-1:000000000000:execution:lifeline-restore:${executionName}`, startedAt };
    return { ...(await validateInput({ database: label, ...input }, execution, markSettings, markCatalog)), timing };
  }

  async function create(request: RestoreRequest): Promise<CreatedTarget> {
    const target = { ...(await createTarget(request, backup, deps)), timing };
    created.push(target.database);
    return target;
  }

  /** Cleanup after `request`'s execution failed with the target it holds. */
  const failed = (request: RestoreRequest, target: CreatedTarget) =>
    cleanup({ request, backup, target, error: { Error: 'RestoreFailed', Cause: 'the runner stopped' } }, deps);

  /** Step Functions' answer for each execution a mark may name; undefined: no such execution (its history expired). */
  const statuses =
    (known: Record<string, string | undefined>): ExecutionStatusLookup =>
    (executionArn) =>
      Promise.resolve(known[executionArn]);

  const comment = (database: string) => databaseComment(pg, database);

  beforeAll(() => {
    const value = { host: pg.host, port: pg.port, username: pg.user, password: pg.password, dbname: backup.source.databaseName };
    secrets.on(GetSecretValueCommand, { SecretId: ADMIN_SECRET }).resolves({ ARN: ADMIN_SECRET, SecretString: JSON.stringify(value) });
  });

  afterAll(async () => {
    for (const name of created) await pg.query('postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    secrets.reset();
  });

  it('makes a retry of the step after it succeeded find the database created, so that Cleanup still drops it', async () => {
    // A quote in the mark's text stays text.
    const request = await requestOf("retried-o'clock", '2026-11-23T10:51:07.000Z');
    const first = await create(request);
    expect(first.created).toBe(true);
    expect(await comment(first.database)).toBe(`lifeline restore ${request.execution.id}`);
    // Lambda's answer was lost: Step Functions runs the step again.
    const retried = await create(request);
    expect(retried).toMatchObject({ database: first.database, created: true });

    const failure = await failed(request, retried);
    expect(failure.dropped).toBe(first.database);
    expect(failure.message).toContain(`Dropped ${first.database}, which this execution had created.`);
    expect(await comment(first.database)).toBeUndefined();
  });

  it('gives two executions of the same minute a database each by default', async () => {
    const first = await requestOf('minute-first', '2026-11-23T10:52:05.000Z');
    const second = await requestOf('minute-second', '2026-11-23T10:52:40.000Z');
    expect(second.target.database).not.toBe(first.target.database);
    expect([(await create(first)).created, (await create(second)).created]).toEqual([true, true]);
    expect(await comment(first.target.database!)).toBe(`lifeline restore ${first.execution.id}`);
    expect(await comment(second.target.database!)).toBe(`lifeline restore ${second.execution.id}`);
  });

  it('refuses a name to a second execution while the one whose mark it bears runs, and leaves the first one its database', async () => {
    const first = await requestOf('first', '2026-11-23T10:57:05.000Z');
    const second = await requestOf('second', '2026-11-23T10:57:05.900Z');
    expect(second.target.database).toBe(first.target.database);
    // Still empty: the first's runner has not started yet.
    const target = await create(first);
    const refused = `target.database: "${target.database}" on ${pg.host}:${pg.port} is being restored by execution ${first.execution.id}`;
    await expect(createTarget(second, backup, deps)).rejects.toMatchObject({
      name: 'InvalidInput',
      message: `${refused}; restore into another database`,
    });
    // Step Functions says it runs, or cannot be asked: the mark holds either way.
    await expect(
      createTarget(second, backup, { ...deps, executions: statuses({ [first.execution.id]: 'RUNNING' }) }),
    ).rejects.toMatchObject({
      message: `${refused} (RUNNING); restore into another database`,
    });
    const unreachable = () => Promise.reject(new Error('connect ETIMEDOUT 10.0.0.1:443'));
    await expect(createTarget(second, backup, { ...deps, executions: unreachable })).rejects.toMatchObject({
      message: `${refused} (whether it still runs could not be learnt from Step Functions: connect ETIMEDOUT 10.0.0.1:443); restore into another database`,
    });
    expect(await comment(target.database)).toBe(`lifeline restore ${first.execution.id}`);
    // The second's Cleanup (it has no target) leaves it alone too.
    const failure = await cleanup({ request: second, backup, error: { Error: 'InvalidInput', Cause: 'refused' } }, deps);
    expect(failure).toMatchObject({ dropped: null, kept: null });
    expect(await comment(target.database)).toBe(`lifeline restore ${first.execution.id}`);
  });

  it('takes over the empty database of an execution that has ended, and drops it as its own on failure', async () => {
    const name = `${label}_abandoned`;
    for (const status of ['ABORTED', 'FAILED', 'TIMED_OUT', undefined]) {
      const killed = await requestOf(`killed-${status}`, '2026-11-23T11:00:00.000Z', { target: { database: name } });
      const next = await requestOf(`next-${status}`, '2026-11-23T11:05:00.000Z', { target: { database: name } });
      // The killed execution created and marked it, and never ran its Cleanup.
      await create(killed);
      const taken = await create({ ...next }).catch((error: unknown) => error);
      expect(taken, 'without asking Step Functions, the mark holds').toMatchObject({ name: 'InvalidInput' });
      const ended = { ...deps, executions: statuses({ [killed.execution.id]: status }) };
      const target = { ...(await createTarget(next, backup, ended)), timing };
      expect(target, String(status)).toMatchObject({ database: name, created: true });
      expect(await comment(name)).toBe(`lifeline restore ${next.execution.id}`);
      const failure = await failed(next, target);
      expect(failure.dropped).toBe(name);
      expect(await comment(name)).toBeUndefined();
    }
  });

  it('refuses the database an ended execution left with tables, naming that execution, and leaves it as it was', async () => {
    const done = await requestOf('done', '2026-11-23T11:10:00.000Z', { target: { database: `${label}_finished` } });
    const next = await requestOf('after-done', '2026-11-23T11:20:00.000Z', { target: { database: `${label}_finished` } });
    const target = await create(done);
    await pg.query(target.database, 'CREATE TABLE restored (id int)');
    await expect(createTarget(next, backup, { ...deps, executions: statuses({ [done.execution.id]: 'SUCCEEDED' }) })).rejects.toMatchObject(
      {
        name: 'InvalidInput',
        message:
          `target.database: "${target.database}" on ${pg.host}:${pg.port}, left by execution ${done.execution.id} (ended SUCCEEDED), ` +
          'is not empty (public.restored); restore into a new database',
      },
    );
    expect(await comment(target.database)).toBe(`lifeline restore ${done.execution.id}`);
    expect(await pg.query(target.database, 'SELECT count(*)::int AS n FROM restored')).toEqual([{ n: 0 }]);
  });

  it('refuses a template database and the maintenance database before writing anything, saying what to do', async () => {
    const template = `${label}_template`;
    await pg.query('postgres', `CREATE DATABASE "${template}" IS_TEMPLATE true`);
    try {
      const request = await requestOf('template', '2026-11-23T11:30:00.000Z', { target: { database: template } });
      await expect(createTarget(request, backup, deps)).rejects.toMatchObject({
        name: 'InvalidInput',
        message: `target.database: "${template}" on ${pg.host}:${pg.port} is a template database (datistemplate), which new databases are copied from; a restore never writes into it: name a new database`,
      });
      expect(await comment(template)).toBeNull();
      // The input refuses the name postgres; a request made without it is refused here too.
      const maintenance = { ...request, target: { ...request.target, database: 'postgres' } };
      await expect(createTarget(maintenance, backup, deps)).rejects.toMatchObject({
        name: 'InvalidInput',
        message: expect.stringMatching(/^target\.database: "postgres" is the server's maintenance database, .*: name a new database$/),
      });
      expect(await comment('postgres')).not.toMatch(/^lifeline restore/);
    } finally {
      await pg.query('postgres', `ALTER DATABASE "${template}" IS_TEMPLATE false`);
      await pg.query('postgres', `DROP DATABASE "${template}"`);
    }
  });

  it('stops at its deadline while another restore holds the name, and creates nothing after it, when Cleanup may have run', async () => {
    const request = await requestOf('held-up', '2026-11-23T10:56:00.000Z', { target: { database: `${label}_held_up` } });
    const holder = new postgres.Client({ connectionString: pg.url(MAINTENANCE_DATABASE) });
    await holder.connect();
    let release = () => undefined as void;
    const held = withDatabaseNameLock(holder, `${label}_held_up`, () => new Promise<void>((resolve) => (release = resolve)));
    try {
      const deadline = deadlineAfter(1_000, 'restore state CreateTarget');
      const creating = withinDeadline(deadline, () => createTarget(request, backup, { ...deps, deadline })).then(
        () => 'created',
        (error: Error) => error.name,
      );
      // Without a deadline it waits for the name and creates the database after the hold, however late: give it time to.
      await Promise.race([creating, delay(5_000)]);
      release();
      await held;
      expect(await creating).toBe('StepTimedOut');
      const rows = await pg.query('postgres', 'SELECT 1 FROM pg_database WHERE datname = $1', [`${label}_held_up`]);
      expect(rows).toEqual([]);
    } finally {
      release();
      await holder.end();
    }
  });

  it("drops the database a CreateTarget created without reporting it (its state timed out), and no one else's", async () => {
    const request = await requestOf('late-create', '2026-11-23T10:55:00.000Z', { target: { database: `${label}_late` } });
    await create(request);
    // CreateTarget's state gave up first: the execution's state has no target.
    const timedOut = { Error: 'States.Timeout', Cause: 'The task timed out.' };
    const failure = await cleanup({ request, backup, error: timedOut }, deps);
    expect(failure).toMatchObject({ error: 'RestoreFailed', dropped: `${label}_late`, kept: null });
    expect(failure.message).toContain(`Dropped ${label}_late, which this execution's CreateTarget had created without reporting it.`);
    expect(await comment(`${label}_late`)).toBeUndefined();

    const other = await requestOf('late-create-other', '2026-11-23T10:55:30.000Z', { target: { database: `${label}_late` } });
    await create(other);
    expect(await cleanup({ request, backup, error: timedOut }, deps)).toMatchObject({ dropped: null, kept: null });
    expect(await comment(`${label}_late`)).toBe(`lifeline restore ${other.execution.id}`);
  });

  it('keeps a database handed over to a cutover that did not end in time, and names the outcome CutoverUnresolved', async () => {
    const request = await requestOf('handed-over', '2026-11-23T10:54:00.000Z', { target: { database: `${label}_handed_over` } });
    const target = await create(request);
    const handOver = { application: 'shop-api', database: { serverSecretArn: ADMIN_SECRET, name: target.database } };
    const failure = await cleanup(
      { request, backup, target, handOver, error: { Error: 'States.Timeout', Cause: 'The task timed out.' } },
      deps,
    );
    expect(failure).toMatchObject({ error: 'CutoverUnresolved', dropped: null, kept: target.database });
    expect(failure.cause).toMatch(/^the cutover of shop-api did not end within HandOver's time limit/);
    expect(await comment(target.database)).toBe(`lifeline restore ${request.execution.id}`);
  });

  it('keeps a target it hands over or delivers, marked so, and hands over none that no longer bears its mark', async () => {
    const handing = await requestOf('keeps', '2026-11-23T10:55:00.000Z', { target: { database: `${label}_kept` } });
    const target = await create(handing);
    await expect(keepTarget({ ...handing, cutover: 'shop-api' }, target, deps)).resolves.toEqual({ kept: target.database });
    expect(await comment(target.database)).toBe(`lifeline kept ${handing.execution.id} (handed over to the cutover of shop-api)`);
    // Its retry (an answer lost) finds it kept; Cleanup, whatever its state says, keeps it.
    await expect(keepTarget({ ...handing, cutover: 'shop-api' }, target, deps)).resolves.toEqual({ kept: target.database });
    expect(await failed(handing, target)).toMatchObject({ dropped: null, kept: target.database });

    // Another execution's database now under that name (this one's was dropped by hand and the name reused).
    const other = await requestOf('reuses', '2026-11-23T10:55:30.000Z', { target: { database: `${label}_reused` } });
    const reused = await create(other);
    const late = await requestOf('late', '2026-11-23T10:55:40.000Z', { target: { database: reused.database } });
    await expect(keepTarget(late, reused, deps)).rejects.toMatchObject({
      name: 'RestoreFailed',
      message: `${reused.database}, which this execution created, bears the mark of execution ${other.execution.id}: it is not this execution's to keep or hand over`,
    });
    expect(await comment(reused.database)).toBe(`lifeline restore ${other.execution.id}`);
    await pg.query('postgres', `DROP DATABASE "${reused.database}"`);
    await expect(keepTarget(other, reused, deps)).rejects.toMatchObject({ message: expect.stringMatching(/ is gone: /) });

    // keepOnFailure: Cleanup keeps it, and its mark goes.
    const keeping = await requestOf('keeps-on-failure', '2026-11-23T10:56:00.000Z', {
      target: { database: `${label}_kept_failed` },
      keepOnFailure: true,
    });
    const kept = await create(keeping);
    expect(await failed(keeping, kept)).toMatchObject({ dropped: null, kept: kept.database });
    expect(await comment(kept.database)).toBe(`lifeline kept ${keeping.execution.id} (kept on failure)`);
  });

  it("never lets Cleanup drop a database without its execution's mark, even one its state says it created", async () => {
    const owner = await requestOf('owner', '2026-11-23T10:53:00.000Z', { target: { database: `${label}_owned` } });
    const other = await requestOf('other', '2026-11-23T10:53:30.000Z', { target: { database: `${label}_owned` } });
    const target = await create(owner);
    const foreign = await failed(other, target);
    expect(foreign.dropped).toBeNull();
    expect(foreign.kept).toBe(target.database);
    expect(foreign.message).toContain(
      `Kept ${target.database}: it is not marked as created by this execution (execution ${owner.execution.id} marked it)`,
    );
    expect(await comment(target.database)).toBe(`lifeline restore ${owner.execution.id}`);

    // A database nobody marked (an operator's, taken empty) stays too.
    const unmarked = await pg.createDatabase(`${label}_operators`);
    created.push(unmarked);
    const operators = await requestOf('operators', '2026-11-23T10:54:00.000Z', { target: { database: unmarked } });
    const taken = await create(operators);
    expect(taken.created).toBe(false);
    const kept = await failed(operators, { ...taken, created: true });
    expect(kept).toMatchObject({ dropped: null, kept: unmarked });
    expect(kept.message).toContain('(it bears no mark)');
    expect(await comment(unmarked)).toBeNull();
  });
});
