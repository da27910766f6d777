import { Aws, Validations } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import {
  migrationsFamily,
  migrationsRolePath,
  restoreRunnerFamily,
  restoreRunnerRolePath,
  restoreWorkflowName,
} from '../../lambdas/core/names.js';
import { nagResource } from '../nag-findings.js';
import { ecsSyncRuleStatement, passRunnerRolesStatement, runRunnerTaskStatement, tagRunnerTaskStatement } from '../runtime/runner-task.js';
import { RecoveryWorkflowGrants, type RecoveryWorkflowGrantsProps } from '../workflows/recovery-workflow-grants.js';
import type { WorkflowLogs } from '../workflows/workflow-logs.js';
import { WorkflowStateMachine } from '../workflows/workflow-state-machine.js';

const DEFINITION = 'state-machines/restore.asl.json';

/** `deployment`: the config's name, by which the restore groups' runners and steps functions are found. */
export interface RestoreStateMachineProps extends RecoveryWorkflowGrantsProps {
  readonly stateMachineName: string;
  /** Where the runners run (`${RunnerClusterArn}`). */
  readonly cluster: ecs.CfnCluster;
  /** The steps function outside any VPC (`${RestoreStepsFunctionArn}`). */
  readonly stepsFunctionArn: string;
  /** Where the failure alarm notifies. */
  readonly alarmTopic: sns.ITopic;
  readonly logs: WorkflowLogs;
}

/**
 * The restore workflow: restore.asl.json with its placeholders filled in, logged in full (KMS) and traced, and a
 * role that may run only the restore groups' runners on its cluster, pass only their roles, invoke only its
 * deployment's restore steps functions and publish only to its two topics. The groups are found by name, so that
 * the role stays the same size however many there are. An alarm notifies when an execution fails, times out or is
 * aborted.
 */
export class RestoreStateMachine extends WorkflowStateMachine {
  constructor(scope: Construct, id: string, props: RestoreStateMachineProps) {
    const { cluster } = props;
    const regional = (service: string, resource: string) => `arn:${Aws.PARTITION}:${service}:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
    const tasks = regional('ecs', `task/${cluster.ref}/*`);
    const runners = regional('ecs', `task-definition/${restoreRunnerFamily(props.deployment, '*')}:*`);
    const migrations = regional('ecs', `task-definition/${migrationsFamily(props.deployment, '*')}:*`);
    const runnerRoles = `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role${restoreRunnerRolePath(props.deployment)}*`;
    const migrationsRoles = `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role${migrationsRolePath(props.deployment)}*`;
    const grants = new RecoveryWorkflowGrants(scope, restoreWorkflowName(props.deployment), props);
    const statements = [
      runRunnerTaskStatement('RunTheRunners', runners, cluster),
      runRunnerTaskStatement('RunTheMigrations', migrations, cluster),
      new iam.PolicyStatement({ sid: 'FollowTheRunner', actions: ['ecs:StopTask', 'ecs:DescribeTasks'], resources: [tasks] }),
      tagRunnerTaskStatement('TagTheRunnerTask', tasks),
      passRunnerRolesStatement('PassTheRunnerRoles', [runnerRoles]),
      passRunnerRolesStatement('PassTheMigrationsRoles', [migrationsRoles]),
      ecsSyncRuleStatement(),
      ...grants.statements,
    ];
    super(scope, id, {
      stateMachineName: props.stateMachineName,
      definition: DEFINITION,
      substitutions: {
        RestoreStepsFunctionArn: props.stepsFunctionArn,
        RunnerClusterArn: cluster.attrArn,
        ...grants.substitutions,
      },
      role: { description: 'Lifeline restore workflow', policyName: 'restore', statements },
      logs: props.logs,
      alarmTopic: props.alarmTopic,
      failedAlarmDescription: `A restore execution of ${props.stateMachineName} failed, timed out or was aborted. Its execution history names the step and the error; the created database was dropped unless keepOnFailure.`,
    });

    const acknowledge = (resource: string, reason: string) =>
      Validations.of(this.role).acknowledge({ id: `AwsSolutions-IAM5[${nagResource(this, resource)}]`, reason });
    acknowledge(tasks, "Task ids are assigned when a task starts; StopTask and DescribeTasks are limited to the runners' cluster.");
    acknowledge(runners, "Each backups stack's restore group has a runner family under this prefix, run only on the runners' cluster.");
    acknowledge(migrations, "Each application's migrations task definition family is under this prefix, run only on the runners' cluster.");
    acknowledge(runnerRoles, "The restore groups' runner roles live under this path; they are passed to ECS only.");
    acknowledge(migrationsRoles, "The applications' migrations task roles live under this path; they are passed to ECS only.");
    grants.acknowledge(this, "The restore groups' steps functions");
  }
}
