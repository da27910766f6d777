import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeServicesCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyFreeze, liftFreeze, recordFreeze } from '../../../../lambdas/core/cutover/freeze.js';
import { CutoverApplication } from '../../../../lambdas/core/cutover/state.js';
import { recordWorkloads } from '../../../../lambdas/core/cutover/workloads.js';
import { deadlineAfter } from '../../../../lambdas/core/deadline.js';
import { FakeEcs } from '../../../support/control-planes.js';
import { startMoto, type MotoServer } from '../../../support/moto.js';

/**
 * The scale-to-zero freeze against moto_server's ECS: UpdateService, DescribeServices, ListTasks and DescribeTasks
 * in their real wire shapes. moto runs no tasks for a service (its counts follow UpdateService at once) and ignores
 * ListTasks' serviceName, so the wait for tasks to stop is proved with the ECS stand-in (control-planes.ts) here and in
 * test/state-machines/cutover.test.ts.
 */

let moto: MotoServer;
let ecs: ECSClient;
const CLUSTER = 'production';
const APPLICATION = {
  name: 'shop-api',
  connectionSecretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:shop-api/connection-AbC123',
  ecsServices: [{ cluster: CLUSTER, service: 'shop-api' }],
  freeze: { mode: 'scale-to-zero' },
  healthCheck: { url: 'https://shop.example.com/health' },
};
// No database connection: scale-to-zero changes none.
const OLD = { host: '127.0.0.1', port: 1, database: 'shop', user: 'shop_api', sslMode: 'disable' as const };

const desiredCount = async (service: string) =>
  (await ecs.send(new DescribeServicesCommand({ cluster: CLUSTER, services: [service] }))).services![0]!.desiredCount;

beforeAll(async () => {
  moto = await startMoto();
  ecs = new ECSClient(moto.clientConfig);
  await ecs.send(new CreateClusterCommand({ clusterName: CLUSTER }));
  await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: 'shop-api',
      containerDefinitions: [{ name: 'api', image: 'shop-api:1', memory: 512 }],
    }),
  );
  await ecs.send(new CreateServiceCommand({ cluster: CLUSTER, serviceName: 'shop-api', taskDefinition: 'shop-api:1', desiredCount: 3 }));
});

afterAll(async () => {
  await moto.stop();
});

describe('the scale-to-zero freeze against ECS', () => {
  it('records the desired counts, scales the services to zero, finds no task left, and puts the counts back', async () => {
    const application = CutoverApplication.parse(APPLICATION);
    const { services } = await recordWorkloads(application, { ecs, lambda: undefined as never });
    expect(services).toEqual([
      { cluster: CLUSTER, service: 'shop-api', taskDefinition: expect.stringMatching(/task-definition\/shop-api:1$/), desiredCount: 3 },
    ]);
    const recorded = await recordFreeze(application.freeze, OLD, { ssm: new SSMClient(moto.clientConfig), services });
    expect(recorded).toEqual({ mode: 'scale-to-zero', services: [{ cluster: CLUSTER, service: 'shop-api', desiredCount: 3 }] });

    const sleeps: number[] = [];
    const drain = {
      deadline: deadlineAfter(60_000, 'cutover state Freeze'),
      pollMs: 1_000,
      sleep: (ms: number) => Promise.resolve(void sleeps.push(ms)),
    };
    const frozen = await applyFreeze(recorded, OLD, { ssm: undefined as never, ecs }, drain);
    expect(frozen).toEqual({ terminatedSessions: 0, stoppedTasks: 0 });
    // No task to wait for: it looked once.
    expect(sleeps).toEqual([]);
    expect(await desiredCount('shop-api')).toBe(0);

    await liftFreeze(recorded, OLD, { ssm: undefined as never, ecs });
    expect(await desiredCount('shop-api')).toBe(3);
    // Lifting again changes nothing more.
    await liftFreeze(recorded, OLD, { ssm: undefined as never, ecs });
    expect(await desiredCount('shop-api')).toBe(3);
  });

  it('fails CutoverFailed, naming the service, when its desired count is raised again while it drains (a scaling minimum above 0)', async () => {
    // ECS in its real shapes as aws-sdk-client-mock answers it (moto runs no service tasks), for this test only.
    const fake = new FakeEcs();
    try {
      const service = { cluster: CLUSTER, service: 'reports-web' };
      fake.add({
        ...service,
        taskDefinition: 'arn:aws:ecs:us-east-1:000000000000:task-definition/reports-web:4',
        desiredCount: 2,
        // Scaling raises it back to its minimum as soon as it is down; the tasks it starts take long to come up.
        stop: async () => void (await new ECSClient({}).send(new UpdateServiceCommand({ ...service, desiredCount: 1 }))),
        restart: () => new Promise(() => undefined),
      });
      const recorded = { mode: 'scale-to-zero' as const, services: [{ ...service, desiredCount: 2 }] };
      const drain = { deadline: deadlineAfter(60_000, 'cutover state Freeze'), pollMs: 1_000, sleep: () => delay(10) };
      await expect(applyFreeze(recorded, OLD, { ssm: undefined as never, ecs: new ECSClient({}) }, drain)).rejects.toMatchObject({
        name: 'CutoverFailed',
        message: expect.stringMatching(
          /^freeze scale-to-zero: the desired count of ECS service reports-web in cluster production was raised to 1 while it was scaled to zero/,
        ),
      });
    } finally {
      fake.mock.restore();
    }
  });

  it('is refused for an application without an ECS service, where the settings are parsed', () => {
    const result = CutoverApplication.safeParse({ ...APPLICATION, ecsServices: [], lambdaFunctions: ['shop-api-worker'] });
    expect(result.success).toBe(false);
    expect(result.error!.issues).toEqual([
      expect.objectContaining({
        path: ['freeze', 'mode'],
        message: 'freeze mode "scale-to-zero" scales ECS services to zero: it needs an ECS service',
      }),
    ]);
  });
});
