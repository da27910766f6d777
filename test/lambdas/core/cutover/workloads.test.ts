import {
  CreateClusterCommand,
  CreateServiceCommand,
  DeregisterTaskDefinitionCommand,
  DescribeServicesCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
} from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CutoverApplication, CutoverSettings, type Recorded } from '../../../../lambdas/core/cutover/state.js';
import { validateInput } from '../../../../lambdas/core/cutover/steps.js';
import { recordWorkloads, restartWorkloads } from '../../../../lambdas/core/cutover/workloads.js';
import { startMoto, type MotoServer } from '../../../support/moto.js';

/**
 * The application version a cutover deploys (its input's applicationVersion), against moto_server's ECS:
 * ListTaskDefinitions, DescribeServices and UpdateService in their real wire shapes and errors.
 */

let moto: MotoServer;
let ecs: ECSClient;
const CLUSTER = 'production';
const SERVICE = { cluster: CLUSTER, service: 'shop-api' };
const APPLICATION = CutoverApplication.parse({
  name: 'shop-api',
  connectionSecretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:shop-api/connection-AbC123',
  ecsServices: [SERVICE],
  healthCheck: { url: 'https://shop.example.com/health' },
});
// moto's account.
const arn = (family: string, revision: number) => `arn:aws:ecs:us-east-1:123456789012:task-definition/${family}:${revision}`;

const register = (family: string) =>
  ecs.send(new RegisterTaskDefinitionCommand({ family, containerDefinitions: [{ name: 'api', image: `${family}:x`, memory: 512 }] }));
const running = async () =>
  (await ecs.send(new DescribeServicesCommand({ cluster: CLUSTER, services: ['shop-api'] }))).services![0]!.taskDefinition;

beforeAll(async () => {
  moto = await startMoto();
  ecs = new ECSClient(moto.clientConfig);
  await ecs.send(new CreateClusterCommand({ clusterName: CLUSTER }));
  // shop-api:1..4, of which 3 is deregistered; shop-api-worker:1, a family whose name starts with the service's.
  for (let i = 0; i < 4; i += 1) await register('shop-api');
  await register('shop-api-worker');
  await ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: 'shop-api:3' }));
  await ecs.send(
    new CreateServiceCommand({ cluster: CLUSTER, serviceName: 'shop-api', taskDefinition: arn('shop-api', 4), desiredCount: 2 }),
  );
});

afterAll(async () => {
  await moto.stop();
});

const record = (version?: string) => recordWorkloads(APPLICATION, { ecs, lambda: undefined as never }, version);

describe('the application version a cutover deploys', () => {
  it('records the running task definition, and "previous" as the latest ACTIVE revision before it of the same family', async () => {
    expect((await record()).services).toEqual([{ ...SERVICE, taskDefinition: arn('shop-api', 4), desiredCount: 2 }]);
    // Revision 3 is INACTIVE: the one before the current that can run is 2.
    expect((await record('previous')).services).toEqual([
      { ...SERVICE, taskDefinition: arn('shop-api', 4), desiredCount: 2, deploy: arn('shop-api', 2) },
    ]);
    expect((await record('shop-api:1')).services[0]!.deploy).toBe(arn('shop-api', 1));
    expect((await record(arn('shop-api', 1))).services[0]!.deploy).toBe(arn('shop-api', 1));
  });

  it("refuses another family's task definition, an inactive or unknown revision, and no revision before the first", async () => {
    await expect(record('shop-api-worker:1')).rejects.toMatchObject({
      name: 'InvalidInput',
      message:
        "applicationVersion: shop-api-worker:1 is of the task definition family shop-api-worker, not shop-api, which ECS service shop-api in cluster production runs; a cutover deploys only the application's own task definitions",
    });
    await expect(record('shop-api:3')).rejects.toMatchObject({
      name: 'InvalidInput',
      message: 'applicationVersion: shop-api:3 is not an ACTIVE revision of shop-api',
    });
    await expect(record(arn('shop-api', 9))).rejects.toMatchObject({ name: 'InvalidInput' });
    // Another account's ARN of the same family and revision is not this one.
    await expect(record(arn('shop-api', 1).replace('123456789012', '111111111111'))).rejects.toMatchObject({ name: 'InvalidInput' });

    await ecs.send(
      new CreateServiceCommand({ cluster: CLUSTER, serviceName: 'first', taskDefinition: arn('shop-api', 1), desiredCount: 1 }),
    );
    const first = CutoverApplication.parse({ ...APPLICATION, ecsServices: [{ cluster: CLUSTER, service: 'first' }] });
    await expect(recordWorkloads(first, { ecs, lambda: undefined as never }, 'previous')).rejects.toMatchObject({
      name: 'InvalidInput',
      message:
        'applicationVersion: "previous": shop-api has no ACTIVE revision before 1, the one ECS service first in cluster production runs; name the revision to deploy',
    });
  });

  it('deploys the chosen task definition with the new connection, and the recorded one when rolling back', async () => {
    const recorded = { ...(await record('previous')), freeze: { mode: 'none' } } as unknown as Recorded;
    await restartWorkloads(recorded, 'new', { ecs, lambda: undefined as never }, new Date());
    expect(await running()).toBe(arn('shop-api', 2));
    await restartWorkloads(recorded, 'old', { ecs, lambda: undefined as never }, new Date());
    expect(await running()).toBe(arn('shop-api', 4));
  });

  it("is refused at ValidateInput unless it names a version of each of the application's own workloads, before anything is read", async () => {
    const WORKER = 'shop-api-worker';
    const refusal = (application: object, applicationVersion: string) =>
      validateInput(
        {
          application: 'shop-api',
          database: { secretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:shop-api/restored-DeF456' },
          applicationVersion,
        },
        { id: 'arn:aws:states:us-east-1:000000000000:execution:lifeline-cutover:x', startedAt: new Date().toISOString() },
        CutoverSettings.parse({ applications: [{ ...APPLICATION, ...application }] }),
        new Date(),
      ).then(
        () => 'accepted',
        (error: Error) => `${error.name}: ${error.message}`,
      );
    const functions = { ecsServices: [], lambdaFunctions: [WORKER], lambdaAlias: 'live' };
    // Functions take a version only through the alias they are invoked by.
    expect(await refusal({ lambdaFunctions: [WORKER] }, 'previous')).toBe(
      "InvalidInput: applicationVersion: shop-api's Lambda functions (shop-api-worker) have no alias configured (lambdaAlias): a cutover sets a function's " +
        "version through the alias it is invoked by; set the application's lambdaAlias, or leave applicationVersion out and deploy them yourself",
    );
    expect(await refusal({ lambdaFunctions: [WORKER], lambdaAlias: 'live' }, 'previous')).toBe('accepted');
    expect(await refusal(functions, '41')).toBe('accepted');
    expect(await refusal(functions, `arn:aws:lambda:us-east-1:000000000000:function:${WORKER}:41`)).toBe('accepted');
    // Another function's version, by its qualified ARN.
    expect(await refusal(functions, 'arn:aws:lambda:us-east-1:000000000000:function:billing-worker:41')).toBe(
      'InvalidInput: applicationVersion: arn:aws:lambda:us-east-1:000000000000:function:billing-worker:41 is a version of the Lambda function ' +
        "arn:aws:lambda:us-east-1:000000000000:function:billing-worker, not of shop-api's (shop-api-worker); a cutover deploys only the application's own functions",
    );
    expect(
      await refusal(
        { ...functions, lambdaFunctions: [WORKER, 'shop-api-mailer'] },
        `arn:aws:lambda:us-east-1:000000000000:function:${WORKER}:41`,
      ),
    ).toBe(
      `InvalidInput: applicationVersion: arn:aws:lambda:us-east-1:000000000000:function:${WORKER}:41 names a version of one of shop-api's 2 Lambda functions: ` +
        'give a version number, which applies to each, or "previous"',
    );
    // A version of one kind of workload does not name the other's.
    expect(await refusal(functions, 'shop-api:6')).toBe(
      'InvalidInput: applicationVersion: shop-api:6 is a task definition; shop-api has no ECS services: give a version of its Lambda functions or "previous"',
    );
    expect(await refusal({ lambdaFunctions: [WORKER], lambdaAlias: 'live' }, 'shop-api:6')).toBe(
      'InvalidInput: applicationVersion: shop-api:6 is a task definition; shop-api also has Lambda functions (shop-api-worker), whose version it does not name: ' +
        'give "previous", which applies to each',
    );
    expect(await refusal({}, '41')).toBe(
      'InvalidInput: applicationVersion: 41 is a Lambda function version; shop-api has no Lambda functions: give a task definition or "previous"',
    );
    expect(await refusal({ lambdaFunctions: [WORKER], lambdaAlias: 'live' }, '41')).toBe(
      'InvalidInput: applicationVersion: 41 is a Lambda function version; shop-api also has ECS services, whose task definition it does not name: ' +
        'give "previous", which applies to each',
    );
    expect(await refusal(functions, 'shop-api')).toBe(
      'InvalidInput: invalid cutover input: applicationVersion: must be "previous", a task definition such as "shop-api:41" or its ARN, or a Lambda function version such as "41" or its qualified ARN',
    );
  });
});
