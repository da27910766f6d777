import { Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { z } from 'zod';
import type { BackupRequest } from '../../lambdas/core/backup/request.js';
import { METRICS_NAMESPACE } from '../../lambdas/core/telemetry.js';
import { backupRunnerEnvironment, RUNNER_BACKUP_COMMAND } from '../../lambdas/core/runner/environment.js';
import type { FargateSize } from '../config/schema.js';
import { nagResource } from '../nag-findings.js';
import { runnerTaskDefinition } from '../runtime/runner-task.js';
import type { RuntimeImage } from '../runtime/runtime-image.js';
import type { BackupVault } from '../vault/backup-vault.js';
import { backupRole, deadLetterStatement, type BackupRuntimeTarget } from './backup-grants.js';

/** The backup task's container, as `aws ecs run-task --overrides` names it. */
export const BACKUP_CONTAINER = 'backup';

export interface BackupTaskProps {
  /** The task definition's family, which names its revisions. */
  readonly family: string;
  readonly size: FargateSize;
  /** What the task backs up, fixed in its environment as in the backup function's; the vault's bucket is added here. */
  readonly target: BackupRuntimeTarget;
  /** The customer-managed key of the secret, when there is one. */
  readonly secretKmsKeyArn?: string;
  /** What a run asks for unless `aws ecs run-task` overrides it: the schedule's request, as the function's event holds it. */
  readonly request: z.input<typeof BackupRequest>;
  readonly vault: BackupVault;
  readonly image: RuntimeImage;
  /** Where its runs are placed: the stack's cluster, the database's subnets, the backup security group. */
  readonly cluster: ecs.CfnCluster;
  readonly subnetIds: readonly string[];
  readonly securityGroup: ec2.ISecurityGroup;
  readonly deadLetterQueue: sqs.IQueue;
  readonly logGroup: logs.ILogGroup;
}

/**
 * The backup runtime of a database that outgrew Lambda: a Fargate task of the runtime image's CLI (`lifeline runner
 * backup`), the same engine without a time limit, with the backup function's retries, dead-letter queue and metrics.
 * Its role has exactly the function's grants on the database and the vault, plus sending its own dead letters and
 * metrics; the execution role, which CDK makes, pulls the image and writes the logs.
 */
export class BackupTask extends Construct {
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly taskRole: iam.Role;
  readonly cluster: ecs.CfnCluster;
  readonly subnetIds: readonly string[];
  readonly securityGroup: ec2.ISecurityGroup;

  constructor(scope: Construct, id: string, props: BackupTaskProps) {
    super(scope, id);
    const { target } = props;
    this.cluster = props.cluster;
    this.subnetIds = props.subnetIds;
    this.securityGroup = props.securityGroup;

    this.taskRole = backupRole(this, 'TaskRole', {
      assumedBy: 'ecs-tasks.amazonaws.com',
      target,
      secretKmsKeyArn: props.secretKmsKeyArn,
      vault: props.vault,
      statements: [
        // The task sends a request it gave up on itself, as Lambda does for a function.
        deadLetterStatement(props.deadLetterQueue),
        new iam.PolicyStatement({
          sid: 'PublishBackupMetrics',
          actions: ['cloudwatch:PutMetricData'],
          resources: ['*'],
          conditions: { StringEquals: { 'cloudwatch:namespace': METRICS_NAMESPACE } },
        }),
      ],
    });
    Validations.of(this.taskRole).acknowledge({
      id: `AwsSolutions-IAM5[${nagResource(this, '*')}]`,
      reason: `cloudwatch:PutMetricData supports no resource-level permissions; the condition limits it to the ${METRICS_NAMESPACE} namespace.`,
    });

    ({ taskDefinition: this.taskDefinition } = runnerTaskDefinition(this, {
      family: props.family,
      size: props.size,
      taskRole: this.taskRole,
      image: props.image,
      container: { id: 'Backup', name: BACKUP_CONTAINER },
      command: RUNNER_BACKUP_COMMAND,
      environment: backupRunnerEnvironment({
        target: { ...target, bucket: props.vault.bucketName, objectLock: props.vault.objectLockMode },
        request: props.request,
        deadLetterQueueUrl: props.deadLetterQueue.queueUrl,
      }),
      environmentHoldsNoSecret:
        "The environment names the database, its secret's ARN (not its value), the endpoint, the vault, the request and the dead-letter queue.",
      // Streams backup/backup/<task id> in the stack's log group, beside the functions' logs.
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'backup', logGroup: props.logGroup }),
    }));
  }

  /** The roles a schedule must be allowed to pass when it runs the task. */
  get passedRoles(): iam.IRole[] {
    return [this.taskRole, this.taskDefinition.obtainExecutionRole()];
  }
}
