import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { LifelineError } from '../../../lambdas/core/errors.js';
import { CutoverSettings, CutoverStepEvent } from '../../../lambdas/core/cutover/state.js';
import { parseConfig } from '../../../lib/config/load.js';
import type { LifelineConfig } from '../../../lib/config/schema.js';
import { deployedText as text, exampleConfig, exampleJson, synthesize, type Synthesized } from '../../support/stacks.js';

const SHOP_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-shop-AbC123';
const STAGING_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-staging-GhI789';
const SHOP_API_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-api/database-Xy12Ab';
const REPORTS_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:reports/database-Rp34Cd';
const REGIONAL = (service: string) => `arn:<AWS::Partition>:${service}:<AWS::Region>:<AWS::AccountId>:`;

/** A deploy-time value as it deploys in eu-west-1 of account 123456789012; created resources stay <references>. */
const deployed = (node: unknown) =>
  text(node).replaceAll('<AWS::Partition>', 'aws').replaceAll('<AWS::Region>', 'eu-west-1').replaceAll('<AWS::AccountId>', '123456789012');

interface Statement {
  sid: string;
  actions: string[];
  resources: string[];
  condition?: unknown;
}

/** A role's statements in a template, each with its actions and resources as readable text. */
function statementsOf(template: Template, roleId: string): Statement[] {
  return (template.toJSON().Resources[roleId].Properties.Policies as any[]).flatMap((policy) =>
    (policy.PolicyDocument.Statement as any[]).map((statement) => ({
      sid: statement.Sid,
      actions: [statement.Action].flat(),
      resources: [statement.Resource].flat().map(text),
      condition: statement.Condition,
    })),
  );
}

const only = (template: Template, type: string) => {
  const found = Object.entries(template.findResources(type));
  expect(found, type).toHaveLength(1);
  return { id: found[0]![0], properties: found[0]![1].Properties as Record<string, any> };
};
const stepsFunction = (template: Template) => only(template, 'AWS::Lambda::Function').properties;
const stepsRole = (template: Template) => stepsFunction(template).Role['Fn::GetAtt'][0] as string;
const machine = (template: Template) => only(template, 'AWS::StepFunctions::StateMachine').properties;
const machineRole = (template: Template) => machine(template).RoleArn['Fn::GetAtt'][0] as string;
const sid = (statements: Statement[], name: string) => statements.find((s) => s.sid === name);

/** The example config with a second application in the same network: Lambda functions through an alias, an ECS cluster by ARN, a parameter freeze, HTTP. */
function richerConfig(): LifelineConfig {
  const json = exampleJson();
  json.applications.push({
    name: 'reports',
    database: 'staging',
    connectionSecretArn: REPORTS_SECRET,
    ecs: { cluster: 'arn:aws:ecs:eu-west-1:123456789012:cluster/production', service: 'reports-web' },
    lambdaFunctions: ['reports-worker', 'arn:aws:lambda:eu-west-1:123456789012:function:reports-api'],
    lambdaAlias: 'live',
    freeze: { mode: 'parameter', parameterName: '/reports/maintenance' },
    healthCheckUrl: 'http://reports.internal:8080/health',
    healthCheckCount: 5,
    healthCheckWindowSeconds: 60,
  });
  return parseConfig(json);
}

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

let synth: Synthesized;
let cutover: Template;
let richer: Template;
beforeAll(() => {
  synth = synthesize(exampleConfig());
  cutover = synth.cutoverTemplate!;
  richer = synthesize(richerConfig()).cutoverTemplate!;
});

describe('the cutover stack', () => {
  it('is its own stack, deployed after the vault; the restore stack does not wait for it', () => {
    expect(synth.cutover!.stackName).toBe('lifeline-cutover');
    // And after the approvals stack, whose verify function its VerifyApproval names.
    expect(synth.cutover!.dependencies.map((stack) => stack.stackName)).toEqual(['lifeline-vault', 'lifeline-approvals']);
    expect(synth.restore!.dependencies.map((stack) => stack.stackName).sort()).toEqual([
      'lifeline-approvals',
      'lifeline-restore-1',
      'lifeline-vault',
    ]);
  });

  it('is not deployed without applications, and the other stacks stay the same', () => {
    const json = exampleJson();
    json.applications = [];
    const without = synthesize(parseConfig(json));
    expect(without.cutover).toBeUndefined();
    expect(without.assembly.stacks.map((stack) => stack.stackName).sort()).toEqual([
      'lifeline-alarms',
      'lifeline-approvals',
      'lifeline-backups-1',
      'lifeline-pitr',
      'lifeline-restore',
      'lifeline-restore-1',
      'lifeline-vault',
    ]);
    expect(without.vaultTemplate.toJSON().Resources).toEqual(synth.vaultTemplate.toJSON().Resources);
  });
});

describe('the lock table', () => {
  it('is keyed by application, expires locks by expiresAt, on demand, with point-in-time recovery and its own KMS key', () => {
    const { properties: table } = only(cutover, 'AWS::DynamoDB::Table');
    expect(table.TableName).toBe('lifeline-cutover-locks');
    expect(table.KeySchema).toEqual([{ AttributeName: 'application', KeyType: 'HASH' }]);
    expect(table.AttributeDefinitions).toEqual([{ AttributeName: 'application', AttributeType: 'S' }]);
    expect(table.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(table.BillingMode).toBe('PAY_PER_REQUEST');
    expect(table.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(table.SSESpecification.SSEEnabled).toBe(true);
    expect(table.SSESpecification.SSEType).toBe('KMS');
    const keyId = table.SSESpecification.KMSMasterKeyId['Fn::GetAtt'][0] as string;
    expect(cutover.toJSON().Resources[keyId].Properties).toMatchObject({
      EnableKeyRotation: true,
      Description: 'Encrypts the Lifeline cutover locks',
    });
  });
});

describe('the cutover steps function', () => {
  it("runs the cutover handler of the newest backup image in the applications' network, for up to 15 minutes", () => {
    const fn = stepsFunction(cutover);
    expect(fn).toMatchObject({
      FunctionName: 'lifeline-cutover',
      PackageType: 'Image',
      ImageConfig: { Command: ['cutover.handler'] },
      Timeout: 900,
    });
    expect(fn.VpcConfig.SubnetIds).toEqual(['subnet-0a1b2c3d4e5f67890', 'subnet-1a1b2c3d4e5f67890']);
    const { id: group } = only(cutover, 'AWS::EC2::SecurityGroup');
    expect(text(fn.VpcConfig.SecurityGroupIds[0])).toBe(`<${group}.GroupId>`);
    // The same image tag the restore steps run: the newest pg client's.
    const restoreFn = Object.values(synth.restoreTemplate!.findResources('AWS::Lambda::Function')).find(
      (r) => r.Properties.FunctionName === 'lifeline-restore',
    )!;
    expect(text(fn.Code.ImageUri)).toBe(text(restoreFn.Properties.Code.ImageUri));
    const logGroup = cutover.toJSON().Resources[fn.LoggingConfig.LogGroup.Ref].Properties;
    expect(text(logGroup.KmsKeyId)).toMatch(/^<LogsKey[0-9A-F]+\.Arn>$/);
  });

  it("carries settings that core's CutoverSettings accepts, built from the config's applications", () => {
    const settingsIn = (template: Template) =>
      CutoverSettings.parse(JSON.parse(deployed(stepsFunction(template).Environment.Variables.LIFELINE_CUTOVER_SETTINGS)));
    // Besides its settings, the lock table and the topic with which it compensates a stopped execution.
    const { id: table } = only(cutover, 'AWS::DynamoDB::Table');
    expect(
      Object.fromEntries(Object.entries(stepsFunction(cutover).Environment.Variables).map(([name, value]) => [name, text(value)])),
    ).toEqual({
      LIFELINE_CUTOVER_SETTINGS: expect.any(String),
      LIFELINE_CUTOVER_LOCK_TABLE: `<${table}>`,
      LIFELINE_ALARM_TOPIC_ARN: expect.stringMatching(/^<import lifeline-vault:ExportsOutputRefNotificationsTopic/),
    });
    expect(settingsIn(cutover)).toEqual({
      deployment: { pollSeconds: 15, timeoutSeconds: 900 },
      applications: [
        {
          name: 'shop-api',
          connectionSecretArn: SHOP_API_SECRET,
          ecsServices: [{ cluster: 'production', service: 'shop-api' }],
          lambdaFunctions: [],
          freeze: { mode: 'none' },
          healthCheck: { url: 'https://shop.example.com/api/health', count: 3, windowSeconds: 120, intervalSeconds: 5 },
        },
      ],
      // The application's database's server, where a cutover may switch it by name: no host in the config, so RDS says.
      servers: [{ name: 'shop', secretArn: SHOP_SECRET, port: 5432, rds: { instanceIdentifier: 'shop-production' } }],
    });
    expect(settingsIn(richer).applications[1]).toEqual({
      name: 'reports',
      connectionSecretArn: REPORTS_SECRET,
      ecsServices: [{ cluster: 'arn:aws:ecs:eu-west-1:123456789012:cluster/production', service: 'reports-web' }],
      lambdaFunctions: ['reports-worker', 'arn:aws:lambda:eu-west-1:123456789012:function:reports-api'],
      lambdaAlias: 'live',
      freeze: { mode: 'parameter', parameterName: '/reports/maintenance', frozenValue: 'on' },
      healthCheck: { url: 'http://reports.internal:8080/health', count: 5, windowSeconds: 60, intervalSeconds: 5 },
    });
  });

  it("reaches the applications' databases (out and in on their ports), HTTPS, and the health URLs' other ports", () => {
    const egress = (template: Template) => {
      const inline = only(template, 'AWS::EC2::SecurityGroup').properties.SecurityGroupEgress.map((rule: any) => [
        rule.FromPort,
        rule.DestinationSecurityGroupId ?? rule.CidrIp,
      ]);
      const separate = Object.values(template.findResources('AWS::EC2::SecurityGroupEgress')).map((r) => [
        r.Properties.FromPort,
        r.Properties.CidrIp,
      ]);
      return [...inline, ...separate];
    };
    expect(egress(cutover)).toEqual([
      [443, '0.0.0.0/0'],
      [5432, 'sg-0a1b2c3d4e5f67890'],
    ]);
    expect(egress(richer)).toEqual([
      [443, '0.0.0.0/0'],
      [5432, 'sg-0a1b2c3d4e5f67890'],
      [5432, 'sg-2a1b2c3d4e5f67890'],
      [8080, '0.0.0.0/0'],
    ]);
    const ingress = Object.values(richer.findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    expect(ingress.map((rule) => [rule.GroupId, rule.FromPort, rule.Description]).sort()).toEqual([
      ['sg-0a1b2c3d4e5f67890', 5432, 'PostgreSQL from Lifeline cutovers'],
      ['sg-2a1b2c3d4e5f67890', 5432, 'PostgreSQL from Lifeline cutovers'],
    ]);
  });

  it("may switch only the applications' secrets, read no admin secret, and restart only their ECS services", () => {
    const statements = statementsOf(cutover, stepsRole(cutover));
    expect(statements.map((s) => s.sid)).toEqual([
      'SwitchConnectionSecrets',
      'DescribeConfiguredInstances',
      'ReadHandingOverExecutions',
      'RestartServices',
      'ListTaskDefinitionRevisions',
      'SettleLocks',
      'DecryptLocks',
      'ReadItsExecutions',
      'PublishToItsTopics',
      'EncryptForItsTopics',
      'DeadLetterCompensations',
      'WriteLogs',
      'CreateNetworkInterfaces',
      'ManageNetworkInterfaces',
      'DescribeNetwork',
    ]);
    expect(sid(statements, 'SwitchConnectionSecrets')).toMatchObject({
      actions: [
        'secretsmanager:GetSecretValue',
        'secretsmanager:DescribeSecret',
        'secretsmanager:PutSecretValue',
        'secretsmanager:UpdateSecretVersionStage',
      ],
      resources: [SHOP_API_SECRET],
    });
    // Where the application's database listens, from RDS (the config has no host for it); never its admin secret.
    expect(sid(statements, 'DescribeConfiguredInstances')).toMatchObject({
      actions: ['rds:DescribeDBInstances'],
      resources: [`${REGIONAL('rds')}db:shop-production`],
    });
    expect(statements.filter((s) => s.actions.some((a) => a.startsWith('secretsmanager:'))).flatMap((s) => s.resources)).toEqual([
      SHOP_API_SECRET,
    ]);
    // The approval a hand-over brings is taken only from the restore or PITR execution's own history.
    expect(sid(statements, 'ReadHandingOverExecutions')).toMatchObject({
      actions: ['states:DescribeExecution', 'states:GetExecutionHistory'],
      resources: [`${REGIONAL('states')}execution:lifeline-restore:*`, `${REGIONAL('states')}execution:lifeline-pitr:*`],
    });
    expect(sid(statements, 'RestartServices')).toMatchObject({
      actions: ['ecs:DescribeServices', 'ecs:UpdateService'],
      resources: [`${REGIONAL('ecs')}service/production/shop-api`],
    });
    // An applicationVersion is checked against the names of the service's own family's revisions: no task definition is read.
    expect(sid(statements, 'ListTaskDefinitionRevisions')).toMatchObject({ actions: ['ecs:ListTaskDefinitions'], resources: ['*'] });
    expect(statements.flatMap((s) => s.actions).filter((a) => /TaskDefinition(?!s)/.test(a))).toEqual([]);
    // No Lambda function, so no alias to point.
    expect(statements.flatMap((s) => s.actions).filter((a) => a.startsWith('lambda:'))).toEqual([]);
    expect(cutover.toJSON().Resources[stepsRole(cutover)].Properties.Path).toBe('/lifeline-runtime/');
  });

  it('may restart only the configured Lambda functions and set only the configured freeze parameters', () => {
    const statements = statementsOf(richer, stepsRole(richer));
    expect(sid(statements, 'SwitchConnectionSecrets')!.resources).toEqual([REPORTS_SECRET, SHOP_API_SECRET].sort());
    expect(sid(statements, 'ReadConfiguredSecrets')).toBeUndefined();
    expect(sid(statements, 'DescribeConfiguredInstances')!.resources).toEqual([
      `${REGIONAL('rds')}db:shop-production`,
      `${REGIONAL('rds')}db:shop-staging`,
    ]);
    const servers = CutoverSettings.parse(
      JSON.parse(deployed(stepsFunction(richer).Environment.Variables.LIFELINE_CUTOVER_SETTINGS)),
    ).servers;
    expect(servers?.map((s) => s.secretArn)).toEqual([SHOP_SECRET, STAGING_SECRET]);
    expect(sid(statements, 'RestartServices')!.resources).toEqual([
      `${REGIONAL('ecs')}service/production/reports-web`,
      `${REGIONAL('ecs')}service/production/shop-api`,
    ]);
    expect(sid(statements, 'RestartFunctions')).toMatchObject({
      actions: ['lambda:GetFunctionConfiguration', 'lambda:UpdateFunctionConfiguration'],
      resources: ['arn:aws:lambda:eu-west-1:123456789012:function:reports-api', `${REGIONAL('lambda')}function:reports-worker`].sort(),
    });
    // An applicationVersion points the functions' alias among their own versions: each function and its alias, by ARN.
    expect(sid(statements, 'SwitchFunctionVersions')).toMatchObject({
      actions: ['lambda:GetAlias', 'lambda:UpdateAlias', 'lambda:ListVersionsByFunction'],
      resources: [
        'arn:aws:lambda:eu-west-1:123456789012:function:reports-api',
        'arn:aws:lambda:eu-west-1:123456789012:function:reports-api:live',
        `${REGIONAL('lambda')}function:reports-worker`,
        `${REGIONAL('lambda')}function:reports-worker:live`,
      ].sort(),
    });
    expect(statements.filter((s) => s.actions.some((a) => a.startsWith('lambda:'))).flatMap((s) => s.resources)).not.toContainEqual(
      expect.stringContaining('*'),
    );
    expect(sid(statements, 'FreezeParameters')).toMatchObject({
      actions: ['ssm:GetParameter', 'ssm:PutParameter', 'ssm:DeleteParameter'],
      resources: [`${REGIONAL('ssm')}parameter/reports/maintenance`],
    });
  });

  it("may watch the tasks of only the scaled-to-zero services' cluster, which is as fine as ECS scopes task reads", () => {
    const json = exampleJson();
    json.applications[0].freeze = { mode: 'scale-to-zero' };
    const scaled = synthesize(parseConfig(json)).cutoverTemplate!;
    const statements = statementsOf(scaled, stepsRole(scaled));
    const cluster = { ArnEquals: { 'ecs:cluster': { 'Fn::Join': expect.any(Array) } } };
    expect(sid(statements, 'ListDrainingTasks0')).toMatchObject({ actions: ['ecs:ListTasks'], resources: ['*'], condition: cluster });
    for (const name of ['ListDrainingTasks0', 'DescribeDrainingTasks0']) {
      const condition = sid(statements, name)!.condition as { ArnEquals: Record<string, unknown> };
      expect(deployed(condition.ArnEquals['ecs:cluster'])).toBe('arn:aws:ecs:eu-west-1:123456789012:cluster/production');
    }
    expect(sid(statements, 'DescribeDrainingTasks0')).toMatchObject({
      actions: ['ecs:DescribeTasks'],
      resources: [`${REGIONAL('ecs')}task/production/*`],
      condition: cluster,
    });
    // Scaling is UpdateService on the application's own service, as its restart is.
    expect(sid(statements, 'RestartServices')!.resources).toEqual([`${REGIONAL('ecs')}service/production/shop-api`]);
    // Without a scale-to-zero freeze, no task is read.
    expect(statementsOf(cutover, stepsRole(cutover)).flatMap((s) => s.actions)).not.toContain('ecs:ListTasks');
  });

  it('refuses a scale-to-zero freeze of an application without an ECS service, naming it', () => {
    const json = exampleJson();
    json.applications[0].freeze = { mode: 'scale-to-zero' };
    delete json.applications[0].ecs;
    json.applications[0].lambdaFunctions = ['shop-api-worker'];
    expect(() => parseConfig(json)).toThrow(
      /applications\[0\]\.freeze\.mode: "scale-to-zero" scales the application's ECS service to zero: it needs `ecs`/s,
    );
  });

  it('passes no role and grants nothing on "*" but the calls that take no resource', () => {
    for (const template of [cutover, richer]) {
      const statements = statementsOf(template, stepsRole(template));
      expect(statements.flatMap((s) => s.actions).filter((a) => a.startsWith('iam:'))).toEqual([]);
      expect(statements.filter((s) => s.resources.includes('*')).map((s) => [s.sid, s.actions])).toEqual([
        // Takes no resource; lists names only.
        ['ListTaskDefinitionRevisions', ['ecs:ListTaskDefinitions']],
        ['DescribeNetwork', ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets']],
      ]);
      const networkInterfaces = `${REGIONAL('ec2')}network-interface/*`;
      expect(statements.flatMap((s) => s.resources).filter((r) => r.includes('*'))).toEqual([
        `${REGIONAL('states')}execution:lifeline-restore:*`,
        `${REGIONAL('states')}execution:lifeline-pitr:*`,
        '*',
        `${REGIONAL('states')}execution:lifeline-cutover:*`,
        networkInterfaces,
        networkInterfaces,
        '*',
      ]);
    }
  });
});

describe('the state machine', () => {
  it('is cutover.asl.json with every placeholder filled in', () => {
    const props = machine(cutover);
    expect(props.StateMachineName).toBe('lifeline-cutover');
    const definition = readFileSync(new URL('../../../state-machines/cutover.asl.json', import.meta.url), 'utf8');
    expect(readFileSync(join(synth.assembly.directory, `asset.${props.DefinitionS3Location.Key}`), 'utf8')).toBe(definition);
    const substitutions = props.DefinitionSubstitutions as Record<string, unknown>;
    const rendered = Object.entries(substitutions).reduce((body, [name, value]) => body.replaceAll(`\${${name}}`, text(value)), definition);
    expect(rendered).not.toContain('${');
    const { id: table } = only(cutover, 'AWS::DynamoDB::Table');
    expect(Object.fromEntries(Object.entries(substitutions).map(([name, value]) => [name, text(value)]))).toEqual({
      CutoverStepsFunctionArn: `${REGIONAL('lambda')}function:lifeline-cutover`,
      LockTableName: `<${table}>`,
      NotificationsTopicArn: expect.stringMatching(/^<import lifeline-vault:ExportsOutputRefNotificationsTopic/),
      AlarmTopicArn: expect.stringMatching(/^<import lifeline-vault:ExportsOutputRefNotificationsTopic/),
      ApprovalVerifyFunctionArn: `${REGIONAL('lambda')}function:lifeline-approval-verify`,
    });
    // The function it names is deployed before it.
    expect(only(cutover, 'AWS::StepFunctions::StateMachine').id).toBeDefined();
    const machineResource = Object.values(cutover.findResources('AWS::StepFunctions::StateMachine'))[0]!;
    expect(machineResource.DependsOn).toContain(only(cutover, 'AWS::Lambda::Function').id);
  });

  it('may invoke only its steps function, write and delete only its locks, and publish only to the vault topic', () => {
    const statements = statementsOf(cutover, machineRole(cutover));
    const { id: table } = only(cutover, 'AWS::DynamoDB::Table');
    expect(statements.map((s) => [s.sid, s.actions, s.resources])).toEqual([
      ['InvokeSteps', ['lambda:InvokeFunction'], [`${REGIONAL('lambda')}function:lifeline-cutover`]],
      ['HoldLocks', ['dynamodb:PutItem', 'dynamodb:DeleteItem'], [`<${table}.Arn>`]],
      [
        'EncryptLocks',
        ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        [expect.stringMatching(/^<LocksKey[0-9A-F]+\.Arn>$/)],
      ],
      ['VerifyApproval', ['lambda:InvokeFunction'], [`${REGIONAL('lambda')}function:lifeline-approval-verify`]],
      ['PublishToItsTopics', ['sns:Publish'], [expect.stringMatching(/^<import lifeline-vault:ExportsOutputRefNotificationsTopic/)]],
      [
        'EncryptForItsTopics',
        ['kms:GenerateDataKey', 'kms:Decrypt'],
        [expect.stringMatching(/^<import lifeline-vault:ExportsOutputFnGetAttNotificationsKey/)],
      ],
      ['DeliverLogs', expect.any(Array), ['*']],
      ['Trace', expect.any(Array), ['*']],
    ]);
    expect(sid(statements, 'EncryptLocks')!.condition).toEqual({
      StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['dynamodb.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } },
    });
    // Only log delivery and X-Ray are granted on "*".
    for (const statement of statements.filter((s) => s.resources.includes('*'))) {
      expect(
        statement.actions.every((a) => /^(logs|xray):/.test(a)),
        statement.sid,
      ).toBe(true);
    }
  });
});

describe('a config the cutover workflow cannot deploy', () => {
  it("fails the synth when the applications' databases are in more than one network, naming them", () => {
    const json = exampleJson();
    json.applications.push({
      ...json.applications[0],
      name: 'warehouse-ui',
      database: 'warehouse',
      connectionSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:warehouse-ui/database-Wh56Gh',
      ecs: { cluster: 'analytics', service: 'warehouse-ui' },
    });
    const error = synthError(parseConfig(json));
    expect(error.name).toBe('InvalidConfig');
    expect(error.message).toBe(
      `applications: the cutover workflow supports one network per deployment for now, and these applications' databases are in 2 networks: "production" (shop-api), "analytics" (warehouse-ui); configure only the applications of one network`,
    );
  });

  it("fails the synth when the settings would not fit Lambda's environment, naming exactly how many applications fit", () => {
    const withApplications = (count: number) => {
      const json = exampleJson();
      // The restore settings list the applications too, and have a limit of their own; PITR needs restore.
      delete json.restore;
      delete json.pitr;
      json.applications = Array.from({ length: count }, (_, i) => ({
        ...json.applications[0],
        name: `shop-api-${i}`,
        // Each on its own secret and service: two applications may share neither.
        connectionSecretArn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-api-${i}/database-Xy12Ab`,
        ecs: { cluster: 'production', service: `shop-api-${i}` },
        lambdaFunctions: [`shop-api-worker-${i}`],
        // Migrations run in the restore workflow, left out here.
        migrations: undefined,
      }));
      return parseConfig(json);
    };
    const fitOf = (error: LifelineError, count: number) => {
      expect(error.name).toBe('InvalidConfig');
      const match = new RegExp(
        `^applications: the cutover workflow supports up to (\\d+) applications per deployment for now \\(its settings must fit Lambda's 4 KB environment, 4096 bytes: this config's ${count} applications need (\\d+), its first \\1 fit\\); deploy it from a config with fewer applications$`,
      ).exec(error.message);
      expect(match, error.message).not.toBeNull();
      expect(Number(match![2])).toBeGreaterThan(4096);
      return Number(match![1]);
    };
    const fit = fitOf(synthError(withApplications(40)), 40);
    console.info(`${fit} applications fit the cutover settings`);
    expect(fit).toBeGreaterThan(0);
    expect(fit).toBeLessThan(40);
    expect(synthesize(withApplications(fit)).cutover).toBeDefined();
    expect(fitOf(synthError(withApplications(fit + 1)), fit + 1)).toBe(fit);
  });
});

describe('the compensation of cutover executions that end past their rollback', () => {
  it("is a rule on the state machine's stopped, timed-out and failed executions, sending the compensate step to the steps function", () => {
    const { id: machineId } = only(cutover, 'AWS::StepFunctions::StateMachine');
    const { id: rule, properties } = only(cutover, 'AWS::Events::Rule');
    const { id: fn } = only(cutover, 'AWS::Lambda::Function');
    const { id: queue } = only(cutover, 'AWS::SQS::Queue');
    expect(properties.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [{ Ref: machineId }] },
    });
    expect(properties.Targets).toEqual([
      {
        Id: 'Target0',
        Arn: { 'Fn::GetAtt': [fn, 'Arn'] },
        InputTransformer: {
          InputPathsMap: { 'detail-executionArn': '$.detail.executionArn', 'detail-status': '$.detail.status' },
          InputTemplate: '{"step":"compensate","executionArn":<detail-executionArn>,"status":<detail-status>}',
        },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 7200 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queue, 'Arn'] } },
      },
    ]);
    const sent = (properties.Targets[0].InputTransformer.InputTemplate as string)
      .replace('<detail-executionArn>', '"arn:aws:states:eu-west-1:123456789012:execution:lifeline-cutover:3f2c"')
      .replace('<detail-status>', '"TIMED_OUT"');
    expect(CutoverStepEvent.parse(JSON.parse(sent))).toEqual({
      step: 'compensate',
      executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:lifeline-cutover:3f2c',
      status: 'TIMED_OUT',
    });
    cutover.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [fn, 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [rule, 'Arn'] },
    });
    cutover.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: fn },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queue, 'Arn'] } } },
    });
    expect(only(cutover, 'AWS::SQS::Queue').properties).toMatchObject({ SqsManagedSseEnabled: true });
    const alarm = Object.values(cutover.findResources('AWS::CloudWatch::Alarm')).find(
      (r) => r.Properties.AlarmName === 'lifeline-cutover-compensation-failed',
    );
    expect(alarm?.Properties).toMatchObject({ MetricName: 'NumberOfMessagesSent', Namespace: 'AWS/SQS', Threshold: 1 });
  });

  it('may read only its own executions, release only its locks (through DynamoDB on their key), notify the alarm topic and dead-letter', () => {
    const statements = statementsOf(cutover, stepsRole(cutover));
    const { id: table } = only(cutover, 'AWS::DynamoDB::Table');
    const { id: queue } = only(cutover, 'AWS::SQS::Queue');
    expect(sid(statements, 'ReadItsExecutions')).toMatchObject({
      actions: ['states:DescribeExecution', 'states:GetExecutionHistory'],
      resources: [`${REGIONAL('states')}execution:lifeline-cutover:*`],
    });
    // Release or keep only (DeleteItem, PutItem), conditional on the holder in the code: the state machine alone takes locks.
    expect(sid(statements, 'SettleLocks')).toMatchObject({
      actions: ['dynamodb:DeleteItem', 'dynamodb:PutItem'],
      resources: [`<${table}.Arn>`],
    });
    expect(sid(statements, 'DecryptLocks')).toMatchObject({
      resources: [expect.stringMatching(/^<LocksKey[0-9A-F]+\.Arn>$/)],
      condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['dynamodb.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } },
    });
    expect(sid(statements, 'PublishToItsTopics')).toMatchObject({
      actions: ['sns:Publish'],
      resources: [expect.stringMatching(/^<import lifeline-vault:ExportsOutputRefNotificationsTopic/)],
    });
    expect(sid(statements, 'DeadLetterCompensations')).toMatchObject({ actions: ['sqs:SendMessage'], resources: [`<${queue}.Arn>`] });
    expect(statements.flatMap((s) => s.actions).filter((a) => a.startsWith('dynamodb:'))).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:PutItem',
    ]);
  });
});

describe("the restore workflow's hand-over to cutover", () => {
  const restoreRole = (template: Template) => machineRole(template);

  it('may start only the cutover state machine, follow only its executions, and manage the execution sync rule', () => {
    const restore = synth.restoreTemplate!;
    const statements = statementsOf(restore, restoreRole(restore));
    expect(sid(statements, 'StartCutover')).toMatchObject({
      actions: ['states:StartExecution'],
      resources: [`${REGIONAL('states')}stateMachine:lifeline-cutover`],
    });
    expect(sid(statements, 'FollowCutover')).toMatchObject({
      actions: ['states:DescribeExecution', 'states:StopExecution'],
      resources: [`${REGIONAL('states')}execution:lifeline-cutover:*`],
    });
    expect(sid(statements, 'ExecutionSyncRule')).toMatchObject({
      actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
      resources: [`${REGIONAL('events')}rule/StepFunctionsGetEventsForStepFunctionsExecutionRule`],
    });
    // The ARN the definition starts is the one the role may start, and the cutover stack's state machine has that name.
    expect(text(machine(restore).DefinitionSubstitutions.CutoverStateMachineArn)).toBe(
      `${REGIONAL('states')}stateMachine:lifeline-cutover`,
    );
    expect(machine(cutover).StateMachineName).toBe('lifeline-cutover');
  });

  it('without applications keeps the placeholder filled by name but may start no cutover', () => {
    const json = exampleJson();
    json.applications = [];
    const restore = synthesize(parseConfig(json)).restoreTemplate!;
    const statements = statementsOf(restore, restoreRole(restore));
    expect(statements.flatMap((s) => s.actions).filter((a) => a.startsWith('states:'))).toEqual([]);
    expect(sid(statements, 'ExecutionSyncRule')).toBeUndefined();
    expect(text(machine(restore).DefinitionSubstitutions.CutoverStateMachineArn)).toBe(
      `${REGIONAL('states')}stateMachine:lifeline-cutover`,
    );
  });
});
