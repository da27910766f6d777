import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { RestoreDatabase } from '../../../lambdas/core/restore/catalog.js';
import { parseConfig } from '../../../lib/config/load.js';
import { exampleConfig, exampleJson, roleStatements, synthesize, deployedText as text } from '../../support/stacks.js';

/** The example's shop-api has migrations: its own image from ECR, `npx prisma migrate deploy`. */

let restore: Template;
let group: Template;
let resources: Record<string, any>;
beforeAll(() => {
  const synth = synthesize(exampleConfig());
  restore = synth.restoreTemplate!;
  group = synth.restoreGroupTemplates[0]!;
  resources = { ...restore.toJSON().Resources, ...group.toJSON().Resources };
});

const migrationsTask = () => {
  const found = Object.values(group.findResources('AWS::ECS::TaskDefinition', { Properties: { Family: 'lifeline-migrations-shop-api' } }));
  expect(found).toHaveLength(1);
  return found[0]!.Properties;
};
const targetSecretId = () => {
  const ids = Object.keys(
    group.findResources('AWS::SecretsManager::Secret', { Properties: { Name: 'lifeline/lifeline/migrations/shop-api' } }),
  );
  expect(ids).toHaveLength(1);
  return ids[0]!;
};
const roleOfFunction = (functionName: string) =>
  Object.values(group.findResources('AWS::Lambda::Function', { Properties: { FunctionName: functionName } }))[0]!.Properties.Role[
    'Fn::GetAtt'
  ][0] as string;

describe("an application's migrations task", () => {
  it("runs the application's own image and command, DATABASE_URL from its target secret's key, nothing secret in its environment", () => {
    const task = migrationsTask();
    const [container] = task.ContainerDefinitions;
    expect(container.Image).toBe('123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop-api:2026.11.30');
    expect(container.Command).toEqual(['npx', 'prisma', 'migrate', 'deploy']);
    expect(container.Secrets).toEqual([
      { Name: 'DATABASE_URL', ValueFrom: { 'Fn::Join': ['', [{ Ref: targetSecretId() }, ':DATABASE_URL::']] } },
    ]);
    // The one variable: npx's and Prisma's caches go to the writable /tmp, the root filesystem being read-only.
    expect(container.Environment).toEqual([{ Name: 'HOME', Value: '/tmp' }]);
    expect(container.ReadonlyRootFilesystem).toBe(true);
    expect(task.Cpu).toBe('1024');
    expect(task.Memory).toBe('2048');
  });

  it('keeps its target secret under a key of its own, released until a restore holds it', () => {
    const secret = group.toJSON().Resources[targetSecretId()].Properties;
    expect(secret.KmsKeyId).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^MigrationsKey/), 'Arn'] });
    expect(JSON.parse(secret.SecretString)).toEqual({ released: true });
  });

  it('has a task role with no policy, and an execution role that pulls only its repository and reads only its target secret', () => {
    const task = migrationsTask();
    const taskRole = task.TaskRoleArn['Fn::GetAtt'][0];
    expect(resources[taskRole].Properties.Policies).toBeUndefined();
    expect(Object.values(group.findResources('AWS::IAM::Policy')).filter((p) => text(p.Properties.Roles).includes(taskRole))).toEqual([]);
    const executionRole = task.ExecutionRoleArn['Fn::GetAtt'][0];
    // CDK grants the execution role in policies of its own.
    const statements = Object.values(group.findResources('AWS::IAM::Policy'))
      .filter((policy) => text(policy.Properties.Roles).includes(executionRole))
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement as any[])
      .map((statement) => ({ sid: statement.Sid, actions: [statement.Action].flat(), resources: [statement.Resource].flat().map(text) }));
    expect(statements.find((s) => s.sid === 'PullTheApplicationImage')?.resources).toEqual([
      'arn:<AWS::Partition>:ecr:eu-west-1:123456789012:repository/shop-api',
    ]);
    const reads = statements.filter((s) => s.actions.includes('secretsmanager:GetSecretValue'));
    expect(reads.flatMap((s) => s.resources)).toEqual([`<${targetSecretId()}>`]);
    // Passed by the restore and PITR workflows by a path of their own, apart from the runners' and the runtime's roles.
    for (const role of [taskRole, executionRole]) expect(resources[role].Properties.Path).toBe('/lifeline-migrations/');
  });

  it("is run by the restore workflow on its cluster, and its target secret is written only by the steps function in its database's network", () => {
    const machine = Object.values(restore.findResources('AWS::StepFunctions::StateMachine'))[0]!.Properties;
    const run = roleStatements(resources, machine.RoleArn['Fn::GetAtt'][0]).find((s) => s.sid === 'RunTheMigrations');
    expect(run).toMatchObject({
      actions: ['ecs:RunTask'],
      resources: ['arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition/lifeline-migrations-*:*'],
      condition: { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': ['Cluster', 'Arn'] } } },
    });
    const writers = (functionName: string) =>
      roleStatements(resources, roleOfFunction(functionName)).filter((s) => s.actions.includes('secretsmanager:PutSecretValue'));
    // shop is in network production; analytics' steps function reaches no shop-api restore.
    expect(writers('lifeline-restore1-production')).toEqual([
      expect.objectContaining({
        actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret', 'secretsmanager:PutSecretValue'],
        resources: [`<${targetSecretId()}>`],
      }),
    ]);
    expect(writers('lifeline-restore1-analytics')).toEqual([]);
  });

  it("is where shop's catalog entry sends shop-api's migrations, with its timeout", () => {
    const parameter = Object.values(
      group.findResources('AWS::SSM::Parameter', { Properties: { Name: '/lifeline/lifeline/restore/1/shop' } }),
    )[0]!;
    // The steps function's ARN is a deploy-time value; the rest is the entry as core reads it.
    const entry = RestoreDatabase.shape.applications.parse(JSON.parse(text(parameter.Properties.Value)).applications);
    expect(entry).toEqual([
      expect.objectContaining({
        name: 'shop-api',
        migrations: {
          taskDefinition: 'lifeline-migrations-shop-api',
          targetSecret: 'lifeline/lifeline/migrations/shop-api',
          timeoutSeconds: 1800,
          command: ['npx', 'prisma', 'migrate', 'deploy'],
        },
      }),
    ]);
  });

  it('is refused without a restore workflow, and without an image or with one without a tag or digest, naming the field', () => {
    const withoutRestore = exampleJson();
    delete withoutRestore.restore;
    delete withoutRestore.pitr;
    delete withoutRestore.drill;
    expect(() => parseConfig(withoutRestore, 'config.json')).toThrow(/applications\[0\]\.migrations: needs `restore`/);
    const untagged = exampleJson();
    untagged.applications[0].migrations.image = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop-api';
    expect(() => parseConfig(untagged, 'config.json')).toThrow(
      /applications\[0\]\.migrations\.image: must be an image reference with a tag or digest/,
    );
    // The image holds the application's migrations: there is no default.
    const imageless = exampleJson();
    delete imageless.applications[0].migrations.image;
    expect(() => parseConfig(imageless, 'config.json')).toThrow(/applications\[0\]\.migrations\.image/);
  });
});
