import { Aws, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { RUNNER_RESTORE_COMMAND, RUNNER_STAGING_DIR, runnerEnvironment } from '../../lambdas/core/runner/environment.js';
import type { DatabaseConfig, FargateSize } from '../config/schema.js';
import { nagResource } from '../nag-findings.js';
import { runnerTaskDefinition } from '../runtime/runner-task.js';
import type { RuntimeImage } from '../runtime/runtime-image.js';
import type { BackupVault } from '../vault/backup-vault.js';
import { acknowledgeDatabaseStatements, databaseStatements } from '../workflows/database-grants.js';
import type { WorkflowLogs } from '../workflows/workflow-logs.js';

/** The runner container's name, which the state machine's container override addresses. */
export const RUNNER_CONTAINER = 'runner';

export interface RestoreRunnerProps {
  /** The task definition's family, which names its revisions. */
  readonly family: string;
  /** Its Fargate size (config.restore.runner): pg_restore's default --jobs is the vCPUs; the memory holds its workers. */
  readonly size: FargateSize;
  readonly vault: BackupVault;
  /** The runtime image whose CLI restores: the newest pg_restore, which reads archives of older pg_dumps too. */
  readonly image: RuntimeImage;
  /** Its restore group's databases, which it may restore into: their secrets, and RDS lookups for those without an endpoint. */
  readonly databases: readonly DatabaseConfig[];
  readonly logs: WorkflowLogs;
  /** The IAM path of its task and execution roles, by which the state machine may pass them. */
  readonly rolePath: string;
  /** The restore state machine's name: an in-place job names one of its executions, which the runner reads. */
  readonly restoreWorkflow: string;
}

/**
 * A restore group's Fargate runner: the task definition of the runtime image's CLI restoring the job the state
 * machine passes in LIFELINE_RESTORE_JOB, on the restore stack's cluster. Read-only root filesystem, unprivileged
 * user, archives staged on the task's ephemeral storage; it may read the vault and its group's databases' secrets,
 * and the restore workflow's executions, whose approval of an in-place job it checks (restore/in-place-approval.ts);
 * nothing more.
 */
export class RestoreRunner extends Construct {
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly taskRole: iam.Role;

  constructor(scope: Construct, id: string, props: RestoreRunnerProps) {
    super(scope, id);
    // An in-place job runs only for a running execution of the restore workflow in which a human approved it.
    const restoreExecutions = `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:execution:${props.restoreWorkflow}:*`;
    const readApprovals = new iam.PolicyStatement({
      sid: 'ReadTheApprovingExecution',
      actions: ['states:DescribeExecution', 'states:GetExecutionHistory'],
      resources: [restoreExecutions],
    });
    const statements = [...props.vault.readStatements(), ...databaseStatements(props.databases, props.databases), readApprovals];
    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Lifeline restore runner',
      // Under the runtime path: the vault's bucket policy denies these roles every way of removing a backup.
      path: props.rolePath,
      inlinePolicies: { runner: new iam.PolicyDocument({ statements }) },
    });
    acknowledgeDatabaseStatements(this.taskRole, statements);
    Validations.of(this.taskRole).acknowledge({
      id: `AwsSolutions-IAM5[${nagResource(this, restoreExecutions)}]`,
      reason:
        "An in-place job names the execution that approved it, any of the restore workflow's: DescribeExecution and GetExecutionHistory read those executions only, to check the approval before writing.",
    });
    for (const objects of props.vault.tierObjectArns()) {
      Validations.of(this.taskRole).acknowledge({
        id: `AwsSolutions-IAM5[${nagResource(this, objects)}]`,
        reason: 'Backup keys carry a timestamp and any configured database may be restored: reads span the tier prefixes, no writes.',
      });
    }

    const { taskDefinition, container } = runnerTaskDefinition(this, {
      family: props.family,
      size: props.size,
      taskRole: this.taskRole,
      image: props.image,
      container: { id: 'Runner', name: RUNNER_CONTAINER },
      command: RUNNER_RESTORE_COMMAND,
      environment: runnerEnvironment({ bucket: props.vault.bucketName, stagingDir: RUNNER_STAGING_DIR }),
      environmentHoldsNoSecret:
        'The environment holds the vault bucket name and the staging path, no secret; the job comes per run as an override.',
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'restore', logGroup: props.logs.logGroup(this, 'Logs') }),
      // Fargate ephemeral storage; each run sizes it from the archive with a container override.
      volumes: [{ name: 'staging' }],
      executionRolePath: props.rolePath,
    });
    this.taskDefinition = taskDefinition;
    container.addMountPoints({ sourceVolume: 'staging', containerPath: RUNNER_STAGING_DIR, readOnly: false });
  }
}
