import { ArnFormat, Aws, Stack, Validations } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { DEPLOYMENT_TAG, restoreRunnerFamily, restoreRunnerRolePath, restoreWorkflowName } from '../../lambdas/core/names.js';
import { approvalVerifyFunctionArn, verifyApprovalStatement } from '../approvals/approval-grants.js';
import { nagResource } from '../nag-findings.js';
import { passRunnerRolesStatement, runRunnerTaskStatement, tagRunnerTaskStatement } from '../runtime/runner-task.js';
import type { WorkflowLogs } from '../workflows/workflow-logs.js';
import { publishStatements, WorkflowStateMachine } from '../workflows/workflow-state-machine.js';

const DEFINITION = 'state-machines/restore.asl.json';

/** The managed rule Step Functions uses to learn when an `ecs:runTask.sync` task stops. */
const ECS_SYNC_RULE = 'StepFunctionsGetEventsForECSTaskRule';

/** The managed rule Step Functions uses to learn when a `states:startExecution.sync` child execution ends. */
const EXECUTION_SYNC_RULE = 'StepFunctionsGetEventsForStepFunctionsExecutionRule';

export interface RestoreStateMachineProps {
  readonly stateMachineName: string;
  /** The config's name: the restore groups' runners and steps functions are found by it. */
  readonly deployment: string;
  /** Where the runners run (`${RunnerClusterArn}`). */
  readonly cluster: ecs.CfnCluster;
  /** The steps function outside any VPC (`${RestoreStepsFunctionArn}`). */
  readonly stepsFunctionArn: string;
  readonly approvals: sns.ITopic;
  readonly notifications: sns.ITopic;
  /** Where the failure alarm notifies. */
  readonly alarmTopic: sns.ITopic;
  readonly logs: WorkflowLogs;
  /** The cutover state machine the hand-over starts (`${CutoverStateMachineArn}`), named whether or not it is deployed. */
  readonly cutoverStateMachineName: string;
  /** Whether the config has applications, so that a restore may hand over to cutover: only then may the role start it. */
  readonly startsCutover: boolean;
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
    const runnerRoles = `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role${restoreRunnerRolePath(props.deployment)}*`;
    const stepsFunctions = regional('lambda', `function:${restoreWorkflowName(props.deployment)}*`);
    // By name, not by reference: the cutover stack is deployed on its own, and without applications not at all.
    const stack = Stack.of(scope);
    const cutoverArn = stack.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: props.cutoverStateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const cutoverExecutions = stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${props.cutoverStateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const statements = [
      runRunnerTaskStatement('RunTheRunners', runners, cluster),
      new iam.PolicyStatement({ sid: 'FollowTheRunner', actions: ['ecs:StopTask', 'ecs:DescribeTasks'], resources: [tasks] }),
      tagRunnerTaskStatement('TagTheRunnerTask', tasks),
      passRunnerRolesStatement('PassTheRunnerRoles', [runnerRoles]),
      // ecs:runTask.sync learns that a task stopped through this rule, which Step Functions manages.
      new iam.PolicyStatement({
        sid: 'EcsSyncRule',
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [regional('events', `rule/${ECS_SYNC_RULE}`)],
      }),
      // Another deployment's functions may share the name's prefix; they do not bear this deployment's tag.
      new iam.PolicyStatement({
        sid: 'InvokeSteps',
        actions: ['lambda:InvokeFunction'],
        resources: [stepsFunctions],
        conditions: { StringEquals: { [`aws:ResourceTag/${DEPLOYMENT_TAG}`]: props.deployment } },
      }),
      verifyApprovalStatement(scope, props.deployment),
      ...publishStatements([props.approvals, props.notifications]),
      ...(props.startsCutover
        ? [
            new iam.PolicyStatement({ sid: 'StartCutover', actions: ['states:StartExecution'], resources: [cutoverArn] }),
            new iam.PolicyStatement({
              sid: 'FollowCutover',
              actions: ['states:DescribeExecution', 'states:StopExecution'],
              resources: [cutoverExecutions],
            }),
            // states:startExecution.sync:2 learns that the cutover ended through this rule, which Step Functions manages.
            new iam.PolicyStatement({
              sid: 'ExecutionSyncRule',
              actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
              resources: [regional('events', `rule/${EXECUTION_SYNC_RULE}`)],
            }),
          ]
        : []),
    ];
    super(scope, id, {
      stateMachineName: props.stateMachineName,
      definition: DEFINITION,
      substitutions: {
        RestoreStepsFunctionArn: props.stepsFunctionArn,
        RunnerClusterArn: cluster.attrArn,
        ApprovalsTopicArn: props.approvals.topicArn,
        NotificationsTopicArn: props.notifications.topicArn,
        CutoverStateMachineArn: cutoverArn,
        ApprovalVerifyFunctionArn: approvalVerifyFunctionArn(scope, props.deployment),
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
    acknowledge(runnerRoles, "The restore groups' runner roles live under this path; they are passed to ECS only.");
    acknowledge(
      stepsFunctions,
      "The restore groups' steps functions are named under this prefix and invoked only when they bear the deployment's tag.",
    );
    if (props.startsCutover) {
      acknowledge(
        cutoverExecutions,
        'Execution names are chosen when a cutover starts; describe and stop are limited to the cutover state machine.',
      );
    }
  }
}
