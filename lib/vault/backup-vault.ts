import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY } from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { databasePrefixes } from '../../lambdas/core/vault/keys.js';
import { TIER_EXPIRATION_DAYS, type ObjectLockMode } from '../../lambdas/core/vault/retention.js';
import { TIERS } from '../../lambdas/core/vault/tier.js';
import { INCOMPLETE_UPLOAD_DAYS, NONCURRENT_VERSION_DAYS } from './retention.js';
import { DRILL_REPORT_DAYS, DRILLS_PREFIX } from '../../lambdas/core/drill/report.js';

export interface BackupVaultProps {
  /** From vaultBucketName(). */
  readonly bucketName: string;
  /** The Object Lock mode of every backup: each is locked for its tier's days when it is written. */
  readonly objectLockMode: ObjectLockMode;
  /**
   * The IAM path (`/name/`) of every role Lifeline's runtime uses in this vault: the bucket policy denies those
   * roles every way of removing or replacing a backup, whatever their own policies say.
   */
  readonly runtimeRolePath: string;
}

/**
 * The S3 bucket that holds every backup, encrypted with its own KMS key, expiring each tier by its prefix.
 * Nothing the runtime does can remove or replace a backup before its tier ends: its roles may not delete, may
 * create an object only where none exists (If-None-Match), and every backup is under Object Lock.
 */
export class BackupVault extends Construct {
  readonly bucket: s3.Bucket;
  readonly key: kms.Key;
  readonly accessLogs: s3.Bucket;
  readonly bucketName: string;
  readonly objectLockMode: ObjectLockMode;
  readonly runtimeRolePath: string;

  constructor(scope: Construct, id: string, props: BackupVaultProps) {
    super(scope, id);
    this.bucketName = props.bucketName;
    this.objectLockMode = props.objectLockMode;
    this.runtimeRolePath = props.runtimeRolePath;
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
      objectLockEnabled: true,
      // The runtime locks each backup until its own tier ends; an object written without a date of its own
      // (by hand, or by a CLI run without --object-lock) still gets the shortest tier's.
      objectLockDefaultRetention:
        props.objectLockMode === 'COMPLIANCE'
          ? s3.ObjectLockRetention.compliance(Duration.days(TIER_EXPIRATION_DAYS.daily))
          : s3.ObjectLockRetention.governance(Duration.days(TIER_EXPIRATION_DAYS.daily)),
      lifecycleRules: [
        ...TIERS.map((tier): s3.LifecycleRule => ({
          id: `expire-${tier}`,
          prefix: `${tier}/`,
          expiration: Duration.days(TIER_EXPIRATION_DAYS[tier]),
          noncurrentVersionExpiration: Duration.days(NONCURRENT_VERSION_DAYS[tier]),
        })),
        {
          // Restore drills' reports (drill/report.ts): a year and more of quarterly drills, under their own prefix.
          id: 'expire-drill-reports',
          prefix: DRILLS_PREFIX,
          expiration: Duration.days(DRILL_REPORT_DAYS),
          // As the tiers': whatever hid a report, it stays recoverable as long as it would have lived.
          noncurrentVersionExpiration: Duration.days(DRILL_REPORT_DAYS),
        },
        {
          id: 'housekeeping',
          abortIncompleteMultipartUploadAfter: Duration.days(INCOMPLETE_UPLOAD_DAYS),
          expiredObjectDeleteMarker: true,
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const statement of this.runtimeDenials()) this.bucket.addToResourcePolicy(statement);
  }

  /**
   * What the bucket refuses the runtime roles, whatever their own policies grant: a bug or a compromised
   * function may add backups, but never remove, replace or hide one.
   */
  private runtimeDenials(): iam.PolicyStatement[] {
    const runtime = {
      ArnLike: { 'aws:PrincipalArn': `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role${this.runtimeRolePath}*` },
    };
    const objects = [this.bucket.arnForObjects('*')];
    const deny = (sid: string, actions: string[], conditions: Record<string, Record<string, unknown>>) =>
      new iam.PolicyStatement({
        sid,
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions,
        resources: objects,
        conditions: { ...runtime, ...conditions },
      });
    return [
      // A delete marker would hide a backup from listing and restore; a version delete or a bypass would remove it.
      deny('RuntimeNeverDeletes', ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:BypassGovernanceRetention'], {}),
      // PutObject and CompleteMultipartUpload must carry If-None-Match: * so that they never replace an object.
      // CreateMultipartUpload and UploadPart are s3:PutObject too but cannot carry it: ObjectCreationOperation
      // is false for them.
      deny('RuntimeCreatesOnlyNewObjects', ['s3:PutObject'], {
        Null: { 's3:if-none-match': 'true' },
        Bool: { 's3:ObjectCreationOperation': 'true' },
      }),
      // A lock longer than the longest tier would keep an object past its lifecycle, in COMPLIANCE mode beyond
      // anyone's reach; a day over the tier allows for S3 rounding the remaining days.
      deny('RuntimeLocksNoLongerThanTheLongestTier', ['s3:PutObject', 's3:PutObjectRetention'], {
        NumericGreaterThan: { 's3:object-lock-remaining-retention-days': TIER_EXPIRATION_DAYS.monthly + 1 },
      }),
    ];
  }

  /**
   * What one database's backup runtime may do in the vault: create, lock, read back and list under its own tier
   * prefixes, and nothing else. No delete: an archive whose run failed before its manifest stays, invisible to
   * listing and restore, until its tier's lifecycle removes it. Its role must live under runtimeRolePath.
   */
  backupStatements(database: string): iam.PolicyStatement[] {
    const prefixes = databasePrefixes(database);
    const bucketArn = `arn:${Aws.PARTITION}:s3:::${this.bucketName}`;
    return [
      new iam.PolicyStatement({
        sid: 'WriteAndVerifyOwnBackups',
        actions: ['s3:PutObject', 's3:PutObjectRetention', 's3:GetObject', 's3:AbortMultipartUpload'],
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

  /**
   * What a restore runtime may do in the vault: list and read every database's backups, nothing else (no write,
   * no delete). Any configured database may be restored, so the grant spans the tier prefixes.
   */
  readStatements(): iam.PolicyStatement[] {
    const bucketArn = `arn:${Aws.PARTITION}:s3:::${this.bucketName}`;
    return [
      new iam.PolicyStatement({ sid: 'ReadBackups', actions: ['s3:GetObject'], resources: this.tierObjectArns() }),
      new iam.PolicyStatement({ sid: 'ListBackups', actions: ['s3:ListBucket'], resources: [bucketArn] }),
      new iam.PolicyStatement({
        sid: 'DecryptBackupsThroughS3',
        actions: ['kms:Decrypt'],
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
      }),
    ];
  }

  /**
   * What stores restore drills' reports: read and create objects under `drills/` only (the bucket policy holds every
   * runtime write to If-None-Match, so a report is never replaced), through the vault's key.
   */
  drillReportStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        sid: 'ReadAndWriteDrillReports',
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [`arn:${Aws.PARTITION}:s3:::${this.bucketName}/${DRILLS_PREFIX}*`],
      }),
      new iam.PolicyStatement({
        sid: 'EncryptDrillReportsThroughS3',
        actions: ['kms:GenerateDataKey'],
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
      }),
    ];
  }

  /** The object ARNs under every tier prefix, as readStatements() grants them. */
  tierObjectArns(): string[] {
    return TIERS.map((tier) => `arn:${Aws.PARTITION}:s3:::${this.bucketName}/${tier}/*`);
  }

  /** The object ARNs under one database's tier prefixes, as backupStatements() grants them. */
  backupObjectArns(database: string): string[] {
    return databasePrefixes(database).map((prefix) => `arn:${Aws.PARTITION}:s3:::${this.bucketName}/${prefix}*`);
  }
}
