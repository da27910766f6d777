import { describe, expect, it } from 'vitest';
import { CUTOVER_TIMEOUT_SECONDS, CutoverSettings, type CutoverState } from '../../../../lambdas/core/workflows/cutover-state.js';
import { conclude, validateInput } from '../../../../lambdas/core/workflows/cutover-steps.js';

const APP_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-api/connection-AbC123';
const NEW_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/replacement-DeF456';
const settings = CutoverSettings.parse({
  applications: [
    {
      name: 'shop-api',
      connectionSecretArn: APP_SECRET,
      ecsServices: [{ cluster: 'production', service: 'shop-api' }],
      freeze: { mode: 'read-only-source' },
      healthCheck: { url: 'https://shop.example.com/health' },
    },
  ],
});
const execution = { id: 'arn:aws:states:eu-west-1:123456789012:execution:lifeline-cutover:run-1', startedAt: '2026-11-23T10:50:00.000Z' };
const now = new Date('2026-11-23T10:50:02.500Z');

describe('the cutover input resolved against the config', () => {
  it("fills in the application's freeze, health check and deployment defaults, and the lock's times", () => {
    const request = validateInput({ application: 'shop-api', database: { secretArn: NEW_SECRET } }, execution, settings, now);
    expect(request.freeze).toEqual({ mode: 'read-only-source' });
    expect(request.application.healthCheck).toEqual({
      url: 'https://shop.example.com/health',
      count: 3,
      windowSeconds: 120,
      intervalSeconds: 5,
    });
    expect(request.deployment).toEqual({ pollSeconds: 15, timeoutSeconds: 900 });
    // Epoch seconds as DynamoDB's N strings: now, and the execution's start plus the state machine's timeout.
    expect(request.lock).toEqual({ now: '1795431002', expiresAt: '1795438200' });
    expect(CUTOVER_TIMEOUT_SECONDS).toBe(7200);
    expect(
      validateInput({ application: 'shop-api', database: { secretArn: NEW_SECRET }, freezeWrites: false }, execution, settings, now).freeze,
    ).toEqual({ mode: 'none' });
  });

  it('refuses an application without a workload to restart', () => {
    const result = CutoverSettings.safeParse({
      applications: [{ name: 'shop-api', connectionSecretArn: APP_SECRET, healthCheck: { url: 'https://shop.example.com/health' } }],
    });
    expect(result.error?.issues[0]).toMatchObject({
      path: ['applications', 0, 'ecsServices'],
      message: 'needs an ECS service or a Lambda function to restart',
    });
  });
});

describe('the name a failed cutover ends with', () => {
  const request = validateInput({ application: 'shop-api', database: { secretArn: NEW_SECRET } }, execution, settings, now);
  const timing = { startedAt: execution.startedAt, finishedAt: execution.startedAt };
  const report = (passed: boolean, summary: string) => ({
    side: 'old' as const,
    passed,
    summary,
    http: { url: 'https://shop.example.com/health', required: 3, consecutive: passed ? 3 : 0, attempts: 3, last: 'HTTP 200' },
    sessions: { database: 'shop', role: 'shop_app', count: passed ? 2 : null, detail: '' },
    timing,
  });
  const lambdaError = (name: string, message: string) => ({
    Error: name,
    Cause: JSON.stringify({ errorType: name, errorMessage: message, trace: [] }),
  });

  it("is the step's own error before the switch, and pages only when a freeze is left on", () => {
    const before = conclude({
      request,
      error: lambdaError('DatabaseUnreachable', 'cannot connect to shop_app@new:5432/shop'),
    } as CutoverState);
    expect(before).toMatchObject({ error: 'DatabaseUnreachable', cause: 'cannot connect to shop_app@new:5432/shop', page: false });
    expect(conclude({ request, error: { Error: 'DynamoDB.AmazonDynamoDBException', Cause: 'throttled' } } as CutoverState).error).toBe(
      'CutoverFailed',
    );
    const stuck = conclude({
      request,
      error: lambdaError('CutoverFailed', 'x'),
      unfreezeError: lambdaError('DatabaseUnreachable', 'old is down'),
    } as CutoverState);
    expect(stuck).toMatchObject({ page: true, cause: expect.stringMatching(/could not be lifted: old is down; lift it by hand/) });
  });

  it('is CutoverRolledBack after a healthy revert and RollbackUnhealthy, paging, otherwise', () => {
    const rolledBack = {
      request,
      error: { Error: 'HealthCheckFailed', Cause: 'new side unhealthy' },
      rollback: { secret: { versionId: 'v1', moved: true, timing } },
    };
    expect(
      conclude({ ...rolledBack, rollback: { ...rolledBack.rollback, health: report(true, 'old side healthy') } } as CutoverState),
    ).toMatchObject({
      error: 'CutoverRolledBack',
      page: false,
      cause:
        'switching shop-api failed with HealthCheckFailed: new side unhealthy. Rolled back. Health after the rollback: old side healthy.',
    });
    expect(
      conclude({ ...rolledBack, rollback: { ...rolledBack.rollback, health: report(false, 'old side down') } } as CutoverState),
    ).toMatchObject({
      error: 'RollbackUnhealthy',
      page: true,
    });
    expect(
      conclude({ request, error: rolledBack.error, rollbackError: lambdaError('SecretUnreadable', 'denied') } as CutoverState),
    ).toMatchObject({
      error: 'RollbackUnhealthy',
      cause: expect.stringMatching(/The rollback failed with SecretUnreadable: denied\.$/),
    });
  });
});
