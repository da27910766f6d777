import { Aws, Validations } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { migrationsFamily, migrationsRolePath } from '../../lambdas/core/names.js';
import { pitrWorkflowName } from '../../lambdas/core/pitr/state.js';
import { nagResource } from '../nag-findings.js';
import { ecsSyncRuleStatement, passRunnerRolesStatement, runRunnerTaskStatement } from '../runtime/runner-task.js';
import { RecoveryWorkflowGrants, type RecoveryWorkflowGrantsProps } from '../workflows/recovery-workflow-grants.js';
import type { WorkflowLogs } from '../workflows/workflow-logs.js';
import { WorkflowStateMachine } from '../workflows/workflow-state-machine.js';

const DEFINITION = 'state-machines/pitr.asl.json';

/** `deployment`: the config's name; the state machine is `<name>-pitr`, its steps functions `<name>-pitr*`. */
export interface PitrStateMachineProps extends RecoveryWorkflowGrantsProps {
  /** The steps function outside any VPC (`${PitrStepsFunctionArn}`): every step but Validate. */
  readonly stepsFunctionArn: string;
  readonly alarmTopic: sns.ITopic;
  readonly logs: WorkflowLogs;
  /** The restore runners' cluster (`${RunnerClusterArn}`), where the applications' migrations run. */
  readonly cluster: ecs.CfnCluster;
  /** Whether any application has migrations: only then may the role run their task definitions. */
  readonly runsMigrations: boolean;
}

/**
 * The PITR workflow: pitr.asl.json with its placeholders filled in, logged in full (KMS) and traced, with a role that
 * may invoke only its deployment's PITR steps functions (by name prefix and deployment tag), publish only to its two
 * topics, with applications, start and follow only the cutover state machine, and with migrations, run only the
 * applications' migrations task definitions on the restore runners' cluster. It calls no RDS API itself: its steps
 * do, with their own role (pitr-grants.ts).
 */
export class PitrStateMachine extends WorkflowStateMachine {
  constructor(scope: Construct, id: string, props: PitrStateMachineProps) {
    const name = pitrWorkflowName(props.deployment);
    const grants = new RecoveryWorkflowGrants(scope, name, props);
    const regional = (service: string, resource: string) => `arn:${Aws.PARTITION}:${service}:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
    // The cluster is another stack's: its tasks are named by the ecs:cluster condition, its name being an import.
    const tasks = regional('ecs', 'task/*');
    const onTheCluster = { ArnEquals: { 'ecs:cluster': props.cluster.attrArn } };
    const migrations = regional('ecs', `task-definition/${migrationsFamily(props.deployment, '*')}:*`);
    const migrationsRoles = `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role${migrationsRolePath(props.deployment)}*`;
    const migrationsStatements = props.runsMigrations
      ? [
          runRunnerTaskStatement('RunTheMigrations', migrations, props.cluster),
          new iam.PolicyStatement({
            sid: 'FollowTheMigrations',
            actions: ['ecs:StopTask', 'ecs:DescribeTasks'],
            resources: [tasks],
            conditions: onTheCluster,
          }),
          new iam.PolicyStatement({
            sid: 'TagTheMigrationsTask',
            actions: ['ecs:TagResource'],
            resources: [tasks],
            // Only as RunTask creates a task, which RunTheMigrations allows on the runners' cluster only.
            conditions: { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
          }),
          passRunnerRolesStatement('PassTheMigrationsRoles', [migrationsRoles]),
          ecsSyncRuleStatement(),
        ]
      : [];
    super(scope, id, {
      stateMachineName: name,
      definition: DEFINITION,
      substitutions: {
        PitrStepsFunctionArn: props.stepsFunctionArn,
        RunnerClusterArn: props.cluster.attrArn,
        ...grants.substitutions,
      },
      role: {
        description: 'Lifeline point-in-time recovery workflow',
        policyName: 'pitr',
        statements: [...grants.statements, ...migrationsStatements],
      },
      logs: props.logs,
      alarmTopic: props.alarmTopic,
      failedAlarmDescription: `A point-in-time recovery of ${name} failed, timed out or was aborted. Its execution history names the step and the error; what it restored (tagged lifeline:pitr-execution) was deleted unless handed over to cutover, or Cleanup says what remains.`,
    });
    grants.acknowledge(this, 'The PITR steps functions');
    if (props.runsMigrations) {
      const acknowledge = (resource: string, reason: string) =>
        Validations.of(this.role).acknowledge({ id: `AwsSolutions-IAM5[${nagResource(this, resource)}]`, reason });
      acknowledge(
        tasks,
        "Task ids are assigned when a task starts; the ecs:cluster condition limits StopTask and DescribeTasks to the runners' cluster, and tagging is on RunTask's creation only.",
      );
      acknowledge(
        migrations,
        "Each application's migrations task definition family is under this prefix, run only on the runners' cluster.",
      );
      acknowledge(migrationsRoles, "The applications' migrations task roles live under this path; they are passed to ECS only.");
    }
  }
}
