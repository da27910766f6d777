import { describe, expect, it } from 'vitest';
import { LifelineError } from '../../../../lambdas/core/errors.js';
import { stagingBytesFor } from '../../../../lambdas/core/restore.js';
import { storageFor } from '../../../../lambdas/core/workflows/restore-job.js';
import { errorNameForExitCode, exitCodeFor } from '../../../../lambdas/core/workflows/runner-exit-codes.js';
import type { RestoreSettings } from '../../../../lambdas/core/workflows/restore-state.js';
import { classifyFailure, validateInput } from '../../../../lambdas/core/workflows/restore-steps.js';

const SHOP_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/admin-AbC123';
const BILLING_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:billing/admin-AbC123';
const API_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-api/connection-AbC123';
const REPORTS_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:reports/connection-AbC123';
const runner = { subnetIds: ['subnet-0a1b2c3d'], securityGroupIds: ['sg-0a1b2c3d'] };
const SHOP_STEPS = 'arn:aws:lambda:eu-west-1:123456789012:function:lifeline-restore-steps-private';
const BILLING_STEPS = 'arn:aws:lambda:eu-west-1:123456789012:function:lifeline-restore-steps-billing';
const settings: RestoreSettings = {
  bucket: 'vault',
  approvalTimeoutSeconds: 86_400,
  runnerVcpus: 4,
  databases: [
    { name: 'shop', secretArn: SHOP_SECRET, port: 5432, rds: { instanceIdentifier: 'shop' }, stepsFunctionArn: SHOP_STEPS, runner },
    {
      name: 'billing',
      secretArn: BILLING_SECRET,
      port: 5432,
      rds: { clusterIdentifier: 'billing' },
      stepsFunctionArn: BILLING_STEPS,
      runner,
    },
  ],
  applications: [
    { name: 'shop-api', database: 'shop', connectionSecretArn: API_SECRET },
    { name: 'billing-api', database: 'billing', connectionSecretArn: REPORTS_SECRET },
    { name: 'billing-reports', database: 'billing', connectionSecretArn: REPORTS_SECRET },
  ],
};
const execution = { id: 'arn:aws:states:eu-west-1:123456789012:execution:restore:x', startedAt: '2026-11-23T10:50:37.123Z' };

describe('validateInput', () => {
  it('fills every default from the deployment: target, jobs, owner, approval', () => {
    expect(validateInput({ database: 'shop' }, execution, settings)).toEqual({
      database: 'shop',
      key: null,
      at: null,
      target: { serverSecretArn: SHOP_SECRET, database: 'shop_restored_202611231050' },
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
    expect(validateInput({ database: 'billing' }, execution, settings).stepsFunctionArn).toBe(BILLING_STEPS);
    expect(validateInput({ database: 'shop', cutover: 'shop-api', approvalTimeoutHours: 2, jobs: 8 }, execution, settings)).toMatchObject({
      jobs: 8,
      cutover: 'shop-api',
      approval: { required: true, timeoutSeconds: 7200 },
    });
  });

  it('owns the restore by the one application of the database, the cutover one, or none when several share it', () => {
    expect(validateInput({ database: 'billing' }, execution, settings).ownerSecretArn).toBeNull();
    expect(validateInput({ database: 'billing', cutover: 'billing-api' }, execution, settings).ownerSecretArn).toBe(REPORTS_SECRET);
  });

  it('takes the source database in place: its name left to CreateTarget, one job, no approval after validation', () => {
    expect(validateInput({ database: 'shop', inPlace: true, approvalTimeoutHours: 2 }, execution, settings)).toMatchObject({
      target: { serverSecretArn: SHOP_SECRET, database: null },
      inPlace: true,
      jobs: 1,
      cutover: null,
      approval: { required: false, timeoutSeconds: 7200 },
    });
  });

  it('refuses what the deployment does not have, naming the field', () => {
    const refused = (input: unknown) => {
      try {
        validateInput(input, execution, settings);
      } catch (error) {
        expect((error as LifelineError).name).toBe('InvalidInput');
        return (error as Error).message;
      }
      return undefined;
    };
    expect(refused({ database: 'orders' })).toBe('database: "orders" is not a configured database (configured: shop, billing)');
    expect(refused({ database: 'shop', cutover: 'orders-api' })).toBe('cutover: "orders-api" is not a configured application');
    expect(refused({ database: 'shop', cutover: 'billing-api' })).toBe('cutover: "billing-api" uses database "billing", not "shop"');
    expect(refused({ database: 'shop', inPlace: true, cutover: 'shop-api' })).toMatch(
      /cutover: must be left out with inPlace: the application already uses the source database/,
    );
    expect(refused({ database: 'shop', inPlace: true, jobs: 4 })).toMatch(
      /jobs: an inPlace restore runs in one transaction, so in one job/,
    );
    expect(refused({ database: 'shop', jobs: 0 })).toMatch(/^invalid restore input: jobs: /);
  });

  it("restores onto another server only by a configured database's secret, the only secrets the workflow may read", () => {
    const onBilling = validateInput({ database: 'shop', target: { serverSecretArn: BILLING_SECRET } }, execution, settings);
    expect(onBilling.target).toEqual({ serverSecretArn: BILLING_SECRET, database: 'shop_restored_202611231050' });
    const unknown = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:someone/else-AbC123';
    expect(() => validateInput({ database: 'shop', target: { serverSecretArn: unknown } }, execution, settings)).toThrow(
      expect.objectContaining({
        name: 'InvalidInput',
        message: `target.serverSecretArn: "${unknown}" is not the secret of a configured database (configured: shop, billing); restore onto one of their servers`,
      }),
    );
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
      expect(errorNameForExitCode(exitCodeFor(new LifelineError(name, 'x')))).toBe(name);
    }
    expect(exitCodeFor(new Error('killed'))).toBe(1);
    expect(errorNameForExitCode(1)).toBe('RestoreFailed');
    expect(errorNameForExitCode(137)).toBe('RestoreFailed');
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
