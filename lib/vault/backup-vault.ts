import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY } from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { databasePrefixes } from '../../lambdas/core/keys.js';
import { TIERS } from '../../lambdas/core/tier.js';
import { INCOMPLETE_UPLOAD_DAYS, NONCURRENT_VERSION_DAYS, TIER_EXPIRATION_DAYS } from './retention.js';

export interface BackupVaultProps {
  /** From vaultBucketName(). */
  readonly bucketName: string;
  /** Write-once protection for every new backup version, for this many days. */
  readonly objectLock?: { readonly mode: 'GOVERNANCE' | 'COMPLIANCE'; readonly days: number };
}

/** The S3 bucket that holds every backup, encrypted with its own KMS key, expiring each tier by its prefix. */
export class BackupVault extends Construct {
  readonly bucket: s3.Bucket;
  readonly key: kms.Key;
  readonly accessLogs: s3.Bucket;
  readonly bucketName: string;

  constructor(scope: Construct, id: string, props: BackupVaultProps) {
    super(scope, id);
    this.bucketName = props.bucketName;
    // Log delivery through a bucket policy: the ACL alternative is incompatible with disabled ACLs.
    this.node.setContext(S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);

    this.key = new kms.Key(this, 'Key', {
      description: 'Encrypts Lifeline backups',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      // S3 delivers server access logs only to buckets encrypted with S3-managed keys.
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(400) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const lock = props.objectLock;
    this.bucket = new s3.Bucket(this, 'Bucket', {
      bucketName: props.bucketName,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      // One data key per bucket instead of per object: far fewer KMS calls for multipart uploads.
      bucketKeyEnabled: true,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'vault/',
      objectLockEnabled: lock !== undefined,
      objectLockDefaultRetention:
        lock === undefined
          ? undefined
          : lock.mode === 'COMPLIANCE'
            ? s3.ObjectLockRetention.compliance(Duration.days(lock.days))
            : s3.ObjectLockRetention.governance(Duration.days(lock.days)),
      lifecycleRules: [
        ...TIERS.map(
          (tier): s3.LifecycleRule => ({
            id: `expire-${tier}`,
            prefix: `${tier}/`,
            expiration: Duration.days(TIER_EXPIRATION_DAYS[tier]),
            noncurrentVersionExpiration: Duration.days(NONCURRENT_VERSION_DAYS),
          }),
        ),
        {
          id: 'housekeeping',
          abortIncompleteMultipartUploadAfter: Duration.days(INCOMPLETE_UPLOAD_DAYS),
          expiredObjectDeleteMarker: true,
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /**
   * What one database's backup runtime may do in the vault: write, read back and list its own tier prefixes,
   * and nothing else.
   */
  backupStatements(database: string): iam.PolicyStatement[] {
    const prefixes = databasePrefixes(database);
    const bucketArn = `arn:${Aws.PARTITION}:s3:::${this.bucketName}`;
    return [
      // DeleteObject removes an archive that failed verification; in the versioned vault it only hides the
      // object, as an overwrite could, and never a version.
      new iam.PolicyStatement({
        sid: 'WriteAndVerifyOwnBackups',
        actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload', 's3:DeleteObject'],
        resources: this.backupObjectArns(database),
      }),
      new iam.PolicyStatement({
        sid: 'ListOwnBackups',
        actions: ['s3:ListBucket'],
        resources: [bucketArn],
        conditions: { StringLike: { 's3:prefix': prefixes.map((prefix) => `${prefix}*`) } },
      }),
      new iam.PolicyStatement({
        sid: 'UseVaultKeyThroughS3',
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
      }),
    ];
  }

  /** The object ARNs under one database's tier prefixes, as backupStatements() grants them. */
  backupObjectArns(database: string): string[] {
    return databasePrefixes(database).map((prefix) => `arn:${Aws.PARTITION}:s3:::${this.bucketName}/${prefix}*`);
  }
}
