import { Duration, Size } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { BackupVault } from '../vault/backup-vault.js';
import { backupTargetEnvironment } from '../../lambdas/core/backup/target.js';
import { METRICS_NAMESPACE, SERVICE_NAMES } from '../../lambdas/core/telemetry.js';
import { imageFunction, writeLogsStatement } from '../runtime/image-function.js';
import type { RuntimeImage } from '../runtime/runtime-image.js';
import { acknowledgeVpcFunctionStatements, vpcFunctionStatements } from '../runtime/vpc-function-access.js';
import { backupRole, deadLetterStatement, type BackupRuntimeTarget } from './backup-grants.js';

export interface BackupFunctionProps {
  readonly functionName: string;
  /** What the function backs up, fixed in its environment; the vault's bucket is added here. */
  readonly target: BackupRuntimeTarget;
  /** The customer-managed key of the secret, when there is one. */
  readonly secretKmsKeyArn?: string;
  readonly vault: BackupVault;
  readonly image: RuntimeImage;
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
    this.role = backupRole(this, 'Role', {
      assumedBy: 'lambda.amazonaws.com',
      target,
      secretKmsKeyArn: props.secretKmsKeyArn,
      vault: props.vault,
      statements: [
        writeLogsStatement(props.logGroup),
        // Lambda sends a request that failed every attempt with the function's own role.
        deadLetterStatement(props.deadLetterQueue),
        ...vpcFunctionStatements(props.securityGroup.securityGroupId, props.subnetIds),
      ],
    });
    acknowledgeVpcFunctionStatements(this.role);

    this.function = imageFunction(this, {
      functionName: props.functionName,
      description: `Lifeline backup of ${target.label}`,
      image: props.image,
      role: this.role,
      // The engine streams in bounded memory (its benchmark holds it to a 256 MiB peak): the size is for CPU.
      // 2 GiB buys more than one vCPU, so pg_dump, zstd and the upload run side by side.
      memorySize: 2048,
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
      network: { subnetIds: props.subnetIds, securityGroup: props.securityGroup },
    });
  }
}
