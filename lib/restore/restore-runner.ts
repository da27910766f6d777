import { Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { RUNNER_RESTORE_COMMAND, RUNNER_STAGING_DIR, runnerEnvironment } from '../../lambdas/core/workflows/runner-environment.js';
import type { BackupImage } from '../backup/backup-image.js';
import type { DatabaseConfig, FargateSize } from '../config/schema.js';
import { nagResource } from '../nag-findings.js';
import { runnerCluster, runnerTaskDefinition } from '../runner-task.js';
import type { BackupVault } from '../vault/backup-vault.js';
import { databaseStatements } from './database-grants.js';
import type { RestoreLogs } from './restore-logs.js';

/** The runner container's name, which the state machine's container override addresses. */
export const RUNNER_CONTAINER = 'runner';

export interface RestoreRunnerProps {
  /** The task definition's family, which names its revisions. */
  readonly family: string;
  /** Its Fargate size (config.restore.runner): pg_restore's default --jobs is the vCPUs; the memory holds its workers. */
  readonly size: FargateSize;
  readonly vault: BackupVault;
  /** The backup image whose CLI restores: the newest pg_restore, which reads archives of older pg_dumps too. */
  readonly image: BackupImage;
  /** The databases it may restore from and into: their secrets, and RDS lookups for those without an endpoint. */
  readonly databases: readonly DatabaseConfig[];
  readonly logs: RestoreLogs;
}

/**
 * The Fargate runner: an ECS cluster and the task definition of the backup image's CLI restoring the job the
 * state machine passes in LIFELINE_RESTORE_JOB. Read-only root filesystem, unprivileged user, archives staged
 * on the task's ephemeral storage; it may read the vault and the configured databases' secrets, nothing more.
 */
export class RestoreRunner extends Construct {
  readonly cluster: ecs.CfnCluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly taskRole: iam.Role;
  readonly vcpus: number;

  constructor(scope: Construct, id: string, props: RestoreRunnerProps) {
    super(scope, id);
    this.vcpus = props.size.vcpus;

    this.cluster = runnerCluster(this);

    const statements = [...props.vault.readStatements(), ...databaseStatements(props.databases, props.databases)];
    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Lifeline restore runner',
      // Under the runtime path: the vault's bucket policy denies these roles every way of removing a backup.
      path: props.vault.runtimeRolePath,
      inlinePolicies: { runner: new iam.PolicyDocument({ statements }) },
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
    });
    this.taskDefinition = taskDefinition;
    container.addMountPoints({ sourceVolume: 'staging', containerPath: RUNNER_STAGING_DIR, readOnly: false });
  }

  /** The roles the state machine must be allowed to pass when it runs the task. */
  get passedRoles(): iam.IRole[] {
    return [this.taskRole, this.taskDefinition.obtainExecutionRole()];
  }
}
