import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { BackupRequest } from '../../../lambdas/core/backup/request.js';
import { dockerImages, exampleConfig, synthesize, type Synthesized } from '../../support/stacks.js';

let synth: Synthesized;
let backups: Template;
beforeAll(() => {
  synth = synthesize(exampleConfig());
  expect(synth.backupsTemplates).toHaveLength(1);
  backups = synth.backupsTemplates[0]!;
});

const SHOP_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-shop-AbC123';
const WAREHOUSE_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-warehouse-DeF456';
const WAREHOUSE_SECRET_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const importOf = (exportName: RegExp) => ({ 'Fn::ImportValue': Match.stringLikeRegexp(exportName.source) });
const TOPIC = importOf(/^lifeline-vault:ExportsOutputRefNotificationsTopic/);
const DEAD_LETTERS = importOf(/^lifeline-vault:ExportsOutputFnGetAttDeadLettersQueue.*Arn/);
const getAtt = (logicalIdPrefix: string, attribute: string) => ({
  'Fn::GetAtt': [Match.stringLikeRegexp(`^${logicalIdPrefix}`), attribute],
});
const vaultArn = (suffix: string) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':s3:::lifeline-vault-',
      { Ref: 'AWS::AccountId' },
      '-',
      { Ref: 'AWS::Region' },
      ...(suffix ? [suffix] : []),
    ],
  ],
});
const rdsArn = (resource: string) => ({
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':rds:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, resource]],
});
const ec2Arn = (resource: string) => ({
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:${resource}`]],
});

/** The single resource of a type whose properties match, with its logical id. */
function only(template: Template, type: string, properties: Record<string, unknown>): [string, any] {
  const found = Object.entries(template.findResources(type, { Properties: properties }));
  expect(found, `${type} matching ${JSON.stringify(properties)}`).toHaveLength(1);
  return found[0]!;
}

describe('the backup function', () => {
  it('runs the container image of the pg_dump that matches each server', () => {
    const images = dockerImages(synth.assembly, 'lifeline-vault');
    const tagOf = (name: string) => {
      const [, fn] = only(backups, 'AWS::Lambda::Function', { FunctionName: name });
      const parts = fn.Properties.Code.ImageUri['Fn::Join'][1] as unknown[];
      expect(parts).toContainEqual({ 'Fn::Sub': 'cdk-hnb659fds-container-assets-${AWS::AccountId}-${AWS::Region}' });
      return (parts.at(-1) as string).replace(/^:/, '');
    };
    expect(images.get(tagOf('lifeline-backup-shop'))?.dockerBuildArgs).toEqual({ POSTGRES_MAJOR: '16' });
    expect(images.get(tagOf('lifeline-backup-warehouse'))?.dockerBuildArgs).toEqual({ POSTGRES_MAJOR: '17' });
    expect(images.get(tagOf('lifeline-backup-staging'))?.dockerBuildArgs).toEqual({ POSTGRES_MAJOR: '15' });
  });

  it('is sized for a streaming engine and configured for the handler', () => {
    backups.resourceCountIs('AWS::Lambda::Function', 3);
    backups.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'lifeline-backup-shop',
      PackageType: 'Image',
      Architectures: ['x86_64'],
      MemorySize: 2048,
      Timeout: 900,
      EphemeralStorage: { Size: 512 },
      Environment: {
        Variables: {
          VAULT_BUCKET: { 'Fn::Join': ['', ['lifeline-vault-', { Ref: 'AWS::AccountId' }, '-', { Ref: 'AWS::Region' }]] },
          POWERTOOLS_SERVICE_NAME: 'lifeline-backup',
          POWERTOOLS_METRICS_NAMESPACE: 'Lifeline',
        },
      },
      DeadLetterConfig: { TargetArn: DEAD_LETTERS },
      LoggingConfig: {
        LogFormat: 'JSON',
        ApplicationLogLevel: 'INFO',
        SystemLogLevel: 'WARN',
        LogGroup: { Ref: Match.stringLikeRegexp('^Logs') },
      },
      Role: getAtt('BackupshopRole', 'Arn'),
      ReservedConcurrentExecutions: Match.absent(),
    });
  });

  it('is told by its environment which database it backs up, how to reach it and where to: nothing a caller chooses', () => {
    const variables = (name: string) => only(backups, 'AWS::Lambda::Function', { FunctionName: name })[1].Properties.Environment.Variables;
    const bucket = { 'Fn::Join': ['', ['lifeline-vault-', { Ref: 'AWS::AccountId' }, '-', { Ref: 'AWS::Region' }]] };
    // shop's RDS-managed secret holds no endpoint: the function asks RDS for the instance's.
    expect(variables('lifeline-backup-shop')).toMatchObject({
      LIFELINE_DATABASE: 'shop',
      VAULT_BUCKET: bucket,
      DATABASE_SECRET_ARN: SHOP_SECRET,
      DATABASE_PORT: '5432',
      RDS_INSTANCE_IDENTIFIER: 'shop-production',
      BACKUP_TIME_ZONE: 'Europe/Berlin',
    });
    expect(variables('lifeline-backup-shop')).not.toHaveProperty('DATABASE_HOST');
    expect(variables('lifeline-backup-shop')).not.toHaveProperty('DATABASE_NAME');
    expect(variables('lifeline-backup-warehouse')).toMatchObject({
      LIFELINE_DATABASE: 'warehouse',
      DATABASE_SECRET_ARN: WAREHOUSE_SECRET,
      DATABASE_HOST: 'warehouse.cluster-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com',
      DATABASE_PORT: '5433',
      DATABASE_NAME: 'warehouse',
      RDS_CLUSTER_IDENTIFIER: 'warehouse',
      BACKUP_TIME_ZONE: 'America/New_York',
    });
  });

  it('retries a failed run twice within six hours, then sends its event to the dead-letter queue', () => {
    backups.resourceCountIs('AWS::Lambda::EventInvokeConfig', 3);
    backups.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: Match.stringLikeRegexp('^BackupshopFunction') },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 6 * 3600,
    });
  });

  it("runs in the database's VPC subnets with the backup security group", () => {
    backups.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'lifeline-backup-shop',
      VpcConfig: {
        SubnetIds: ['subnet-0a1b2c3d4e5f67890', 'subnet-1a1b2c3d4e5f67890'],
        SecurityGroupIds: [getAtt('NetworkproductionSecurityGroup', 'GroupId')],
      },
    });
    backups.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'lifeline-backup-warehouse',
      VpcConfig: { SubnetIds: ['subnet-2a1b2c3d4e5f67890'], SecurityGroupIds: [getAtt('NetworkanalyticsSecurityGroup', 'GroupId')] },
    });
  });

  it('logs to one log group per stack, kept for three months', () => {
    backups.resourceCountIs('AWS::Logs::LogGroup', 1);
    backups.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
  });
});

describe("the backup function's role", () => {
  it("may read only its own database's secret and write and list only under its own tier prefixes", () => {
    backups.hasResourceProperties('AWS::IAM::Role', {
      Description: 'Lifeline backup of shop',
      AssumeRolePolicyDocument: {
        Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } }],
      },
      ManagedPolicyArns: Match.absent(),
      Policies: [
        {
          PolicyName: 'backup',
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              { Sid: 'ReadOwnSecret', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: SHOP_SECRET },
              { Sid: 'DescribeOwnDatabase', Effect: 'Allow', Action: 'rds:DescribeDBInstances', Resource: rdsArn(':db:shop-production') },
              {
                Sid: 'WriteAndVerifyOwnBackups',
                Effect: 'Allow',
                Action: ['s3:PutObject', 's3:PutObjectRetention', 's3:GetObject', 's3:AbortMultipartUpload'],
                Resource: [vaultArn('/daily/shop/*'), vaultArn('/weekly/shop/*'), vaultArn('/monthly/shop/*')],
              },
              {
                Sid: 'ListOwnBackups',
                Effect: 'Allow',
                Action: 's3:ListBucket',
                Resource: vaultArn(''),
                Condition: { StringLike: { 's3:prefix': ['daily/shop/*', 'weekly/shop/*', 'monthly/shop/*'] } },
              },
              {
                Sid: 'UseVaultKeyThroughS3',
                Effect: 'Allow',
                Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
                Resource: importOf(/^lifeline-vault:ExportsOutputFnGetAttVaultKey.*Arn/),
                Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } },
              },
              { Sid: 'WriteLogs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: getAtt('Logs', 'Arn') },
              { Sid: 'DeadLetter', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: DEAD_LETTERS },
              {
                Sid: 'CreateNetworkInterfaces',
                Effect: 'Allow',
                Action: 'ec2:CreateNetworkInterface',
                Resource: [
                  ec2Arn('network-interface/*'),
                  {
                    'Fn::Join': [
                      '',
                      [
                        'arn:',
                        { Ref: 'AWS::Partition' },
                        ':ec2:',
                        { Ref: 'AWS::Region' },
                        ':',
                        { Ref: 'AWS::AccountId' },
                        ':security-group/',
                        getAtt('NetworkproductionSecurityGroup', 'GroupId'),
                      ],
                    ],
                  },
                  ec2Arn('subnet/subnet-0a1b2c3d4e5f67890'),
                  ec2Arn('subnet/subnet-1a1b2c3d4e5f67890'),
                ],
              },
              {
                Sid: 'ManageNetworkInterfaces',
                Effect: 'Allow',
                Action: ['ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
                Resource: ec2Arn('network-interface/*'),
              },
              { Sid: 'DescribeNetwork', Effect: 'Allow', Action: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'], Resource: '*' },
            ],
          },
        },
      ],
    });
  });

  it("may decrypt the secret's customer-managed key, through Secrets Manager only, when there is one", () => {
    const [, warehouse] = only(backups, 'AWS::IAM::Role', { Description: 'Lifeline backup of warehouse' });
    const statements = warehouse.Properties.Policies[0].PolicyDocument.Statement;
    expect(statements.slice(0, 2)).toEqual([
      { Sid: 'ReadOwnSecret', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: WAREHOUSE_SECRET },
      {
        Sid: 'DecryptOwnSecret',
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: WAREHOUSE_SECRET_KEY,
        Condition: {
          StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } },
        },
      },
    ]);
    // Its config gives the endpoint and database name, and Lifeline's endpoints do not reach the RDS API.
    expect(statements.map((statement: { Sid: string }) => statement.Sid)).not.toContain('DescribeOwnDatabase');
    const [, shop] = only(backups, 'AWS::IAM::Role', { Description: 'Lifeline backup of shop' });
    expect(JSON.stringify(shop)).not.toContain('DecryptOwnSecret');
    expect(JSON.stringify(shop)).not.toContain('warehouse');
  });

  it("lives under the runtime path, where the vault's bucket policy forbids it to delete or replace a backup", () => {
    for (const database of ['shop', 'warehouse', 'staging']) {
      only(backups, 'AWS::IAM::Role', { Description: `Lifeline backup of ${database}`, Path: '/lifeline-runtime/' });
    }
  });

  it('may not delete anything in the vault, in any stack: an archive without its manifest stays until its tier ends', () => {
    const vaultActions = [backups, synth.vaultTemplate].flatMap((template) =>
      Object.values(template.findResources('AWS::IAM::Role')).flatMap((role) =>
        (role.Properties.Policies ?? []).flatMap((policy: any) =>
          policy.PolicyDocument.Statement.filter((statement: any) => statement.Effect === 'Allow').flatMap((statement: any) =>
            [statement.Action].flat(),
          ),
        ),
      ),
    );
    expect(vaultActions).toContain('s3:PutObject');
    expect(vaultActions.filter((action: string) => /^s3:(\*|Delete|BypassGovernance|PutLifecycle|PutBucket)/.test(action))).toEqual([]);
  });

  it("tells the function the vault's Object Lock mode, with which it locks each backup", () => {
    for (const functionName of ['lifeline-backup-shop', 'lifeline-backup-warehouse', 'lifeline-backup-staging']) {
      backups.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: functionName,
        Environment: { Variables: Match.objectLike({ VAULT_OBJECT_LOCK_MODE: 'GOVERNANCE' }) },
      });
    }
  });

  it('is complete as written: no policy is attached from elsewhere, in any stack', () => {
    for (const template of [backups, synth.vaultTemplate]) {
      template.resourceCountIs('AWS::IAM::Policy', 0);
      template.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
      for (const role of Object.values(template.findResources('AWS::IAM::Role'))) {
        expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      }
    }
  });
});

describe('the schedules', () => {
  it("start each scheduled database's backup by its cron in its time zone, with retries and a dead-letter queue", () => {
    backups.resourceCountIs('AWS::Scheduler::Schedule', 2);
    const [, schedule] = only(backups, 'AWS::Scheduler::Schedule', { Name: 'lifeline-backup-warehouse' });
    expect(schedule.Properties).toMatchObject({
      ScheduleExpression: 'cron(0 23 * * ? *)',
      ScheduleExpressionTimezone: 'America/New_York',
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: 'ENABLED',
      Target: {
        Arn: { 'Fn::GetAtt': [expect.stringMatching(/^BackupwarehouseFunction/), 'Arn'] },
        RoleArn: { 'Fn::GetAtt': [expect.stringMatching(/^SchedulesRole/), 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 5, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: { Arn: { 'Fn::ImportValue': expect.stringMatching(/DeadLettersQueue/) } },
      },
    });
    // The event says only what started the backup; the function knows its database, secret, vault and time zone.
    expect(JSON.parse(schedule.Properties.Target.Input)).toEqual({ trigger: 'schedule' });
    expect(BackupRequest.parse(JSON.parse(schedule.Properties.Target.Input))).toEqual({ trigger: 'schedule', tier: 'auto' });
  });

  it('leave on-demand databases unscheduled', () => {
    expect(backups.findResources('AWS::Scheduler::Schedule', { Properties: { Name: 'lifeline-backup-staging' } })).toEqual({});
  });

  it('share a role that may invoke exactly the scheduled functions and send to the dead-letter queue', () => {
    backups.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Action: 'sts:AssumeRole',
            Effect: 'Allow',
            Principal: { Service: 'scheduler.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          },
        ],
      },
      Policies: [
        {
          PolicyName: 'invoke',
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'InvokeBackupFunctions',
                Effect: 'Allow',
                Action: 'lambda:InvokeFunction',
                Resource: [getAtt('BackupshopFunction', 'Arn'), getAtt('BackupwarehouseFunction', 'Arn')],
              },
              { Sid: 'DeadLetter', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: DEAD_LETTERS },
            ],
          },
        },
      ],
    });
  });
});

describe('the alarms', () => {
  it('fire on a failed backup, counted by the handler or by Lambda (timeouts, crashes), and on a request Lambda gave up on', () => {
    backups.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'lifeline-shop-backup-failed',
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [TOPIC],
      OKActions: [TOPIC],
      Metrics: [
        { Id: 'expr_1', Expression: 'FILL(failed, 0) + FILL(errors, 0) + FILL(dropped, 0)', ReturnData: true },
        {
          Id: 'failed',
          ReturnData: false,
          MetricStat: {
            Metric: {
              Namespace: 'Lifeline',
              MetricName: 'BackupFailed',
              Dimensions: [
                { Name: 'Database', Value: 'shop' },
                { Name: 'service', Value: 'lifeline-backup' },
              ],
            },
            Period: 300,
            Stat: 'Sum',
          },
        },
        {
          Id: 'errors',
          ReturnData: false,
          MetricStat: {
            Metric: {
              Namespace: 'AWS/Lambda',
              MetricName: 'Errors',
              Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^BackupshopFunction') } }],
            },
            Period: 300,
            Stat: 'Sum',
          },
        },
        {
          // Each asynchronous request that exhausted its retries or its age, dead-lettered: per database, unlike the queue's alarm.
          Id: 'dropped',
          ReturnData: false,
          MetricStat: {
            Metric: {
              Namespace: 'AWS/Lambda',
              MetricName: 'AsyncEventsDropped',
              Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^BackupshopFunction') } }],
            },
            Period: 300,
            Stat: 'Sum',
          },
        },
      ],
    });
  });

  it('fire when no backup succeeded within the RPO, counting missing data as breaching', () => {
    for (const [database, rpoHours] of [
      ['shop', 26],
      ['warehouse', 30],
    ] as const) {
      backups.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `lifeline-${database}-backup-stale`,
        Namespace: 'Lifeline',
        MetricName: 'BackupSucceeded',
        Dimensions: [
          { Name: 'Database', Value: database },
          { Name: 'service', Value: 'lifeline-backup' },
        ],
        Statistic: 'Sum',
        Period: 3600,
        EvaluationPeriods: rpoHours,
        DatapointsToAlarm: rpoHours,
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 1,
        TreatMissingData: 'breaching',
        AlarmActions: [TOPIC],
        OKActions: [TOPIC],
      });
    }
  });

  it("fire when a backup shrank from the previous one by more than the database's threshold, until a later one did not", () => {
    for (const [database, threshold] of [
      ['shop', 50],
      ['warehouse', 30],
      ['staging', 50],
    ] as const) {
      backups.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `lifeline-${database}-backup-shrunk`,
        Namespace: 'Lifeline',
        MetricName: 'BackupShrinkPercent',
        Dimensions: [
          { Name: 'Database', Value: database },
          { Name: 'service', Value: 'lifeline-backup' },
        ],
        Statistic: 'Maximum',
        Unit: 'Percent',
        Period: 300,
        EvaluationPeriods: 1,
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: threshold,
        TreatMissingData: 'ignore',
        AlarmActions: [TOPIC],
        OKActions: [TOPIC],
      });
    }
  });

  it('warn when a backup used more than half of the time Lambda allows it, before it outgrows it', () => {
    for (const database of ['shop', 'warehouse', 'staging']) {
      backups.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `lifeline-${database}-backup-near-time-limit`,
        AlarmDescription: Match.stringLikeRegexp('with "runner": "fargate" for this database in the config'),
        Namespace: 'Lifeline',
        MetricName: 'BackupTimeLimitUsed',
        Dimensions: [
          { Name: 'Database', Value: database },
          { Name: 'service', Value: 'lifeline-backup' },
        ],
        Statistic: 'Maximum',
        Unit: 'Percent',
        Period: 3600,
        EvaluationPeriods: 1,
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 50,
        TreatMissingData: 'notBreaching',
        AlarmActions: [TOPIC],
        OKActions: [TOPIC],
      });
    }
  });

  it('watch on-demand databases for everything but staleness', () => {
    // failed, near-time-limit and shrunk for each of the three databases; stale for the two scheduled ones.
    backups.resourceCountIs('AWS::CloudWatch::Alarm', 11);
    only(backups, 'AWS::CloudWatch::Alarm', { AlarmName: 'lifeline-staging-backup-failed' });
    only(backups, 'AWS::CloudWatch::Alarm', { AlarmName: 'lifeline-staging-backup-shrunk' });
    expect(backups.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: 'lifeline-staging-backup-stale' } })).toEqual({});
  });
});

describe('the dashboard', () => {
  /** The dashboard body with its CloudFormation references replaced by their logical ids. */
  function dashboardBody(): any {
    const [, dashboard] = only(backups, 'AWS::CloudWatch::Dashboard', { DashboardName: 'lifeline-backups-1' });
    const parts = dashboard.Properties.DashboardBody['Fn::Join'][1] as unknown[];
    return JSON.parse(
      parts.map((part) => (typeof part === 'string' ? part : JSON.stringify(part).replace(/"/g, '').replace(/[{}]/g, ''))).join(''),
    );
  }

  it('shows backup age, size and duration per database, and the staleness alarms', () => {
    const widgets = dashboardBody().widgets as any[];
    expect(widgets.map((widget) => widget.properties.title)).toEqual([
      'Backup staleness (RPO)',
      'Backup age (hours since the last successful backup)',
      'Backup size',
      'Backup duration',
    ]);
    const [alarms, age, size, duration] = widgets;
    expect(alarms.properties.alarms).toEqual([
      expect.stringMatching(/AlarmsshopStale.*Arn/),
      expect.stringMatching(/AlarmswarehouseStale.*Arn/),
    ]);
    const databases = ['shop', 'warehouse', 'staging'];
    expect(age.properties.metrics).toEqual(
      databases.flatMap((database, i) => [
        [{ label: database, expression: `(EPOCH(FILL(ok${i}, 0)) - FILL(IF(ok${i} > 0, EPOCH(ok${i})), REPEAT)) / 3600`, period: 3600 }],
        [
          'Lifeline',
          'BackupSucceeded',
          'Database',
          database,
          'service',
          'lifeline-backup',
          { id: `ok${i}`, visible: false, period: 3600, stat: 'Sum' },
        ],
      ]),
    );
    for (const [widget, metric] of [
      [size, 'BackupBytes'],
      [duration, 'BackupDuration'],
    ] as const) {
      expect(widget.properties.metrics).toEqual(
        databases.map((database) => [
          'Lifeline',
          metric,
          'Database',
          database,
          'service',
          'lifeline-backup',
          { label: database, period: 86400, stat: 'Maximum' },
        ]),
      );
    }
  });
});

describe('the stacks', () => {
  it('deploy the backups after the vault they write to', () => {
    expect(synth.backups[0]!.dependencies).toContain(synth.vault);
  });

  it("tag every resource with the deployment's name", () => {
    for (const template of [backups, synth.vaultTemplate]) {
      for (const [type, resource] of Object.entries(template.toJSON().Resources as Record<string, any>).map(([, r]) => [r.Type, r])) {
        if (['AWS::Lambda::Function', 'AWS::S3::Bucket', 'AWS::IAM::Role', 'AWS::SQS::Queue', 'AWS::CloudWatch::Alarm'].includes(type)) {
          expect(resource.Properties.Tags, type).toContainEqual({ Key: 'lifeline', Value: 'lifeline' });
        }
      }
    }
  });
});
