import { describe, expect, it } from 'vitest';
import {
  CUTOVER_STEPS_MARGIN_SECONDS,
  CUTOVER_TIMEOUT_SECONDS,
  CutoverSettings,
  type CutoverState,
} from '../../../../lambdas/core/cutover/state.js';
import { conclude, validateInput } from '../../../../lambdas/core/cutover/steps.js';

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
  it("fills in the application's freeze, health check and deployment defaults, and the lock's times", async () => {
    const request = await validateInput({ application: 'shop-api', database: { secretArn: NEW_SECRET } }, execution, settings, now);
    expect(request.freeze).toEqual({ mode: 'read-only-source' });
    expect(request.application.healthCheck).toEqual({
      url: 'https://shop.example.com/health',
      count: 3,
      windowSeconds: 120,
      intervalSeconds: 5,
    });
    expect(request.deployment).toEqual({ pollSeconds: 15, timeoutSeconds: 900 });
    // Epoch seconds as DynamoDB's N strings: now, and the execution's start plus the state machine's timeout.
    expect(request.lock).toEqual({ now: '1795431002', expiresAt: '1795441800' });
    expect(CUTOVER_TIMEOUT_SECONDS).toBe(10_800);
    expect(
      (await validateInput({ application: 'shop-api', database: { secretArn: NEW_SECRET }, freezeWrites: false }, execution, settings, now))
        .freeze,
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

describe('the time a cutover may take', () => {
  const withTimes = (timeoutSeconds: number, windowSeconds: number) =>
    CutoverSettings.safeParse({
      deployment: { pollSeconds: 15, timeoutSeconds },
      applications: [
        {
          name: 'shop-api',
          connectionSecretArn: APP_SECRET,
          ecsServices: [{ cluster: 'production', service: 'shop-api' }],
          healthCheck: { url: 'https://shop.example.com/health', windowSeconds },
        },
      ],
    });

  it('refuses settings under which a failing cutover, restarting and proving health twice, could outlive its state machine', () => {
    // The longest restart and health window each allows on its own: 2 x (3600 + 15 + 600) + margin.
    const refused = withTimes(3600, 600);
    expect(refused.success).toBe(false);
    expect(refused.error?.issues).toEqual([
      expect.objectContaining({
        path: ['applications', 0, 'healthCheck', 'windowSeconds'],
        message: `a failing cutover of shop-api could run ${2 * (3600 + 15 + 600) + CUTOVER_STEPS_MARGIN_SECONDS} s: 2 x (deployment.timeoutSeconds 3600 + deployment.pollSeconds 15 + healthCheck.windowSeconds 600) + ${CUTOVER_STEPS_MARGIN_SECONDS} s for the other steps, not less than the state machine's ${CUTOVER_TIMEOUT_SECONDS} s limit, past which no rollback or unfreeze runs; shorten the deployment timeout or the health window`,
      }),
    ]);
    // The bound is exact: the longest deployment timeout that stays under the limit passes, one second more does not.
    const largest = Math.ceil((CUTOVER_TIMEOUT_SECONDS - CUTOVER_STEPS_MARGIN_SECONDS) / 2) - 15 - 600 - 1;
    expect(withTimes(largest, 600).success).toBe(true);
    expect(withTimes(largest + 1, 600).success).toBe(false);
    // The defaults, with the longest health window, fit.
    expect(withTimes(900, 600).success).toBe(true);
  });
});

describe('applications that would switch each other', () => {
  const application = (name: string, fields: object) => ({ name, healthCheck: { url: `https://${name}.example.com/health` }, ...fields });

  it('are refused by the deployed settings too, naming both, wherever they share a secret, an ECS service or a Lambda function', () => {
    const result = CutoverSettings.safeParse({
      applications: [
        application('shop-api', {
          connectionSecretArn: APP_SECRET,
          ecsServices: [{ cluster: 'production', service: 'shop-api' }],
          lambdaFunctions: ['shop-worker'],
        }),
        application('shop-admin', {
          connectionSecretArn: APP_SECRET,
          ecsServices: [{ cluster: 'production', service: 'arn:aws:ecs:eu-west-1:123456789012:service/production/shop-api' }],
          lambdaFunctions: ['arn:aws:lambda:eu-west-1:123456789012:function:shop-worker'],
        }),
        // Its own secret and another cluster's service of the same name are its own; a function of shop-api's by name is
        // any account's of that name (the deployment's account is not known here), but not shop-admin's other account's ARN.
        application('shop-staging', {
          connectionSecretArn: NEW_SECRET,
          ecsServices: [{ cluster: 'staging', service: 'shop-api' }],
          lambdaFunctions: ['arn:aws:lambda:eu-west-1:210987654321:function:shop-worker'],
        }),
      ],
    });
    expect(result.error?.issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([
      [
        'applications.1.connectionSecretArn',
        `shop-api and shop-admin are both configured on the connection secret ${APP_SECRET}: a cutover of one would switch the other too; give each application its own secret, or make them one application`,
      ],
      [
        'applications.1.ecsServices.0',
        "shop-api and shop-admin are both configured on the ECS service arn:aws:ecs:eu-west-1:123456789012:service/production/shop-api in cluster production: a cutover of one would restart the other's tasks onto its own connection; configure the service for one application only",
      ],
      [
        'applications.1.lambdaFunctions.0',
        "shop-api and shop-admin are both configured on the Lambda function arn:aws:lambda:eu-west-1:123456789012:function:shop-worker: a cutover of one would restart the other's function onto its own connection; configure the function for one application only",
      ],
      [
        'applications.2.lambdaFunctions.0',
        "shop-api and shop-staging are both configured on the Lambda function arn:aws:lambda:eu-west-1:210987654321:function:shop-worker: a cutover of one would restart the other's function onto its own connection; configure the function for one application only",
      ],
    ]);
  });
});

describe('the name a failed cutover ends with', async () => {
  const request = await validateInput({ application: 'shop-api', database: { secretArn: NEW_SECRET } }, execution, settings, now);
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
    expect(before).toMatchObject({
      error: 'DatabaseUnreachable',
      cause: 'cannot connect to shop_app@new:5432/shop',
      page: false,
      keepLock: false,
    });
    expect(conclude({ request, error: { Error: 'DynamoDB.AmazonDynamoDBException', Cause: 'throttled' } } as CutoverState).error).toBe(
      'CutoverFailed',
    );
    const stuck = conclude({
      request,
      error: lambdaError('CutoverFailed', 'x'),
      unfreezeError: lambdaError('DatabaseUnreachable', 'old is down'),
    } as CutoverState);
    expect(stuck).toMatchObject({
      page: true,
      keepLock: false,
      cause: expect.stringMatching(/could not be lifted: old is down; lift it by hand\.$/),
    });
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
      keepLock: false,
      cause:
        'switching shop-api failed with HealthCheckFailed: new side unhealthy. Rolled back. Health after the rollback: old side healthy.',
    });
    expect(
      conclude({ ...rolledBack, rollback: { ...rolledBack.rollback, health: report(false, 'old side down') } } as CutoverState),
    ).toMatchObject({
      error: 'RollbackUnhealthy',
      page: true,
      keepLock: true,
      cause: expect.stringContaining('The lock on shop-api is kept, with no expiry'),
    });
    expect(
      conclude({ request, error: rolledBack.error, rollbackError: lambdaError('SecretUnreadable', 'denied') } as CutoverState),
    ).toMatchObject({
      error: 'RollbackUnhealthy',
      keepLock: true,
      cause: expect.stringMatching(
        /The rollback failed with SecretUnreadable: denied\. The lock on shop-api is kept, .* clear it: lifeline unlock shop-api/,
      ),
    });
  });

  it("is SecretChanged, paging, when the revert found someone else's version of the secret current and left it", () => {
    const changed = conclude({
      request,
      error: { Error: 'HealthCheckFailed', Cause: 'new side unhealthy' },
      rollbackError: lambdaError('SecretChanged', 'secret x changed under the cutover: AWSCURRENT is v3; it was left as it is'),
    } as CutoverState);
    expect(changed).toEqual({
      error: 'SecretChanged',
      cause:
        'switching shop-api failed with HealthCheckFailed: new side unhealthy. Not rolled back: secret x changed under the cutover: AWSCURRENT is v3; it was left as it is. Someone else changed the connection secret during the cutover; check which database shop-api should use and restart it. ' +
        'The lock on shop-api is kept, with no expiry, so that no other cutover starts from this state and records it as the one to go back to; ' +
        'once shop-api is checked and on the database it should use, clear it: lifeline unlock shop-api --region eu-west-1 --reason "<what you checked>".',
      subject: "Lifeline: shop-api's connection secret changed during its cutover",
      message: expect.stringMatching(/^ACTION NEEDED: switching shop-api failed .* Execution arn:aws:states:.*:run-1\.$/),
      page: true,
      keepLock: true,
    });
  });
});
