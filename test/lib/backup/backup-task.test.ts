import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { RUNNER_BACKUP_COMMAND, RUNNER_USER } from '../../../lambdas/core/runner/environment.js';
import { parseConfig } from '../../../lib/config/load.js';
import {
  deployedText,
  dockerImages,
  exampleConfig,
  exampleJson,
  roleStatements,
  synthesize,
  type Synthesized,
} from '../../support/stacks.js';

/**
 * The example deployment with shop (scheduled) and a new on-demand database, archive, backed up on Fargate;
 * warehouse and staging stay on Lambda.
 */
let synth: Synthesized;
let backups: Template;
let resources: Record<string, any>;
/** The example as it is, all on Lambda. */
let lambdaOnly: Record<string, any>;
beforeAll(() => {
  const json = exampleJson();
  json.databases[0].runner = 'fargate';
  json.databases.push({ ...json.databases[2], name: 'archive', runner: 'fargate', fargate: { vcpus: 4 } });
  synth = synthesize(parseConfig(json));
  backups = synth.backupsTemplates[0]!;
  resources = backups.toJSON().Resources;
  lambdaOnly = synthesize(exampleConfig()).backupsTemplates[0]!.toJSON().Resources;
});

/** The logical id of the single resource of `type` whose properties match. */
function logicalId(type: string, properties: Record<string, unknown>): string {
  const ids = Object.keys(backups.findResources(type, { Properties: properties }));
  expect(ids, `${type} matching ${JSON.stringify(properties)}`).toHaveLength(1);
  return ids[0]!;
}
const taskDefinition = (family: string) => resources[logicalId('AWS::ECS::TaskDefinition', { Family: family })].Properties;
const containerOf = (family: string) => taskDefinition(family).ContainerDefinitions[0];
const environmentOf = (container: { Environment: { Name: string; Value: unknown }[] }) =>
  Object.fromEntries(container.Environment.map(({ Name, Value }) => [Name, deployedText(Value)]));
const roleIdOf = (arn: { 'Fn::GetAtt': [string, string] }) => arn['Fn::GetAtt'][0];
const lambdaRoleStatements = (database: string) => {
  const [id] = Object.entries(lambdaOnly).find(
    ([, r]) => r.Type === 'AWS::IAM::Role' && r.Properties.Description === `Lifeline backup of ${database}`,
  )!;
  return roleStatements(lambdaOnly, id);
};

const DEAD_LETTERS_ARN = expect.stringMatching(/^<import lifeline-vault:ExportsOutputFnGetAttDeadLettersQueue.*Arn/);
const CLUSTER_ARN = expect.stringMatching(/^<Cluster[0-9A-F]+\.Arn>$/);

describe('a database backed up on Fargate', () => {
  it('has a task definition instead of a function; the Lambda databases keep theirs as they were', () => {
    const functions = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(functions.map((fn) => fn.Properties.FunctionName).sort()).toEqual(['lifeline-backup-staging', 'lifeline-backup-warehouse']);
    backups.resourceCountIs('AWS::ECS::TaskDefinition', 2);
    // Everything of the Lambda databases, their schedules included, and the networks: the same resources as before.
    const unchanged = Object.keys(lambdaOnly).filter((id) => /warehouse|staging|^Network|^Logs/.test(id));
    expect(unchanged.length).toBeGreaterThan(15);
    for (const id of unchanged) expect(resources[id], id).toEqual(lambdaOnly[id]);
  });

  it("runs the backup image of its pg_dump, sized by the config, the CLI's backup command as nobody on a read-only root filesystem", () => {
    expect(taskDefinition('lifeline-backup-shop')).toMatchObject({
      Cpu: '2048',
      Memory: '4096',
      NetworkMode: 'awsvpc',
      RequiresCompatibilities: ['FARGATE'],
      RuntimePlatform: { CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' },
    });
    expect(taskDefinition('lifeline-backup-archive')).toMatchObject({ Cpu: '4096', Memory: '8192' });
    const container = containerOf('lifeline-backup-shop');
    expect(taskDefinition('lifeline-backup-shop').ContainerDefinitions).toHaveLength(1);
    expect(container.Name).toBe('backup');
    expect([...container.EntryPoint, ...container.Command]).toEqual(RUNNER_BACKUP_COMMAND);
    expect(container.User).toBe(RUNNER_USER);
    expect(container.ReadonlyRootFilesystem).toBe(true);
    // Nothing is staged on disk: no volume.
    expect(container.MountPoints).toBeUndefined();
    expect(taskDefinition('lifeline-backup-shop').Volumes).toBeUndefined();
    const tag = (container.Image['Fn::Sub'] as string).split(':').at(-1)!;
    expect(dockerImages(synth.assembly, 'lifeline-vault').get(tag)?.dockerBuildArgs).toEqual({ POSTGRES_MAJOR: '16' });
  });

  it("is told by its environment what the function would be, the schedule's request and the dead-letter queue, and no secret", () => {
    const [, shopFunction] = Object.entries(lambdaOnly).find(([, r]) => r.Properties?.FunctionName === 'lifeline-backup-shop')!;
    const {
      POWERTOOLS_SERVICE_NAME: _,
      POWERTOOLS_METRICS_NAMESPACE: __,
      ...functionEnvironment
    } = shopFunction.Properties.Environment.Variables;
    const environment = environmentOf(containerOf('lifeline-backup-shop'));
    expect(environment).toEqual({
      ...Object.fromEntries(Object.entries(functionEnvironment).map(([name, value]) => [name, deployedText(value)])),
      LIFELINE_BACKUP_REQUEST: '{"trigger":"schedule"}',
      BACKUP_DEAD_LETTER_QUEUE_URL: expect.stringMatching(/^<import lifeline-vault:ExportsOutputRefDeadLettersQueue/),
    });
    expect(environment.DATABASE_SECRET_ARN).toBe('arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-shop-AbC123');
    expect(containerOf('lifeline-backup-shop').Secrets).toBeUndefined();
    // An on-demand database's task backs up what `aws ecs run-task` asks, a manual backup unless overridden.
    expect(environmentOf(containerOf('lifeline-backup-archive')).LIFELINE_BACKUP_REQUEST).toBe('{}');
  });

  it("logs to the stack's log group, where the functions log", () => {
    expect(containerOf('lifeline-backup-shop').LogConfiguration).toEqual({
      LogDriver: 'awslogs',
      Options: {
        'awslogs-group': { Ref: expect.stringMatching(/^Logs/) },
        'awslogs-stream-prefix': 'backup',
        'awslogs-region': { Ref: 'AWS::Region' },
      },
    });
    backups.resourceCountIs('AWS::Logs::LogGroup', 1);
  });
});

describe("the backup task's roles", () => {
  it("may do what the database's function may, less its logs and network interfaces, plus its own dead letters and metrics", () => {
    const taskRole = roleIdOf(taskDefinition('lifeline-backup-shop').TaskRoleArn);
    expect(resources[taskRole].Properties).toMatchObject({
      Description: 'Lifeline backup of shop',
      Path: '/lifeline-runtime/',
      AssumeRolePolicyDocument: {
        Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' } }],
      },
    });
    expect(resources[taskRole].Properties.ManagedPolicyArns).toBeUndefined();
    const lambdaOnlyGrants = ['WriteLogs', 'CreateNetworkInterfaces', 'ManageNetworkInterfaces', 'DescribeNetwork'];
    expect(roleStatements(resources, taskRole)).toEqual([
      ...lambdaRoleStatements('shop').filter((statement) => !lambdaOnlyGrants.includes(statement.sid)),
      {
        sid: 'PublishBackupMetrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        condition: { StringEquals: { 'cloudwatch:namespace': 'Lifeline' } },
      },
    ]);
    expect(roleStatements(resources, taskRole).map((s) => s.sid)).toEqual([
      'ReadOwnSecret',
      'DescribeOwnDatabase',
      'WriteAndVerifyOwnBackups',
      'ListOwnBackups',
      'UseVaultKeyThroughS3',
      'DeadLetter',
      'PublishBackupMetrics',
    ]);
    // Nothing attaches to it from elsewhere.
    for (const policy of Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Policy')) {
      expect(policy.Properties.Roles).not.toContainEqual({ Ref: taskRole });
    }
  });

  it('leave the vault without any way to delete', () => {
    const actions = Object.values(resources)
      .filter((r) => r.Type === 'AWS::IAM::Role' || r.Type === 'AWS::IAM::Policy')
      .flatMap((r) =>
        r.Type === 'AWS::IAM::Role' ? (r.Properties.Policies ?? []).map((p: any) => p.PolicyDocument) : [r.Properties.PolicyDocument],
      )
      .flatMap((document: any) => document.Statement.flatMap((statement: any) => [statement.Action].flat()));
    expect(actions).toContain('s3:PutObject');
    expect(actions.filter((action: string) => /^s3:(\*|Delete|BypassGovernance|PutLifecycle|PutBucket)|^\*$/.test(action))).toEqual([]);
  });

  it('let the execution role CDK makes pull the image from the asset repository and write to the log group, nothing more', () => {
    const executionRole = roleIdOf(taskDefinition('lifeline-backup-shop').ExecutionRoleArn);
    const [policy] = Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles[0].Ref === executionRole);
    expect(
      (policy.Properties.PolicyDocument.Statement as any[]).map((s) => [[s.Action].flat(), [s.Resource].flat().map(deployedText)]),
    ).toEqual([
      [
        ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
        [
          'arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/{"Fn::Sub":"cdk-hnb659fds-container-assets-${AWS::AccountId}-${AWS::Region}"}',
        ],
      ],
      [['ecr:GetAuthorizationToken'], ['*']],
      [['logs:CreateLogStream', 'logs:PutLogEvents'], [expect.stringMatching(/^<Logs[0-9A-F]+\.Arn>$/)]],
    ]);
  });
});

describe("a Fargate database's schedule", () => {
  it('runs its task in the stack’s cluster, in its subnets with the backup security group and no public IP, with the retries and dead-letter queue of the Lambda schedules', () => {
    const schedule = resources[logicalId('AWS::Scheduler::Schedule', { Name: 'lifeline-backup-shop' })].Properties;
    const warehouse = resources[logicalId('AWS::Scheduler::Schedule', { Name: 'lifeline-backup-warehouse' })].Properties;
    expect(schedule).toMatchObject({
      ScheduleExpression: 'cron(30 3 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: 'ENABLED',
    });
    const { RetryPolicy, DeadLetterConfig, ...target } = schedule.Target;
    expect({ RetryPolicy, DeadLetterConfig }).toEqual({
      RetryPolicy: warehouse.Target.RetryPolicy,
      DeadLetterConfig: warehouse.Target.DeadLetterConfig,
    });
    expect(RetryPolicy).toEqual({ MaximumRetryAttempts: 5, MaximumEventAgeInSeconds: 3600 });
    expect(deployedText(target.Arn)).toEqual(CLUSTER_ARN);
    expect(deployedText(target.RoleArn)).toMatch(/^<Scheduleslifelinebackupshop.*Role.*\.Arn>$/);
    expect(target.Input).toBeUndefined();
    expect(target.EcsParameters).toEqual({
      TaskDefinitionArn: { Ref: logicalId('AWS::ECS::TaskDefinition', { Family: 'lifeline-backup-shop' }) },
      LaunchType: 'FARGATE',
      NetworkConfiguration: {
        AwsvpcConfiguration: {
          Subnets: ['subnet-0a1b2c3d4e5f67890', 'subnet-1a1b2c3d4e5f67890'],
          SecurityGroups: [{ 'Fn::GetAtt': [expect.stringMatching(/^NetworkproductionSecurityGroup/), 'GroupId'] }],
          AssignPublicIp: 'DISABLED',
        },
      },
      PropagateTags: 'TASK_DEFINITION',
    });
    // The same security group the database already admits.
    expect(
      resources[target.EcsParameters.NetworkConfiguration.AwsvpcConfiguration.SecurityGroups[0]['Fn::GetAtt'][0]].Properties
        .SecurityGroupEgress,
    ).toContainEqual(expect.objectContaining({ DestinationSecurityGroupId: 'sg-0a1b2c3d4e5f67890', FromPort: 5432 }));
  });

  it('has a role that may run only that task definition on that cluster and pass only its two roles', () => {
    const schedule = resources[logicalId('AWS::Scheduler::Schedule', { Name: 'lifeline-backup-shop' })].Properties;
    const role = roleIdOf(schedule.Target.RoleArn);
    expect(resources[role].Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { Service: 'scheduler.amazonaws.com' },
        Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
      },
    ]);
    const shop = taskDefinition('lifeline-backup-shop');
    const ecs = 'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>';
    expect(roleStatements(resources, role)).toEqual([
      {
        sid: 'RunBackupTask',
        actions: ['ecs:RunTask'],
        resources: [`${ecs}:task-definition/lifeline-backup-shop:*`],
        condition: { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [expect.stringMatching(/^Cluster/), 'Arn'] } } },
      },
      {
        sid: 'PassBackupTaskRoles',
        actions: ['iam:PassRole'],
        resources: [`<${roleIdOf(shop.TaskRoleArn)}.Arn>`, `<${roleIdOf(shop.ExecutionRoleArn)}.Arn>`],
        condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      },
      {
        sid: 'TagBackupTask',
        actions: ['ecs:TagResource'],
        resources: [expect.stringMatching(new RegExp(`^${ecs.replace(/[<>:]/g, '\\$&')}:task/<Cluster[0-9A-F]+>/\\*$`))],
        condition: { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
      },
      { sid: 'DeadLetter', actions: ['sqs:SendMessage'], resources: [DEAD_LETTERS_ARN], condition: undefined },
    ]);
  });

  it("leave the functions' shared role to the Lambda schedules, and an on-demand Fargate database unscheduled", () => {
    const role = logicalId('AWS::IAM::Role', { Description: 'Lifeline backup schedules' });
    expect(roleStatements(resources, role).find((s) => s.sid === 'InvokeBackupFunctions')!.resources).toEqual([
      expect.stringMatching(/^<BackupwarehouseFunction[0-9A-F]+\.Arn>$/),
    ]);
    expect(backups.findResources('AWS::Scheduler::Schedule', { Properties: { Name: 'lifeline-backup-archive' } })).toEqual({});
    backups.resourceCountIs('AWS::Scheduler::Schedule', 2);
  });
});

describe('the cluster and what reports a task that stopped without a backup', () => {
  it('is one ECS cluster with Container Insights, only in a stack that has a Fargate database', () => {
    backups.resourceCountIs('AWS::ECS::Cluster', 1);
    backups.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
    expect(Object.values(lambdaOnly).filter((r) => r.Type === 'AWS::ECS::Cluster' || r.Type === 'AWS::Events::Rule')).toEqual([]);
  });

  it('notifies the alarm topic of a task of the cluster that stopped with a non-zero exit code or never started, in words', () => {
    const [rule] = Object.values(resources).filter((r) => r.Type === 'AWS::Events::Rule');
    expect(rule.Properties.EventPattern).toEqual({
      source: ['aws.ecs'],
      'detail-type': ['ECS Task State Change'],
      detail: {
        clusterArn: [{ 'Fn::GetAtt': [expect.stringMatching(/^Cluster/), 'Arn'] }],
        lastStatus: ['STOPPED'],
        $or: [{ containers: { exitCode: [{ 'anything-but': 0 }] } }, { stopCode: ['TaskFailedToStart'] }],
      },
    });
    const [target] = rule.Properties.Targets;
    expect(deployedText(target.Arn)).toMatch(/^<import lifeline-vault:ExportsOutputRefNotificationsTopic/);
    const template = deployedText(target.InputTransformer.InputTemplate);
    expect(template).toMatch(
      /^"A Lifeline backup task stopped without a backup: <detail-group>, <detail-stopCode>, exit code <detail-containers-0--exitCode>: <detail-stoppedReason>\. /,
    );
    expect(template).toContain('12 DatabaseUnreachable');
    expect(template).toMatch(/its logs are in <Logs[0-9A-F]+>, stream backup\/backup\/ and the task id/);
    expect(target.InputTransformer.InputPathsMap).toEqual({
      'detail-group': '$.detail.group',
      'detail-stopCode': '$.detail.stopCode',
      'detail-containers-0--exitCode': '$.detail.containers[0].exitCode',
      'detail-stoppedReason': '$.detail.stoppedReason',
      'detail-taskArn': '$.detail.taskArn',
    });
    // Publishing with a role of its own: the encrypted topic's key takes IAM grants, the vault stack is left as it is.
    expect(roleStatements(resources, roleIdOf(target.RoleArn))).toEqual([
      { sid: 'PublishToAlarmTopic', actions: ['sns:Publish'], resources: [deployedText(target.Arn)], condition: undefined },
      {
        sid: 'EncryptForAlarmTopic',
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [expect.stringMatching(/^<import lifeline-vault:ExportsOutputFnGetAttNotificationsKey.*Arn/)],
        condition: undefined,
      },
    ]);
    expect(synth.vaultTemplate.toJSON().Resources).toEqual(synthesize(exampleConfig()).vaultTemplate.toJSON().Resources);
  });
});

describe("a Fargate database's alarms", () => {
  it('count its failed backups, watch shrinking and staleness, and have no time limit to watch', () => {
    const alarm = (name: string) =>
      Object.values(resources).find((r) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties.AlarmName === name)?.Properties;
    expect(alarm('lifeline-shop-backup-failed')).toMatchObject({
      Namespace: 'Lifeline',
      MetricName: 'BackupFailed',
      Dimensions: [
        { Name: 'Database', Value: 'shop' },
        { Name: 'service', Value: 'lifeline-backup' },
      ],
      Statistic: 'Sum',
      Period: 300,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      TreatMissingData: 'notBreaching',
    });
    expect(alarm('lifeline-shop-backup-failed')!.Metrics).toBeUndefined();
    for (const name of [
      'lifeline-shop-backup-shrunk',
      'lifeline-shop-backup-stale',
      'lifeline-archive-backup-failed',
      'lifeline-archive-backup-shrunk',
    ]) {
      expect(alarm(name), name).toBeDefined();
    }
    for (const name of [
      'lifeline-shop-backup-near-time-limit',
      'lifeline-archive-backup-near-time-limit',
      'lifeline-archive-backup-stale',
    ]) {
      expect(alarm(name), name).toBeUndefined();
    }
    const stale = (template: Record<string, any>) =>
      Object.values(template).find((r) => r.Properties?.AlarmName === 'lifeline-shop-backup-stale')!.Properties;
    expect(stale(resources)).toEqual(stale(lambdaOnly));
  });

  it('show on the dashboard with the Lambda databases', () => {
    const [dashboard] = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Dashboard');
    const body = deployedText(dashboard.Properties.DashboardBody);
    for (const database of ['shop', 'warehouse', 'staging', 'archive']) {
      expect(body).toContain(`"BackupBytes","Database","${database}","service","lifeline-backup"`);
    }
  });
});
