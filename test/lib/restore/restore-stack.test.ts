import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SSMClient } from '@aws-sdk/client-ssm';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixedRestoreCatalog, RestoreDatabase, ssmRestoreCatalog } from '../../../lambdas/core/restore/catalog.js';
import { RestoreSettings, RestoreStepEvent } from '../../../lambdas/core/restore/state.js';
import { RUNNER_RESTORE_COMMAND, RUNNER_STAGING_DIR, RUNNER_USER, runnerEnvironment } from '../../../lambdas/core/runner/environment.js';
import { LifelineError } from '../../../lambdas/core/errors.js';
import { MAX_DATABASES_PER_STACK } from '../../../lambdas/core/database-groups.js';
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
import { FakeSsm } from '../../support/control-planes.js';

let synth: Synthesized;
/** The workflow's stack, and the example's one restore group (its one backups stack's). */
let restore: Template;
let group: Template;
let resources: Record<string, any>;
beforeAll(() => {
  synth = synthesize(exampleConfig());
  restore = synth.restoreTemplate!;
  group = synth.restoreGroupTemplates[0]!;
  resources = { ...restore.toJSON().Resources, ...group.toJSON().Resources };
});

const SHOP_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-shop-AbC123';
const STAGING_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-staging-GhI789';
const WAREHOUSE_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-warehouse-DeF456';
const SHOP_API_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-api/database-Xy12Ab';
const WAREHOUSE_SECRET_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

function logicalId(type: string, properties: Record<string, unknown>): string {
  const ids = [restore, group].flatMap((template) => Object.keys(template.findResources(type, { Properties: properties })));
  expect(ids, `${type} matching ${JSON.stringify(properties)}`).toHaveLength(1);
  return ids[0]!;
}

/** The backups stack's security group in a network, as the restore group imports it. */
const backupsGroup = (network: string) =>
  expect.stringMatching(
    new RegExp(`^<import lifeline-backups-1:ExportsOutputFnGetAttNetwork${network}SecurityGroup[0-9A-F]+GroupId[0-9A-F]+>$`),
  );

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
function settingsOf(functionName: string, template?: Template): RestoreSettings {
  const fn =
    template === undefined
      ? resources[logicalId('AWS::Lambda::Function', { FunctionName: functionName })]
      : Object.values(template.findResources('AWS::Lambda::Function', { Properties: { FunctionName: functionName } }))[0]!;
  return RestoreSettings.parse(JSON.parse(deployed(fn.Properties.Environment.Variables.LIFELINE_RESTORE_SETTINGS)));
}

describe('the restore stacks', () => {
  it('are the workflow and a restore group per backups stack, the groups deployed after the vault and before the workflow', () => {
    expect(synth.restore!.stackName).toBe('lifeline-restore');
    expect(synth.restoreGroups.map((stack) => stack.stackName)).toEqual(['lifeline-restore-1']);
    // And after the approvals stack, whose verify function its VerifyApproval names.
    expect(synth.restore!.dependencies.map((stack) => stack.stackName).sort()).toEqual([
      'lifeline-approvals',
      'lifeline-restore-1',
      'lifeline-vault',
    ]);
    expect(synth.restoreGroups[0]!.dependencies.map((stack) => stack.stackName).sort()).toEqual(['lifeline-backups-1', 'lifeline-vault']);
    // Its only outputs are what the PITR stack imports: shop-api's migrations target secret and its key.
    expect(Object.values(group.toJSON().Outputs ?? {}).map((output: any) => deployed(output.Value))).toEqual([
      expect.stringMatching(/^<MigrationsshopapiTargetSecret/),
      expect.stringMatching(/^<MigrationsKey.*\.Arn>$/),
    ]);
  });
});

describe("a restore group's runner", () => {
  it('is a Fargate task of the newest backup image with the container the state machine overrides', () => {
    restore.resourceCountIs('AWS::ECS::TaskDefinition', 0);
    const taskDefinition = Object.values(group.findResources('AWS::ECS::TaskDefinition'))[0]!.Properties;
    expect(taskDefinition).toMatchObject({
      Family: 'lifeline-restore-runner-1',
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
    const container = Object.values(group.findResources('AWS::ECS::TaskDefinition'))[0]!.Properties.ContainerDefinitions[0];
    expect(container.LogConfiguration.LogDriver).toBe('awslogs');
    const logGroup = resources[container.LogConfiguration.Options['awslogs-group'].Ref].Properties;
    expect(text(logGroup.KmsKeyId)).toMatch(/^<LogsKey[0-9A-F]+\.Arn>$/);
    expect(logGroup.RetentionInDays).toBe(90);
  });

  it("runs in the workflow's cluster, with container insights, and no VPC of its own", () => {
    restore.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
    group.resourceCountIs('AWS::ECS::Cluster', 0);
    for (const template of [restore, group]) template.resourceCountIs('AWS::EC2::VPC', 0);
  });

  it("may read the vault, its group's databases' secrets and the restore workflow's executions, nothing more, with roles the workflow passes by their path", () => {
    const taskDefinition = Object.values(group.findResources('AWS::ECS::TaskDefinition'))[0]!.Properties;
    const taskRole = (taskDefinition.TaskRoleArn['Fn::GetAtt'] as string[])[0]!;
    const statements = statementsOf(taskRole);
    expect(statements.map((s) => [s.sid, s.actions])).toEqual([
      ['ReadBackups', ['s3:GetObject']],
      ['ListBackups', ['s3:ListBucket']],
      ['DecryptBackupsThroughS3', ['kms:Decrypt']],
      ['ReadConfiguredSecrets', ['secretsmanager:GetSecretValue']],
      ['DecryptConfiguredSecrets', ['kms:Decrypt']],
      ['DescribeConfiguredInstances', ['rds:DescribeDBInstances']],
      ['ReadTheApprovingExecution', ['states:DescribeExecution', 'states:GetExecutionHistory']],
    ]);
    expect(statements[0]!.resources).toEqual(['daily', 'weekly', 'monthly'].map(vaultObjects));
    // Whose approval of an in-place job it checks: the restore workflow's executions, no other state machine's.
    expect(statements[6]!.resources).toEqual(['arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:lifeline-restore:*']);
    expect(secretsOf(taskRole)).toEqual([SHOP_SECRET, STAGING_SECRET, WAREHOUSE_SECRET].sort());
    // The keys of the account and region warehouse's key is in, through Secrets Manager only.
    expect(statements[4]!.resources).toEqual([WAREHOUSE_SECRET_KEY.replace(/key\/.*$/, 'key/*')]);
    expect(text((statements[4]!.condition as any).StringEquals['kms:ViaService'])).toBe('secretsmanager.<AWS::Region>.amazonaws.com');
    // Under the runtime path, which the vault's policy denies every delete.
    expect(resources[taskRole].Properties.Path).toBe('/lifeline-runtime/restore-runner/');
    expect(resources[(taskDefinition.ExecutionRoleArn['Fn::GetAtt'] as string[])[0]!].Properties.Path).toBe(
      '/lifeline-runtime/restore-runner/',
    );
  });
});

describe('the restore steps functions', () => {
  it("run the restore handler of the same image: the workflow's outside any VPC, the group's in each of its networks", () => {
    restore.resourceCountIs('AWS::Lambda::Function', 1);
    group.resourceCountIs('AWS::Lambda::Function', 2);
    for (const name of ['lifeline-restore', 'lifeline-restore1-production', 'lifeline-restore1-analytics']) {
      expect(resources[logicalId('AWS::Lambda::Function', { FunctionName: name })].Properties).toMatchObject({
        PackageType: 'Image',
        ImageConfig: { Command: ['restore.handler'] },
        Timeout: 900,
      });
    }
    const vpcOf = (name: string) => resources[logicalId('AWS::Lambda::Function', { FunctionName: name })].Properties.VpcConfig;
    expect(vpcOf('lifeline-restore')).toBeUndefined();
    const production = vpcOf('lifeline-restore1-production');
    expect(production.SubnetIds).toEqual(['subnet-0a1b2c3d4e5f67890', 'subnet-1a1b2c3d4e5f67890']);
    expect(text(production.SecurityGroupIds[0])).toEqual(backupsGroup('production'));
    const analytics = vpcOf('lifeline-restore1-analytics');
    expect(analytics.SubnetIds).toEqual(['subnet-2a1b2c3d4e5f67890']);
    expect(text(analytics.SecurityGroupIds[0])).toEqual(backupsGroup('analytics'));
  });

  it("reach their network's databases through the backups' security group there, adding no rule to any group", () => {
    for (const template of [restore, group]) {
      template.resourceCountIs('AWS::EC2::SecurityGroup', 0);
      template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
      template.resourceCountIs('AWS::EC2::SecurityGroupEgress', 0);
    }
    // The backup function of a database of that network runs in the very group the restores are given.
    const backups = synth.backupsTemplates[0]!.toJSON().Resources as Record<string, any>;
    const shop = Object.values(backups).find((r) => r.Properties?.FunctionName === 'lifeline-backup-shop').Properties;
    const [backupGroup] = shop.VpcConfig.SecurityGroupIds[0]['Fn::GetAtt'] as string[];
    const restoreSteps = resources[logicalId('AWS::Lambda::Function', { FunctionName: 'lifeline-restore1-production' })].Properties;
    expect(text(restoreSteps.VpcConfig.SecurityGroupIds[0])).toContain(`FnGetAtt${backupGroup}GroupId`);
  });

  it("read only the secrets of their own network's databases and applications; the one outside a VPC reads none, but the catalog", () => {
    expect(secretsOf(roleOf('lifeline-restore'))).toEqual([]);
    expect(secretsOf(roleOf('lifeline-restore1-production'))).toEqual([SHOP_SECRET, STAGING_SECRET, SHOP_API_SECRET].sort());
    expect(secretsOf(roleOf('lifeline-restore1-analytics'))).toEqual([WAREHOUSE_SECRET]);
    const catalog = statementsOf(roleOf('lifeline-restore')).find((statement) => statement.sid === 'ReadTheCatalog');
    expect(catalog).toMatchObject({
      actions: ['ssm:GetParametersByPath'],
      resources: ['arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/lifeline/lifeline/restore/*'],
    });
    for (const name of ['lifeline-restore1-production', 'lifeline-restore1-analytics']) {
      expect(
        statementsOf(roleOf(name))
          .flatMap((statement) => statement.actions)
          .filter((action) => action.startsWith('ssm:')),
      ).toEqual([]);
    }
    for (const name of ['lifeline-restore', 'lifeline-restore1-production', 'lifeline-restore1-analytics']) {
      const statements = statementsOf(roleOf(name));
      expect(statements.filter((s) => s.actions.some((a) => a.startsWith('s3:'))).flatMap((s) => s.actions)).toEqual([
        's3:GetObject',
        's3:ListBucket',
      ]);
    }
  });

  it("may ask Step Functions whether a mark's or a target secret's execution still runs: DescribeExecution on this deployment's restores and PITRs only", () => {
    const restores = 'arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:lifeline-restore:*';
    const pitrs = 'arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:lifeline-pitr:*';
    const asks = (name: string) =>
      statementsOf(roleOf(name)).filter((statement) => statement.actions.some((action) => action.startsWith('states:')));
    const marks = expect.objectContaining({ sid: 'AskWhetherMarksHold', actions: ['states:DescribeExecution'], resources: [restores] });
    // production's shop-api has migrations, whose target secret a point-in-time recovery may hold.
    expect(asks('lifeline-restore1-production')).toEqual([
      marks,
      expect.objectContaining({ sid: 'AskWhetherMigrationsHoldersRun', actions: ['states:DescribeExecution'], resources: [pitrs] }),
    ]);
    expect(asks('lifeline-restore1-analytics')).toEqual([marks]);
  });

  it("carry the same few settings, which core's schema accepts", () => {
    const settings = settingsOf('lifeline-restore');
    for (const name of ['lifeline-restore1-production', 'lifeline-restore1-analytics']) expect(settingsOf(name)).toEqual(settings);
    expect(settings).toEqual({
      deployment: 'lifeline',
      backupStacks: 1,
      bucket: 'lifeline-vault-123456789012-eu-west-1',
      approvalTimeoutSeconds: 24 * 3600,
      runnerVcpus: 2,
    });
  });
});

/** The group's catalog parameters by name, their values as deployed. */
function catalogOf(template: Template): Map<string, string> {
  return new Map(
    Object.values(template.findResources('AWS::SSM::Parameter')).map((parameter) => {
      expect(parameter.Properties).toMatchObject({ Type: 'String', Tier: 'Standard' });
      return [parameter.Properties.Name as string, deployed(parameter.Properties.Value)];
    }),
  );
}

describe('the catalog', () => {
  it("holds a parameter per database of the group under its path, naming its network's function and its group's runner", () => {
    const catalog = catalogOf(group);
    expect([...catalog.keys()].sort()).toEqual(['shop', 'staging', 'warehouse'].map((name) => `/lifeline/lifeline/restore/1/${name}`));
    const entry = (name: string) => RestoreDatabase.parse(JSON.parse(catalog.get(`/lifeline/lifeline/restore/1/${name}`)!));
    const functionArn = (name: string) => `arn:aws:lambda:eu-west-1:123456789012:function:${name}`;
    expect(entry('shop')).toEqual({
      name: 'shop',
      secretArn: SHOP_SECRET,
      port: 5432,
      rds: { instanceIdentifier: 'shop-production' },
      network: 'production',
      stepsFunctionArn: functionArn('lifeline-restore1-production'),
      runner: {
        taskDefinition: 'lifeline-restore-runner-1',
        subnetIds: ['subnet-0a1b2c3d4e5f67890', 'subnet-1a1b2c3d4e5f67890'],
        securityGroupIds: [backupsGroup('production')],
      },
      applications: [
        {
          name: 'shop-api',
          connectionSecretArn: SHOP_API_SECRET,
          migrations: {
            taskDefinition: 'lifeline-migrations-shop-api',
            targetSecret: 'lifeline/lifeline/migrations/shop-api',
            timeoutSeconds: 1800,
            command: ['npx', 'prisma', 'migrate', 'deploy'],
          },
        },
      ],
    });
    expect(entry('warehouse')).toMatchObject({
      host: 'warehouse.cluster-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com',
      port: 5433,
      databaseName: 'warehouse',
      network: 'analytics',
      stepsFunctionArn: functionArn('lifeline-restore1-analytics'),
      runner: { subnetIds: ['subnet-2a1b2c3d4e5f67890'] },
      applications: [],
    });
    expect(entry('staging').stepsFunctionArn).toBe(functionArn('lifeline-restore1-production'));
  });

  it("is what the workflow reads: a database's group by its backups stack, every page of it", async () => {
    // Three backups stacks of 15 databases or so: pages of ten, and databases in other groups left out.
    const config = withRestore(manyDatabasesConfig(45, 3));
    const synthesized = synthesize(config);
    const ssm = new FakeSsm();
    try {
      for (const template of synthesized.restoreGroupTemplates) {
        for (const [name, value] of catalogOf(template)) ssm.parameters.set(name, { value, type: 'String' });
      }
      const settings = settingsOf('lifeline-restore', synthesized.restoreTemplate);
      const catalog = ssmRestoreCatalog(new SSMClient({}), { name: settings.deployment, backupStacks: settings.backupStacks });
      for (const [i, stack] of synthesized.backups.entries()) {
        const backedUp = synthesized.backupsTemplates[i]!.findResources('AWS::Lambda::Function');
        const names = Object.values(backedUp)
          .map((fn) => (fn.Properties.FunctionName as string).replace('lifeline-backup-', ''))
          .sort();
        expect(names.length, stack.stackName).toBeGreaterThan(10);
        for (const name of [names[0]!, names.at(-1)!]) {
          expect((await catalog.groupOf(name)).map((db) => db.name).sort(), `${name} of ${stack.stackName}`).toEqual(names);
        }
      }
    } finally {
      ssm.mock.restore();
    }
    expect(await fixedRestoreCatalog([]).groupOf('shop')).toEqual([]);
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

describe('the restore workflow', () => {
  it('is deployed only with a "restore" section; without one, the vault and backups are the same', () => {
    const json = exampleJson();
    delete json.restore;
    // PITR reads the restore catalog, and the restore workflow runs the applications' migrations: both need restore.
    delete json.pitr;
    for (const application of json.applications) delete application.migrations;
    const without = synthesize(parseConfig(json));
    expect(without.restore).toBeUndefined();
    expect(without.assembly.stacks.map((stack) => stack.stackName).sort()).toEqual([
      'lifeline-alarms',
      'lifeline-approvals',
      'lifeline-backups-1',
      'lifeline-cutover',
      'lifeline-vault',
    ]);
    // The same resources; with restore, the backups stack also exports its security groups to its restore group.
    expect(without.backupsTemplates.map((template) => template.toJSON().Resources)).toEqual(
      synth.backupsTemplates.map((template) => template.toJSON().Resources),
    );
    expect(without.backupsTemplates[0]!.toJSON().Outputs).toBeUndefined();
    expect(Object.keys(synth.backupsTemplates[0]!.toJSON().Outputs).map((name) => name.replace(/[0-9A-F]{8}/g, ''))).toEqual([
      'ExportsOutputFnGetAttNetworkproductionSecurityGroupGroupId',
      'ExportsOutputFnGetAttNetworkanalyticsSecurityGroupGroupId',
    ]);
    expect(without.vaultTemplate.toJSON().Resources).toEqual(synth.vaultTemplate.toJSON().Resources);
  });

  it("sizes the runner from restore.runner: the task's CPU and memory, and the steps' default --jobs", () => {
    const sized = synthesize(withRestore(exampleConfig(), { runner: { vcpus: 8, memoryGiB: 32 } }));
    const taskDefinition = Object.values(sized.restoreGroupTemplates[0]!.findResources('AWS::ECS::TaskDefinition'))[0]!.Properties;
    expect(taskDefinition).toMatchObject({ Cpu: '8192', Memory: '32768' });
    expect(settingsOf('lifeline-restore', sized.restoreTemplate).runnerVcpus).toBe(8);
  });

  it("keeps every role's policies within IAM's 10,240 characters for a full group of the databases that grow them most", () => {
    // Each database with a key of its own and an RDS lookup, all in one network: the most policy per database.
    const hex = (n: number, length: number) => n.toString(16).padStart(length, '0');
    const config = parseConfig({
      notifications: { emails: ['oncall@example.com'] },
      restore: {},
      networks: [{ name: 'n', vpcId: `vpc-${hex(0, 17)}`, subnetIds: [`subnet-${hex(0, 17)}`] }],
      databases: Array.from({ length: MAX_DATABASES_PER_STACK }, (_, i) => ({
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
    const synthesized = synthesize(config);
    expect(synthesized.restoreGroups).toHaveLength(1);
    const lengths = [synthesized.restoreTemplate!, ...synthesized.restoreGroupTemplates].flatMap((template) =>
      Object.values(template.toJSON().Resources as Record<string, any>)
        .filter((resource) => resource.Type === 'AWS::IAM::Role' && resource.Properties.Policies)
        .map((resource) => deployedPolicyLength(resource.Properties.Policies)),
    );
    console.info(`${MAX_DATABASES_PER_STACK} databases in one group: restore role policies of ${lengths.join(', ')} of 10240 characters`);
    expect(lengths).toHaveLength(4);
    for (const length of lengths) expect(length).toBeLessThanOrEqual(10_240);
  });

  it('refuses, at synth, a database whose catalog entry would not fit an SSM parameter, naming it', () => {
    const json = exampleJson();
    json.restore = {};
    const shopApi = json.applications[0];
    json.applications = Array.from({ length: 40 }, (_, i) => ({
      ...shopApi,
      name: `shop-api-${i}`,
      // Each on its own secret and service: two applications may share neither.
      connectionSecretArn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-api-${i}/database-Xy12Ab`,
      ecs: { cluster: 'production', service: `shop-api-${i}` },
    }));
    const error = synthError(parseConfig(json));
    expect(error.name).toBe('InvalidConfig');
    expect(error.message).toMatch(
      /^databases: the restore settings of "shop" need up to \d+ bytes, over the 4096 of an SSM parameter; give it fewer applications$/,
    );
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
      RunnerClusterArn: '<Cluster.Arn>',
      ApprovalsTopicArn: expect.stringMatching(/^<ApprovalsTopic/),
      NotificationsTopicArn: expect.stringMatching(/^<import lifeline-vault:ExportsOutputRefNotificationsTopic/),
      CutoverStateMachineArn: 'arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:lifeline-cutover',
      ApprovalVerifyFunctionArn: 'arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:lifeline-approval-verify',
    });
  });

  it("may run only its groups' runners on its cluster, pass only their roles, invoke only its functions and publish only to its topics", () => {
    const machine = Object.values(restore.findResources('AWS::StepFunctions::StateMachine'))[0]!.Properties;
    const statements = statementsOf(machine.RoleArn['Fn::GetAtt'][0]);
    const of = (sid: string) => statements.find((s) => s.sid === sid)!;
    // By name: however many groups there are, the role stays this size.
    expect(of('RunTheRunners')).toMatchObject({
      actions: ['ecs:RunTask'],
      resources: ['arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition/lifeline-restore-runner-*:*'],
      condition: { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': ['Cluster', 'Arn'] } } },
    });
    // The applications' migrations task definitions, on the same cluster, by their own family prefix.
    expect(of('RunTheMigrations')).toMatchObject({
      actions: ['ecs:RunTask'],
      resources: ['arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition/lifeline-migrations-*:*'],
      condition: { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': ['Cluster', 'Arn'] } } },
    });
    expect(of('FollowTheRunner').resources).toEqual(['arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/<Cluster>/*']);
    // The definition propagates the task definition's tags, and ECS authorizes that as TagResource on creation only.
    const definition = JSON.parse(readFileSync(new URL('../../../state-machines/restore.asl.json', import.meta.url), 'utf8'));
    expect(definition.States.RunRestore.Parameters.PropagateTags).toBe('TASK_DEFINITION');
    expect(of('TagTheRunnerTask')).toMatchObject({ actions: ['ecs:TagResource'], resources: of('FollowTheRunner').resources });
    expect(of('TagTheRunnerTask').condition).toEqual({ StringEquals: { 'ecs:CreateAction': 'RunTask' } });
    expect(of('PassTheRunnerRoles')).toMatchObject({
      resources: ['arn:<AWS::Partition>:iam::<AWS::AccountId>:role/lifeline-runtime/restore-runner/*'],
      condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    });
    expect(of('PassTheMigrationsRoles')).toMatchObject({
      resources: ['arn:<AWS::Partition>:iam::<AWS::AccountId>:role/lifeline-migrations/*'],
      condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    });
    expect(of('EcsSyncRule').resources).toEqual([
      'arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:rule/StepFunctionsGetEventsForECSTaskRule',
    ]);
    // The prefix covers its own functions, and another deployment's only by name: those bear their own tag.
    expect(of('InvokeSteps')).toMatchObject({
      resources: ['arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:lifeline-restore*'],
      condition: { StringEquals: { 'aws:ResourceTag/lifeline': 'lifeline' } },
    });
    for (const name of ['lifeline-restore', 'lifeline-restore1-production', 'lifeline-restore1-analytics']) {
      const fn = resources[logicalId('AWS::Lambda::Function', { FunctionName: name })].Properties;
      expect(fn.Tags, name).toContainEqual({ Key: 'lifeline', Value: 'lifeline' });
    }
    // What the catalog sends a run to is what the patterns allow.
    const glob = (pattern: string) =>
      new RegExp(
        `^${deployed(pattern)
          .replace(/[.?+^$()[\]{}|\\]/g, '\\$&')
          .replaceAll('*', '.*')}$`,
      );
    const families = (template: Template) =>
      Object.values(template.findResources('AWS::ECS::TaskDefinition')).map(
        (t) => `${deployed(regionalEcs)}task-definition/${t.Properties.Family}:1`,
      );
    const regionalEcs = 'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:';
    const migrationsFamilies: string[] = [];
    for (const value of catalogOf(group).values()) {
      const db = RestoreDatabase.parse(JSON.parse(value));
      expect(db.stepsFunctionArn).toMatch(glob(of('InvokeSteps').resources[0]!));
      expect(`${deployed(regionalEcs)}task-definition/${db.runner.taskDefinition}:1`).toMatch(glob(of('RunTheRunners').resources[0]!));
      for (const application of db.applications) {
        if (!application.migrations) continue;
        const family = `${deployed(regionalEcs)}task-definition/${application.migrations.taskDefinition}:1`;
        expect(family).toMatch(glob(of('RunTheMigrations').resources[0]!));
        expect(family).not.toMatch(glob(of('RunTheRunners').resources[0]!));
        migrationsFamilies.push(family);
      }
    }
    expect(migrationsFamilies).toEqual([`${deployed(regionalEcs)}task-definition/lifeline-migrations-shop-api:1`]);
    // Each task definition of the group is a runner or an application's migrations, and runs only as such.
    for (const family of families(group)) {
      expect(family).toMatch(glob(of(migrationsFamilies.includes(family) ? 'RunTheMigrations' : 'RunTheRunners').resources[0]!));
    }
    expect(of('PublishToItsTopics').resources).toEqual([
      expect.stringMatching(/^<ApprovalsTopic/),
      expect.stringMatching(/^<import lifeline-vault:ExportsOutputRefNotificationsTopic/),
    ]);
    // Only log delivery and X-Ray, which take no resource-level permissions, are granted on "*".
    expect(statements.filter((s) => s.resources.includes('*')).map((s) => s.sid)).toEqual(['DeliverLogs', 'Trace']);
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

describe('every role of the restore stacks', () => {
  it('may neither write nor delete in S3, nor run, pass or invoke anything on "*"', () => {
    const roles = [restore, group]
      .flatMap((template) => Object.keys(template.findResources('AWS::IAM::Role')))
      .filter((id) => resources[id].Properties.Policies);
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

describe('the compensation of restore executions that end past their Cleanup', () => {
  const only = (type: string) => {
    const found = Object.entries(restore.findResources(type));
    expect(found, type).toHaveLength(1);
    return { id: found[0]![0], properties: found[0]![1].Properties as Record<string, any> };
  };
  const steps = () => logicalId('AWS::Lambda::Function', { FunctionName: 'lifeline-restore' });

  it("is a rule on the state machine's stopped, timed-out and failed executions, sending the compensate step to the steps function outside any VPC", () => {
    const { id: machine } = only('AWS::StepFunctions::StateMachine');
    const { id: rule, properties } = only('AWS::Events::Rule');
    expect(properties.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [{ Ref: machine }] },
    });
    const { id: queue } = only('AWS::SQS::Queue');
    expect(properties.Targets).toEqual([
      {
        Id: 'Target0',
        Arn: { 'Fn::GetAtt': [steps(), 'Arn'] },
        InputTransformer: {
          InputPathsMap: { 'detail-executionArn': '$.detail.executionArn', 'detail-status': '$.detail.status' },
          InputTemplate: '{"step":"compensate","executionArn":<detail-executionArn>,"status":<detail-status>}',
        },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 7200 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queue, 'Arn'] } },
      },
    ]);
    // What EventBridge sends, with an event's values put in, is a step event the handler accepts.
    const sent = properties.Targets[0].InputTransformer.InputTemplate.replace(
      '<detail-executionArn>',
      '"arn:aws:states:eu-west-1:123456789012:execution:lifeline-restore:3f2c"',
    ).replace('<detail-status>', '"ABORTED"');
    expect(RestoreStepEvent.parse(JSON.parse(sent))).toEqual({
      step: 'compensate',
      executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:lifeline-restore:3f2c',
      status: 'ABORTED',
    });
    restore.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [steps(), 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [rule, 'Arn'] },
    });
  });

  it('dead-letters what it could not deliver or failed on every attempt into an encrypted, TLS-only queue, whose arrivals raise an alarm', () => {
    const { id: queue, properties } = only('AWS::SQS::Queue');
    expect(properties).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
    restore.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queue }],
      PolicyDocument: {
        Statement: [
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Allow', Action: 'sqs:SendMessage', Principal: { Service: 'events.amazonaws.com' } }),
        ],
      },
    });
    restore.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: steps() },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queue, 'Arn'] } } },
    });
    const alarm = logicalId('AWS::CloudWatch::Alarm', { AlarmName: 'lifeline-restore-compensation-failed' });
    expect(resources[alarm].Properties).toMatchObject({ MetricName: 'NumberOfMessagesSent', Namespace: 'AWS/SQS', Threshold: 1 });
    expect(resources[alarm].Properties.AlarmActions.map(text)).toEqual([
      expect.stringMatching(/^<import lifeline-vault:ExportsOutputRefNotificationsTopic/),
    ]);
  });

  it("may read only its own executions, notify the alarm topic, dead-letter, and invoke only the deployment's steps functions", () => {
    const statements = statementsOf(roleOf('lifeline-restore'));
    const of = (sid: string) => statements.find((s) => s.sid === sid);
    const { id: queue } = only('AWS::SQS::Queue');
    expect(of('ReadItsExecutions')).toMatchObject({
      actions: ['states:DescribeExecution', 'states:GetExecutionHistory'],
      resources: ['arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:lifeline-restore:*'],
    });
    expect(of('PublishToItsTopics')).toMatchObject({
      actions: ['sns:Publish'],
      resources: [expect.stringMatching(/^<import lifeline-vault:ExportsOutputRefNotificationsTopic/)],
    });
    expect(of('EncryptForItsTopics')?.resources).toEqual([
      expect.stringMatching(/^<import lifeline-vault:ExportsOutputFnGetAttNotificationsKey/),
    ]);
    expect(of('DeadLetterCompensations')).toMatchObject({ actions: ['sqs:SendMessage'], resources: [`<${queue}.Arn>`] });
    // Cleanup's drop runs in the database's network: the groups' functions, by the state machine's own pattern and tag.
    expect(of('ReleaseTargets')).toMatchObject({
      actions: ['lambda:InvokeFunction'],
      resources: ['arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:lifeline-restore*'],
      condition: { StringEquals: { 'aws:ResourceTag/lifeline': 'lifeline' } },
    });
    // Only the function EventBridge targets compensates; the groups' functions have none of it.
    const environment = (name: string) =>
      resources[logicalId('AWS::Lambda::Function', { FunctionName: name })].Properties.Environment.Variables as Record<string, unknown>;
    expect(text(environment('lifeline-restore').LIFELINE_ALARM_TOPIC_ARN)).toMatch(
      /^<import lifeline-vault:ExportsOutputRefNotificationsTopic/,
    );
    for (const name of ['lifeline-restore1-production', 'lifeline-restore1-analytics']) {
      expect(environment(name).LIFELINE_ALARM_TOPIC_ARN, name).toBeUndefined();
      const actions = statementsOf(roleOf(name)).flatMap((s) => s.actions);
      expect(
        actions.filter((a) => /^(sns|sqs|lambda):|GetExecutionHistory/.test(a)),
        name,
      ).toEqual([]);
    }
  });
});
