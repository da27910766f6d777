import { describe, expect, it } from 'vitest';
import { LifelineError } from '../../../../lambdas/core/errors.js';
import { stagingBytesFor } from '../../../../lambdas/core/restore/pipeline.js';
import { storageFor } from '../../../../lambdas/core/restore/job.js';
import { runnerErrorName, runnerExitCode } from '../../../../lambdas/core/exit-codes.js';
import { fixedRestoreCatalog, type RestoreDatabase } from '../../../../lambdas/core/restore/catalog.js';
import type { RestoreSettings } from '../../../../lambdas/core/restore/state.js';
import { classifyFailure, validateInput } from '../../../../lambdas/core/restore/steps.js';

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
      target: { serverSecretArn: SHOP_SECRET, database: 'shop_restored_202611231050' },
      server: { name: 'shop', port: 5432, rds: { instanceIdentifier: 'shop' } },
      inPlace: false,
      tables: null,
      schemas: null,
      jobs: 4,
      smokeChecks: [],
      cutover: null,
      ownerSecretArn: API_SECRET,
      keepOnFailure: false,
      approval: { required: false, timeoutSeconds: 86_400 },
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
      approval: { required: false, timeoutSeconds: 7200 },
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
    expect(await refused({ database: 'shop', inPlace: true, cutover: 'shop-api' })).toMatch(
      /cutover: must be left out with inPlace: the application already uses the source database/,
    );
    expect(await refused({ database: 'shop', inPlace: true, jobs: 4 })).toMatch(
      /jobs: an inPlace restore runs in one transaction, so in one job/,
    );
    expect(await refused({ database: 'shop', jobs: 0 })).toMatch(/^invalid restore input: jobs: /);
  });

  it('restores onto another server only by the secret of a database its runner reaches, the only secrets it may read', async () => {
    const onBilling = await plan({ database: 'shop', target: { serverSecretArn: BILLING_SECRET } });
    expect(onBilling.target).toEqual({ serverSecretArn: BILLING_SECRET, database: 'shop_restored_202611231050' });
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

describe('the runner', () => {
  it('sizes ephemeral storage by the staging formula (the archive decompressed) plus a margin, within Fargate limits', () => {
    expect(storageFor(1024)).toBe(21);
    // 10 GiB decompress to about 60 GiB (DECOMPRESSED_PER_ARCHIVE_BYTE), 2 GiB beside.
    expect(storageFor(10 * 1024 ** 3)).toBe(stagingBytesFor(10 * 1024 ** 3) / 1024 ** 3 + 2);
    expect(storageFor(10 * 1024 ** 3)).toBe(62);
    expect(() => storageFor(40 * 1024 ** 3)).toThrow(/more than Fargate's 200 GiB/);
  });

  it('exits with a code that names its error', () => {
    for (const name of ['ChecksumMismatch', 'VerificationFailed', 'BackupNotFound', 'DatabaseUnreachable'] as const) {
      expect(runnerErrorName(runnerExitCode(new LifelineError(name, 'x')))).toBe(name);
    }
    expect(runnerExitCode(new Error('killed'))).toBe(1);
    expect(runnerErrorName(1)).toBe('RestoreFailed');
    expect(runnerErrorName(137)).toBe('RestoreFailed');
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

  it('names anything else RestoreFailed, keeping what Step Functions said', () => {
    expect(classifyFailure({ Error: 'States.Timeout', Cause: '' })).toEqual({ error: 'RestoreFailed', cause: 'States.Timeout:' });
    expect(classifyFailure({ Error: 'Lambda.Unknown', Cause: 'out of memory' })).toEqual({
      error: 'RestoreFailed',
      cause: 'Lambda.Unknown: out of memory',
    });
  });
});
