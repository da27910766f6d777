import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { RestoreSettings } from '../../../lambdas/core/workflows/restore-state.js';
import {
  RUNNER_RESTORE_COMMAND,
  RUNNER_STAGING_DIR,
  RUNNER_USER,
  runnerEnvironment,
} from '../../../lambdas/core/workflows/runner-environment.js';
import { LifelineError } from '../../../lambdas/core/errors.js';
import { parseConfig } from '../../../lib/config/load.js';
import type { LifelineConfig } from '../../../lib/config/schema.js';
import {
  deployedPolicyLength,
  exampleConfig,
  exampleJson,
  manyDatabasesConfig,
  roleStatements,
  synthesize,
  deployedText as text,
  type Synthesized,
} from '../../support/stacks.js';

let synth: Synthesized;
let restore: Template;
let resources: Record<string, any>;
beforeAll(() => {
  synth = synthesize(exampleConfig());
  restore = synth.restoreTemplate!;
  resources = restore.toJSON().Resources;
});

const SHOP_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-shop-AbC123';
const STAGING_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-staging-GhI789';
const WAREHOUSE_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-warehouse-DeF456';
const SHOP_API_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-api/database-Xy12Ab';
const WAREHOUSE_SECRET_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

function logicalId(type: string, properties: Record<string, unknown>): string {
  const ids = Object.keys(restore.findResources(type, { Properties: properties }));
  expect(ids, `${type} matching ${JSON.stringify(properties)}`).toHaveLength(1);
  return ids[0]!;
}

/** A role's statements, each with its actions and resources as readable text. */
const statementsOf = (roleId: string) => roleStatements(resources, roleId);

const roleOf = (functionName: string) =>
  (resources[logicalId('AWS::Lambda::Function', { FunctionName: functionName })].Properties.Role['Fn::GetAtt'] as string[])[0]!;
const secretsOf = (roleId: string) =>
  statementsOf(roleId)
    .find((s) => s.sid === 'ReadConfiguredSecrets')
    ?.resources.sort() ?? [];
const vaultObjects = (tier: string) => `arn:<AWS::Partition>:s3:::lifeline-vault-<AWS::AccountId>-<AWS::Region>/${tier}/*`;

/** A deploy-time value as it deploys in eu-west-1 of account 123456789012; created resources stay <references>. */
const deployed = (node: unknown) =>
  text(node).replaceAll('<AWS::Partition>', 'aws').replaceAll('<AWS::Region>', 'eu-west-1').replaceAll('<AWS::AccountId>', '123456789012');

/** What the restore steps handler parses from its environment, with core's own schema. */
function settingsOf(functionName: string): RestoreSettings {
  const fn = resources[logicalId('AWS::Lambda::Function', { FunctionName: functionName })];
  return RestoreSettings.parse(JSON.parse(deployed(fn.Properties.Environment.Variables.LIFELINE_RESTORE_SETTINGS)));
}

describe('the restore stack', () => {
  it('is its own stack, deployed after the vault', () => {
    expect(synth.restore!.stackName).toBe('lifeline-restore');
    expect(synth.restore!.dependencies.map((stack) => stack.stackName)).toEqual(['lifeline-vault']);
  });

  it('outputs the state machine ARN, name and console URL, nothing else', () => {
    const outputs = restore.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs).sort()).toEqual(['ConsoleUrl', 'StateMachineArn', 'StateMachineName']);
    const machine = logicalId('AWS::StepFunctions::StateMachine', {});
    expect(text(outputs.ConsoleUrl!.Value)).toBe(
      `https://<AWS::Region>.console.aws.amazon.com/states/home?region=<AWS::Region>#/statemachines/view/<${machine}>`,
    );
  });
});

describe('the runner', () => {
  it('is a Fargate task of the newest backup image with the container the state machine overrides', () => {
    const taskDefinition = Object.values(restore.findResources('AWS::ECS::TaskDefinition'))[0]!.Properties;
    expect(taskDefinition).toMatchObject({
      Family: 'lifeline-restore-runner',
      Cpu: '2048',
      Memory: '8192',
      RequiresCompatibilities: ['FARGATE'],
    });
    expect(taskDefinition.ContainerDefinitions).toHaveLength(1);
    const container = taskDefinition.ContainerDefinitions[0];
    expect(container.Name).toBe('runner');
    expect([...container.EntryPoint, ...container.Command]).toEqual(RUNNER_RESTORE_COMMAND);
    expect(container.User).toBe(RUNNER_USER);
    expect(container.ReadonlyRootFilesystem).toBe(true);
    expect(container.MountPoints).toEqual([{ ContainerPath: RUNNER_STAGING_DIR, ReadOnly: false, SourceVolume: 'staging' }]);
    expect(taskDefinition.Volumes).toEqual([{ Name: 'staging' }]);
    // The job is not in the task definition: it comes per run, in the container override.
    const expected = runnerEnvironment({ bucket: 'lifeline-vault-<AWS::AccountId>-<AWS::Region>', stagingDir: RUNNER_STAGING_DIR });
    expect(Object.fromEntries(container.Environment.map((v: { Name: string; Value: unknown }) => [v.Name, text(v.Value)]))).toEqual(
      expected,
    );
    // The image the vault stack publishes for pg 17, the newest the example's databases use.
    expect(container.Image['Fn::Sub']).toMatch(/container-assets/);
    const tag = (container.Image['Fn::Sub'] as string).split(':').at(-1)!;
    const warehouseFunction = synth.backupsTemplates[0]!.toJSON().Resources;
    const warehouseTag = (
      Object.values(warehouseFunction).find((r: any) => r.Properties?.FunctionName === 'lifeline-backup-warehouse') as any
    ).Properties.Code.ImageUri['Fn::Join'][1].at(-1) as string;
    expect(`:${tag}`).toBe(warehouseTag);
  });

  it('logs to a KMS-encrypted log group with a retention', () => {
    const container = Object.values(restore.findResources('AWS::ECS::TaskDefinition'))[0]!.Properties.ContainerDefinitions[0];
    expect(container.LogConfiguration.LogDriver).toBe('awslogs');
    const group = resources[container.LogConfiguration.Options['awslogs-group'].Ref].Properties;
    expect(text(group.KmsKeyId)).toMatch(/^<LogsKey[0-9A-F]+\.Arn>$/);
    expect(group.RetentionInDays).toBe(90);
  });

  it('runs in a cluster with container insights and no VPC of its own', () => {
    restore.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
    restore.resourceCountIs('AWS::EC2::VPC', 0);
  });

  it("may read the vault and the configured databases' secrets, nothing more", () => {
    const taskRole = (
      Object.values(restore.findResources('AWS::ECS::TaskDefinition'))[0]!.Properties.TaskRoleArn['Fn::GetAtt'] as string[]
    )[0]!;
    const statements = statementsOf(taskRole);
    expect(statements.map((s) => [s.sid, s.actions])).toEqual([
      ['ReadBackups', ['s3:GetObject']],
      ['ListBackups', ['s3:ListBucket']],
      ['DecryptBackupsThroughS3', ['kms:Decrypt']],
      ['ReadConfiguredSecrets', ['secretsmanager:GetSecretValue']],
      ['DecryptConfiguredSecrets', ['kms:Decrypt']],
      ['DescribeConfiguredInstances', ['rds:DescribeDBInstances']],
    ]);
    expect(statements[0]!.resources).toEqual(['daily', 'weekly', 'monthly'].map(vaultObjects));
    expect(secretsOf(taskRole)).toEqual([SHOP_SECRET, STAGING_SECRET, WAREHOUSE_SECRET].sort());
    expect(statements[4]!.resources).toEqual([WAREHOUSE_SECRET_KEY]);
    expect(resources[taskRole].Properties.Path).toBe('/lifeline-runtime/');
  });
});

describe('the restore steps functions', () => {
  it('run the restore handler of the same image: one outside any VPC, one in each network with databases', () => {
    restore.resourceCountIs('AWS::Lambda::Function', 3);
    for (const name of ['lifeline-restore', 'lifeline-restore-production', 'lifeline-restore-analytics']) {
      restore.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: name,
        PackageType: 'Image',
        ImageConfig: { Command: ['restore.handler'] },
        Timeout: 900,
      });
    }
    const vpcOf = (name: string) => resources[logicalId('AWS::Lambda::Function', { FunctionName: name })].Properties.VpcConfig;
    expect(vpcOf('lifeline-restore')).toBeUndefined();
    const production = vpcOf('lifeline-restore-production');
    expect(production.SubnetIds).toEqual(['subnet-0a1b2c3d4e5f67890', 'subnet-1a1b2c3d4e5f67890']);
    expect(text(production.SecurityGroupIds[0])).toMatch(/^<NetworkproductionSecurityGroup.*\.GroupId>$/);
    const analytics = vpcOf('lifeline-restore-analytics');
    expect(analytics.SubnetIds).toEqual(['subnet-2a1b2c3d4e5f67890']);
    expect(text(analytics.SecurityGroupIds[0])).toMatch(/^<NetworkanalyticsSecurityGroup.*\.GroupId>$/);
  });

  it("reach their network's databases: out to each database's group and port, and in on it", () => {
    const production = Object.entries(restore.findResources('AWS::EC2::SecurityGroup')).find(([id]) =>
      id.startsWith('Networkproduction'),
    )![1];
    expect(
      production.Properties.SecurityGroupEgress.map((rule: any) => [rule.FromPort, rule.DestinationSecurityGroupId ?? rule.CidrIp]),
    ).toEqual([
      [443, '0.0.0.0/0'],
      [5432, 'sg-0a1b2c3d4e5f67890'],
      [5432, 'sg-2a1b2c3d4e5f67890'],
    ]);
    const ingress = Object.values(restore.findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    expect(
      ingress
        .filter((rule) => rule.Description === 'PostgreSQL from Lifeline restores')
        .map((rule) => [rule.GroupId, rule.FromPort])
        .sort(),
    ).toEqual([
      ['sg-0a1b2c3d4e5f67890', 5432],
      ['sg-1a1b2c3d4e5f67890', 5433],
      ['sg-2a1b2c3d4e5f67890', 5432],
    ]);
  });

  it("read only the secrets of their own network's databases and applications; the one outside a VPC reads none", () => {
    expect(secretsOf(roleOf('lifeline-restore'))).toEqual([]);
    expect(secretsOf(roleOf('lifeline-restore-production'))).toEqual([SHOP_SECRET, STAGING_SECRET, SHOP_API_SECRET].sort());
    expect(secretsOf(roleOf('lifeline-restore-analytics'))).toEqual([WAREHOUSE_SECRET]);
    for (const name of ['lifeline-restore', 'lifeline-restore-production', 'lifeline-restore-analytics']) {
      const statements = statementsOf(roleOf(name));
      expect(statements.filter((s) => s.actions.some((a) => a.startsWith('s3:'))).flatMap((s) => s.actions)).toEqual([
        's3:GetObject',
        's3:ListBucket',
      ]);
    }
  });

  it("carry settings that core's schema accepts, naming each database's network function and runner network", () => {
    const settings = settingsOf('lifeline-restore');
    expect(settingsOf('lifeline-restore-production')).toEqual(settings);
    expect(settings.bucket).toBe('lifeline-vault-123456789012-eu-west-1');
    expect(settings.runnerVcpus).toBe(2);
    expect(settings.approvalTimeoutSeconds).toBe(24 * 3600);
    const functionArn = (name: string) => `arn:aws:lambda:eu-west-1:123456789012:function:${name}`;
    expect(settings.databases.map((db) => [db.name, db.stepsFunctionArn, db.runner.subnetIds])).toEqual([
      ['shop', functionArn('lifeline-restore-production'), ['subnet-0a1b2c3d4e5f67890', 'subnet-1a1b2c3d4e5f67890']],
      ['warehouse', functionArn('lifeline-restore-analytics'), ['subnet-2a1b2c3d4e5f67890']],
      ['staging', functionArn('lifeline-restore-production'), ['subnet-0a1b2c3d4e5f67890', 'subnet-1a1b2c3d4e5f67890']],
    ]);
    expect(settings.databases[0]!.runner.securityGroupIds[0]).toMatch(/^<NetworkproductionSecurityGroup/);
    expect(settings.applications).toEqual([{ name: 'shop-api', database: 'shop', connectionSecretArn: SHOP_API_SECRET }]);
  });
});

/** A config with a `restore` section, parsed as the synth would. */
const withRestore = (config: LifelineConfig, restore: Record<string, unknown> = {}) => parseConfig({ ...config, restore });

/** The synth's error for a config, or a failure when it synthesizes. */
function synthError(config: LifelineConfig): LifelineError {
  try {
    synthesize(config);
  } catch (error) {
    expect(error).toBeInstanceOf(LifelineError);
    return error as LifelineError;
  }
  throw new Error('the config synthesized');
}

/** How many databases the limit error says fit, checked against the rest of its wording. */
function databasesThatFit(error: LifelineError, databases: number): number {
  expect(error.name).toBe('InvalidConfig');
  const match = new RegExp(
    `^restore: the restore workflow supports up to (\\d+) databases per deployment for now \\(its settings must fit Lambda's 4 KB environment, 4096 bytes: this config's ${databases} databases need up to (\\d+), its first \\1 fit\\); deploy it from a config with fewer databases or leave "restore" out$`,
  ).exec(error.message);
  expect(match, error.message).not.toBeNull();
  expect(Number(match![2])).toBeGreaterThan(4096);
  return Number(match![1]);
}

describe('the restore workflow', () => {
  it('is deployed only with a "restore" section; without one, the vault and backups are the same', () => {
    const json = exampleJson();
    delete json.restore;
    const without = synthesize(parseConfig(json));
    expect(without.restore).toBeUndefined();
    expect(without.assembly.stacks.map((stack) => stack.stackName).sort()).toEqual([
      'lifeline-backups-1',
      'lifeline-cutover',
      'lifeline-vault',
    ]);
    expect(without.backupsTemplates.map((template) => template.toJSON())).toEqual(
      synth.backupsTemplates.map((template) => template.toJSON()),
    );
    expect(without.vaultTemplate.toJSON().Resources).toEqual(synth.vaultTemplate.toJSON().Resources);
  });

  it("sizes the runner from restore.runner: the task's CPU and memory, and the steps' default --jobs", () => {
    const sized = synthesize(withRestore(exampleConfig(), { runner: { vcpus: 8, memoryGiB: 32 } })).restoreTemplate!;
    const taskDefinition = Object.values(sized.findResources('AWS::ECS::TaskDefinition'))[0]!.Properties;
    expect(taskDefinition).toMatchObject({ Cpu: '8192', Memory: '32768' });
    const steps = Object.values(sized.findResources('AWS::Lambda::Function', { Properties: { FunctionName: 'lifeline-restore' } }))[0]!;
    const settings = RestoreSettings.parse(JSON.parse(deployed(steps.Properties.Environment.Variables.LIFELINE_RESTORE_SETTINGS)));
    expect(settings.runnerVcpus).toBe(8);
  });

  it("refuses, at synth, a config whose settings would not fit Lambda's environment, naming how many databases fit", () => {
    const fit = databasesThatFit(synthError(withRestore(manyDatabasesConfig(40, 1))), 40);
    expect(fit).toBeGreaterThan(0);
    expect(fit).toBeLessThan(40);
    // The number is exact: that many of these databases deploy, one more does not.
    expect(synthesize(withRestore(manyDatabasesConfig(fit, 1))).restore).toBeDefined();
    expect(databasesThatFit(synthError(withRestore(manyDatabasesConfig(fit + 1, 1))), fit + 1)).toBe(fit);
  });

  it("keeps every role's policies within IAM's 10,240 characters at the limit, for the databases that grow them most", () => {
    // Each database with a key of its own and an RDS lookup, all in one network: the most policy per setting.
    const hex = (n: number, length: number) => n.toString(16).padStart(length, '0');
    const heavy = (count: number) =>
      parseConfig({
        notifications: { emails: ['oncall@example.com'] },
        restore: {},
        networks: [{ name: 'n', vpcId: `vpc-${hex(0, 17)}`, subnetIds: [`subnet-${hex(0, 17)}`] }],
        databases: Array.from({ length: count }, (_, i) => ({
          name: `d${i}`,
          secretArn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:d${i}-AbCdEf`,
          secretKmsKeyArn: `arn:aws:kms:eu-west-1:123456789012:key/${hex(i, 8)}-1234-1234-1234-123456789012`,
          rds: { clusterIdentifier: `d${i}` },
          network: 'n',
          securityGroupId: `sg-${hex(i, 17)}`,
          postgresVersion: 17,
          schedule: { cron: '30 3 * * ? *', timeZone: 'UTC' },
        })),
      });
    const fit = databasesThatFit(synthError(heavy(40)), 40);
    const template = synthesize(heavy(fit)).restoreTemplate!.toJSON();
    const lengths = Object.values(template.Resources as Record<string, any>)
      .filter((resource) => resource.Type === 'AWS::IAM::Role' && resource.Properties.Policies)
      .map((resource) => deployedPolicyLength(resource.Properties.Policies));
    console.info(`${fit} databases at the limit: restore role policies of ${lengths.join(', ')} of 10240 characters`);
    expect(lengths).toHaveLength(4);
    for (const length of lengths) expect(length).toBeLessThanOrEqual(10_240);
  });
});

describe('the state machine', () => {
  it('is restore.asl.json with every placeholder filled in', () => {
    const machine = Object.values(restore.findResources('AWS::StepFunctions::StateMachine'))[0]!.Properties;
    expect(machine.StateMachineName).toBe('lifeline-restore');
    const definition = readFileSync(new URL('../../../state-machines/restore.asl.json', import.meta.url), 'utf8');
    // The definition is deployed as a file asset, staged in the cloud assembly under its hash.
    expect(readFileSync(join(synth.assembly.directory, `asset.${machine.DefinitionS3Location.Key}`), 'utf8')).toBe(definition);
    const substitutions = machine.DefinitionSubstitutions as Record<string, unknown>;
    const rendered = Object.entries(substitutions).reduce((body, [name, value]) => body.replaceAll(`\${${name}}`, text(value)), definition);
    expect(rendered).not.toContain('${');
    expect(Object.fromEntries(Object.entries(substitutions).map(([name, value]) => [name, text(value)]))).toEqual({
      RestoreStepsFunctionArn: 'arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:lifeline-restore',
      RunnerClusterArn: expect.stringMatching(/^<RunnerCluster.*\.Arn>$/),
      RunnerTaskDefinitionArn: expect.stringMatching(/^<RunnerTaskDefinition[0-9A-F]+>$/),
      ApprovalsTopicArn: expect.stringMatching(/^<ApprovalsTopic/),
      NotificationsTopicArn: expect.stringMatching(/^<import lifeline-vault:ExportsOutputRefNotificationsTopic/),
      CutoverStateMachineArn: 'arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:lifeline-cutover',
    });
  });

  it('logs everything, execution data included, to a KMS-encrypted group, and is traced', () => {
    const machine = Object.values(restore.findResources('AWS::StepFunctions::StateMachine'))[0]!.Properties;
    expect(machine.LoggingConfiguration.Level).toBe('ALL');
    expect(machine.LoggingConfiguration.IncludeExecutionData).toBe(true);
    const groupId = machine.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0];
    expect(resources[groupId].Properties.KmsKeyId).toBeDefined();
    expect(resources[groupId].Properties.LogGroupName).toBe('/aws/vendedlogs/states/lifeline-restore');
    expect(machine.TracingConfiguration).toEqual({ Enabled: true });
  });

  it('may run only the runner, pass only its roles, invoke only its functions and publish only to its topics', () => {
    const machine = Object.values(restore.findResources('AWS::StepFunctions::StateMachine'))[0]!.Properties;
    const statements = statementsOf(machine.RoleArn['Fn::GetAtt'][0]);
    const of = (sid: string) => statements.find((s) => s.sid === sid)!;
    expect(of('RunTheRunner').actions).toEqual(['ecs:RunTask']);
    expect(of('RunTheRunner').resources).toEqual([expect.stringMatching(/^<RunnerTaskDefinition[0-9A-F]+>$/)]);
    expect(of('FollowTheRunner').resources).toEqual([
      expect.stringMatching(/^arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task\/<RunnerCluster.*>\/\*$/),
    ]);
    // The definition propagates the task definition's tags, and ECS authorizes that as TagResource on creation only.
    const definition = JSON.parse(readFileSync(new URL('../../../state-machines/restore.asl.json', import.meta.url), 'utf8'));
    expect(definition.States.RunRestore.Parameters.PropagateTags).toBe('TASK_DEFINITION');
    expect(of('TagTheRunnerTask')).toMatchObject({ actions: ['ecs:TagResource'], resources: of('FollowTheRunner').resources });
    expect(of('TagTheRunnerTask').condition).toEqual({ StringEquals: { 'ecs:CreateAction': 'RunTask' } });
    expect(of('PassTheRunnerRoles').resources).toEqual([
      expect.stringMatching(/^<RunnerTaskRole.*\.Arn>$/),
      expect.stringMatching(/^<RunnerTaskDefinitionExecutionRole.*\.Arn>$/),
    ]);
    expect(of('EcsSyncRule').resources).toEqual([
      'arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:rule/StepFunctionsGetEventsForECSTaskRule',
    ]);
    expect(of('InvokeSteps').resources).toEqual(
      ['lifeline-restore', 'lifeline-restore-production', 'lifeline-restore-analytics'].map(
        (name) => `arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:${name}`,
      ),
    );
    expect(of('PublishToItsTopics').resources).toEqual([
      expect.stringMatching(/^<ApprovalsTopic/),
      expect.stringMatching(/^<import lifeline-vault:ExportsOutputRefNotificationsTopic/),
    ]);
    // Only log delivery and X-Ray, which take no resource-level permissions, are granted on "*".
    expect(statements.filter((s) => s.resources.includes('*')).map((s) => s.sid)).toEqual(['DeliverLogs', 'Trace']);
  });

  it('raises an alarm to the alarm topic when an execution fails, times out or is aborted', () => {
    const alarm = Object.values(restore.findResources('AWS::CloudWatch::Alarm'))[0]!.Properties;
    expect(alarm).toMatchObject({
      AlarmName: 'lifeline-restore-failed',
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
    });
    const metrics = (alarm.Metrics as any[])
      .filter((m) => m.MetricStat)
      .map((m) => [m.MetricStat.Metric.Namespace, m.MetricStat.Metric.MetricName]);
    expect(metrics.sort()).toEqual([
      ['AWS/States', 'ExecutionsAborted'],
      ['AWS/States', 'ExecutionsFailed'],
      ['AWS/States', 'ExecutionsTimedOut'],
    ]);
    expect(alarm.AlarmActions.map(text)).toEqual([expect.stringMatching(/^<import lifeline-vault:ExportsOutputRefNotificationsTopic/)]);
  });
});

describe('the approvals topic', () => {
  it('is encrypted, TLS only, and e-mails the approvers', () => {
    const topic = logicalId('AWS::SNS::Topic', { DisplayName: 'Lifeline approvals' });
    expect(resources[topic].Properties.KmsMasterKeyId).toBeDefined();
    restore.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'dba@example.com', TopicArn: { Ref: topic } });
    restore.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: [Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })] },
    });
  });
});

describe('every role of the restore stack', () => {
  it('may neither write nor delete in S3, nor run, pass or invoke anything on "*"', () => {
    const roles = Object.keys(restore.findResources('AWS::IAM::Role')).filter((id) => resources[id].Properties.Policies);
    expect(roles.length).toBe(5);
    for (const id of roles) {
      for (const statement of statementsOf(id)) {
        for (const action of statement.actions)
          expect(action, `${id} ${statement.sid}`).not.toMatch(/^s3:(Put|Delete|Abort|Restore)|^s3:\*|^\*$/);
        if (statement.resources.includes('*')) {
          expect(
            statement.actions.filter((a) => /^(ecs|iam|lambda|sns|secretsmanager|s3|kms):/.test(a)),
            `${id} ${statement.sid}`,
          ).toEqual([]);
        }
      }
    }
  });
});
