import { Aws, Duration, Size, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { BackupImage } from './backup-image.js';
import type { BackupVault } from '../vault/backup-vault.js';
import { backupTargetEnvironment, type BackupTarget } from '../../lambdas/core/backup-target.js';
import { METRICS_NAMESPACE, SERVICE_NAMES } from '../../lambdas/core/telemetry.js';
import { nagResource } from '../nag-findings.js';
import { acknowledgeVpcFunctionStatements, vpcFunctionStatements } from '../vpc-function-access.js';

export interface BackupFunctionProps {
  readonly functionName: string;
  /** What the function backs up, fixed in its environment; the vault's bucket is added here. */
  readonly target: Omit<BackupTarget, 'bucket'>;
  /** The customer-managed key of the secret, when there is one. */
  readonly secretKmsKeyArn?: string;
  readonly vault: BackupVault;
  readonly image: BackupImage;
  readonly subnetIds: readonly string[];
  readonly securityGroup: ec2.ISecurityGroup;
  readonly deadLetterQueue: sqs.IQueue;
  readonly logGroup: logs.ILogGroup;
}

/**
 * The backup runtime of one database: the container image Lambda in the database's VPC, with a role that
 * reads only this database's secret and writes only under this database's tier prefixes.
 */
export class BackupFunction extends Construct {
  readonly function: lambda.DockerImageFunction;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: BackupFunctionProps) {
    super(scope, id);
    const { target } = props;
    const rdsArn = (resource: string) => `arn:${Aws.PARTITION}:rds:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
    const [describeAction, databaseArn] =
      'instanceIdentifier' in target.rds
        ? ['rds:DescribeDBInstances', rdsArn(`db:${target.rds.instanceIdentifier}`)]
        : ['rds:DescribeDBClusters', rdsArn(`cluster:${target.rds.clusterIdentifier}`)];
    const statements = [
      new iam.PolicyStatement({
        sid: 'ReadOwnSecret',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [target.secretArn],
      }),
      ...(props.secretKmsKeyArn === undefined
        ? []
        : [
            new iam.PolicyStatement({
              sid: 'DecryptOwnSecret',
              actions: ['kms:Decrypt'],
              resources: [props.secretKmsKeyArn],
              conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` } },
            }),
          ]),
      // What the config leaves out of the endpoint is looked up at run time, from this database only.
      ...(target.host !== undefined && target.databaseName !== undefined
        ? []
        : [new iam.PolicyStatement({ sid: 'DescribeOwnDatabase', actions: [describeAction], resources: [databaseArn] })]),
      ...props.vault.backupStatements(target.database),
      new iam.PolicyStatement({
        sid: 'WriteLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [props.logGroup.logGroupArn],
      }),
      new iam.PolicyStatement({
        sid: 'DeadLetter',
        actions: ['sqs:SendMessage'],
        resources: [props.deadLetterQueue.queueArn],
      }),
      ...vpcFunctionStatements(props.securityGroup.securityGroupId, props.subnetIds),
    ];
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Lifeline backup of ${target.database}`,
      // The vault's bucket policy recognises its runtime roles by this path.
      path: props.vault.runtimeRolePath,
      inlinePolicies: { backup: new iam.PolicyDocument({ statements }) },
    });
    const acknowledge = (resource: string, reason: string) =>
      Validations.of(this.role).acknowledge({ id: `AwsSolutions-IAM5[${nagResource(this, resource)}]`, reason });
    for (const objects of props.vault.backupObjectArns(target.database)) {
      acknowledge(objects, "Backup keys carry a timestamp: writes are granted under this database's own tier prefix only.");
    }
    acknowledgeVpcFunctionStatements(this.role);

    this.function = new lambda.DockerImageFunction(this, 'Function', {
      functionName: props.functionName,
      description: `Lifeline backup of ${target.database}`,
      code: props.image.code(),
      // The role's policy is complete as written above; nothing may widen it behind our back.
      role: this.role.withoutPolicyUpdates(),
      architecture: lambda.Architecture.X86_64,
      // The engine streams in bounded memory (its benchmark holds it to a 256 MiB peak): the size is for CPU.
      // 2 GiB buys more than one vCPU, so pg_dump, zstd and the upload run side by side.
      memorySize: 2048,
      timeout: Duration.minutes(15),
      // Nothing is staged on disk: the dump streams straight into the multipart upload.
      ephemeralStorageSize: Size.mebibytes(512),
      environment: {
        ...backupTargetEnvironment({ ...target, bucket: props.vault.bucketName, objectLock: props.vault.objectLockMode }),
        POWERTOOLS_SERVICE_NAME: SERVICE_NAMES.backup,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      },
      deadLetterQueue: props.deadLetterQueue,
      // A failed run is tried twice more, within six hours: the lateness retention.ts allows for.
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      logGroup: props.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
    });
    // The VPC is known by its subnet ids only, without the availability-zone list the L2 VPC props need.
    (this.function.node.defaultChild as lambda.CfnFunction).vpcConfig = {
      subnetIds: [...props.subnetIds],
      securityGroupIds: [props.securityGroup.securityGroupId],
    };
  }
}
