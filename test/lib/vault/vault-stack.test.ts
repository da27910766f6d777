import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, exampleJson, synthesize, type Synthesized } from '../../support/stacks.js';
import { parseConfig } from '../../../lib/config/load.js';

let synth: Synthesized;
let vault: Template;
beforeAll(() => {
  synth = synthesize(exampleConfig());
  vault = synth.vaultTemplate;
});

const ref = (logicalIdPrefix: string) => ({ Ref: Match.stringLikeRegexp(`^${logicalIdPrefix}`) });
const arnOf = (logicalIdPrefix: string) => ({ 'Fn::GetAtt': [Match.stringLikeRegexp(`^${logicalIdPrefix}`), 'Arn'] });
/** The bucket that holds the backups (the only versioned one). */
const vaultBucket = () => {
  const buckets = Object.values(vault.findResources('AWS::S3::Bucket', { Properties: { VersioningConfiguration: { Status: 'Enabled' } } }));
  expect(buckets).toHaveLength(1);
  return buckets[0]!;
};

describe('the vault bucket', () => {
  it('is encrypted with its own rotating customer-managed key, with a bucket key', () => {
    vault.hasResourceProperties('AWS::KMS::Key', { Description: 'Encrypts Lifeline backups', EnableKeyRotation: true });
    vault.hasResource('AWS::KMS::Key', {
      Properties: { Description: 'Encrypts Lifeline backups' },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    vault.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: { 'Fn::Join': ['', ['lifeline-vault-', { Ref: 'AWS::AccountId' }, '-', { Ref: 'AWS::Region' }]] },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: arnOf('VaultKey') },
          },
        ],
      },
    });
  });

  it('blocks all public access, disables ACLs, keeps versions and is retained with its stack', () => {
    vault.hasResource('AWS::S3::Bucket', {
      Properties: {
        BucketName: Match.anyValue(),
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        VersioningConfiguration: { Status: 'Enabled' },
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('refuses requests without TLS 1.2', () => {
    vault.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: ref('VaultBucket'),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 's3:*',
            Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
          }),
        ]),
      },
    });
  });

  it('logs server access into a bucket of its own, delivered by bucket policy', () => {
    vault.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: Match.anyValue(),
      LoggingConfiguration: { DestinationBucketName: ref('VaultAccessLogs'), LogFilePrefix: 'vault/' },
    });
    vault.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: Match.absent(),
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: Match.objectLike({ BlockPublicAcls: true, RestrictPublicBuckets: true }),
      LifecycleConfiguration: { Rules: [{ Id: 'expire-access-logs', Status: 'Enabled', ExpirationInDays: 400 }] },
    });
    vault.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: ref('VaultAccessLogs'),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Action: 's3:PutObject',
            Condition: { ArnLike: { 'aws:SourceArn': arnOf('VaultBucket') } },
          }),
        ]),
      },
    });
  });

  it('expires each tier under its prefix, keeps replaced or hidden versions as long as their tier, and aborts abandoned uploads after a day', () => {
    vault.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: Match.anyValue(),
      LifecycleConfiguration: {
        Rules: [
          {
            Id: 'expire-daily',
            Status: 'Enabled',
            Prefix: 'daily/',
            ExpirationInDays: 8,
            NoncurrentVersionExpiration: { NoncurrentDays: 8 },
          },
          {
            Id: 'expire-weekly',
            Status: 'Enabled',
            Prefix: 'weekly/',
            ExpirationInDays: 29,
            NoncurrentVersionExpiration: { NoncurrentDays: 29 },
          },
          {
            Id: 'expire-monthly',
            Status: 'Enabled',
            Prefix: 'monthly/',
            ExpirationInDays: 185,
            NoncurrentVersionExpiration: { NoncurrentDays: 185 },
          },
          {
            // Restore drills' reports, under a prefix of their own.
            Id: 'expire-drill-reports',
            Status: 'Enabled',
            Prefix: 'drills/',
            ExpirationInDays: 400,
            NoncurrentVersionExpiration: { NoncurrentDays: 400 },
          },
          {
            Id: 'housekeeping',
            Status: 'Enabled',
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            ExpiredObjectDeleteMarker: true,
          },
        ],
      },
    });
    const rules = vaultBucket().Properties.LifecycleConfiguration.Rules as {
      Prefix?: string;
      ExpirationInDays?: number;
      NoncurrentVersionExpiration?: { NoncurrentDays: number };
    }[];
    for (const rule of rules.filter((rule) => rule.ExpirationInDays !== undefined)) {
      expect(rule.NoncurrentVersionExpiration!.NoncurrentDays, rule.Prefix).toBeGreaterThanOrEqual(rule.ExpirationInDays!);
    }
  });

  it('has Object Lock on by default, GOVERNANCE unless configured, with the shortest tier as the default retention', () => {
    vault.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: Match.anyValue(),
      ObjectLockEnabled: true,
      ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 8 } } },
    });
    const unconfigured = exampleJson();
    delete unconfigured.vault;
    const compliance = exampleJson();
    compliance.vault.objectLock.mode = 'COMPLIANCE';
    for (const [json, Mode] of [
      [unconfigured, 'GOVERNANCE'],
      [compliance, 'COMPLIANCE'],
    ] as const) {
      synthesize(parseConfig(json)).vaultTemplate.hasResourceProperties('AWS::S3::Bucket', {
        BucketName: Match.anyValue(),
        ObjectLockEnabled: true,
        ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode, Days: 8 } } },
      });
    }
  });
});

describe("the vault's bucket policy, for the roles under the runtime path", () => {
  const runtimeRoles = {
    ArnLike: {
      'aws:PrincipalArn': {
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':role/lifeline-runtime/*']],
      },
    },
  };
  const objects = { 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^VaultBucket/), 'Arn'] }, '/*']] };
  const statements = () => {
    const policies = vault.findResources('AWS::S3::BucketPolicy', { Properties: { Bucket: ref('VaultBucket') } });
    expect(Object.keys(policies)).toHaveLength(1);
    return Object.values(policies)[0]!.Properties.PolicyDocument.Statement as Record<string, unknown>[];
  };

  it('denies every delete, and bypassing a lock', () => {
    expect(statements()).toContainEqual({
      Sid: 'RuntimeNeverDeletes',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:BypassGovernanceRetention'],
      Resource: objects,
      Condition: runtimeRoles,
    });
  });

  it('denies object creation without If-None-Match, and only creation: multipart parts carry no conditions', () => {
    expect(statements()).toContainEqual({
      Sid: 'RuntimeCreatesOnlyNewObjects',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 's3:PutObject',
      Resource: objects,
      Condition: { ...runtimeRoles, Null: { 's3:if-none-match': 'true' }, Bool: { 's3:ObjectCreationOperation': 'true' } },
    });
  });

  it('denies locks that would outlive the longest tier', () => {
    expect(statements()).toContainEqual({
      Sid: 'RuntimeLocksNoLongerThanTheLongestTier',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: ['s3:PutObject', 's3:PutObjectRetention'],
      Resource: objects,
      Condition: { ...runtimeRoles, NumericGreaterThan: { 's3:object-lock-remaining-retention-days': 186 } },
    });
  });

  it("allows nothing to anyone: access comes from the roles' own policies", () => {
    expect(statements().filter((statement) => statement.Effect === 'Allow')).toEqual([]);
  });
});

describe('notifications', () => {
  it('go to an SNS topic encrypted with a rotating key that CloudWatch may use', () => {
    vault.hasResourceProperties('AWS::KMS::Key', {
      Description: 'Encrypts Lifeline alarm notifications',
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          {
            Sid: 'CloudWatchAlarmsPublish',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Resource: '*',
          },
        ]),
      },
    });
    vault.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: arnOf('NotificationsKey') });
  });

  it('accept only TLS, and CloudWatch alarms of this account', () => {
    vault.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          {
            Sid: 'CloudWatchAlarmsPublish',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: ref('NotificationsTopic'),
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          },
        ]),
      },
    });
  });

  it('reach every configured address by e-mail', () => {
    vault.resourceCountIs('AWS::SNS::Subscription', 1);
    vault.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: ref('NotificationsTopic'),
    });
  });
});

describe('the dead-letter queue', () => {
  it('is encrypted, TLS-only and keeps messages for 14 days', () => {
    vault.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
    vault.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: [Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })],
      },
    });
  });

  it('alarms on each new dead letter, so that one arriving after the alarm returned to OK notifies again', () => {
    vault.resourceCountIs('AWS::CloudWatch::Alarm', 1);
    vault.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'lifeline-dead-letter-arrived',
      // Scheduler and Lambda dead-letter through SendMessage, which this metric counts.
      Namespace: 'AWS/SQS',
      MetricName: 'NumberOfMessagesSent',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DeadLettersQueue'), 'QueueName'] } }],
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [ref('NotificationsTopic')],
      OKActions: [ref('NotificationsTopic')],
    });
  });
});

describe('outputs', () => {
  it('name the bucket and the topic and carry no secret', () => {
    vault.hasOutput('VaultBucketName', { Value: ref('VaultBucket') });
    vault.hasOutput('AlarmTopicArn', { Value: ref('NotificationsTopic') });
    for (const template of [vault, ...synth.backupsTemplates]) {
      expect(JSON.stringify(template.toJSON().Outputs ?? {})).not.toMatch(/secretsmanager|password/i);
    }
  });
});

describe("CloudFormation's own template validation", () => {
  it('finds nothing to report', () => {
    const checked = synthesize(exampleConfig(), { validation: true });
    const report = JSON.parse(readFileSync(join(checked.assembly.directory, 'validation-report.json'), 'utf8'));
    expect(report.pluginReports).toEqual([]);
  });
});
