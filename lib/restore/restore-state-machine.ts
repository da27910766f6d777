import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArnFormat, Aws, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DEPLOYMENT_TAG, restoreRunnerFamily, restoreRunnerRolePath, restoreWorkflowName } from '../../lambdas/core/names.js';
import { nagResource } from '../nag-findings.js';
import { passRunnerRolesStatement, runRunnerTaskStatement, tagRunnerTaskStatement } from '../runner-task.js';
import type { RestoreLogs } from './restore-logs.js';

const DEFINITION = 'state-machines/restore.asl.json';

/** A definition file such as `state-machines/restore.asl.json`, found from here whether this runs from lib/ or a compiled dist/lib/. */
export function definitionPath(definition: string): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, definition))) return join(dir, definition);
    if (dirname(dir) === dir) throw new Error(`no ${definition} in any folder above ${here}`);
  }
}

/** What a workflow's role needs for its logs and traces: log delivery and X-Ray take no resource-level permissions. */
export function logsAndTracingStatements(): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      sid: 'DeliverLogs',
      actions: [
        'logs:CreateLogDelivery',
        'logs:GetLogDelivery',
        'logs:UpdateLogDelivery',
        'logs:DeleteLogDelivery',
        'logs:ListLogDeliveries',
        'logs:PutResourcePolicy',
        'logs:DescribeResourcePolicies',
        'logs:DescribeLogGroups',
      ],
      resources: ['*'],
    }),
    new iam.PolicyStatement({
      sid: 'Trace',
      actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'],
      resources: ['*'],
    }),
  ];
}

/** Every execution's events and data, in the workflow's KMS-encrypted log group. */
export function workflowLogs(scope: Construct, logs: RestoreLogs, stateMachineName: string): sfn.LogOptions {
  return {
    destination: logs.logGroup(scope, 'Logs', `/aws/vendedlogs/states/${stateMachineName}`),
    level: sfn.LogLevel.ALL,
    includeExecutionData: true,
  };
}

/** An alarm to `topic` when an execution of the state machine fails, times out or is aborted. */
export function failedExecutionsAlarm(
  scope: Construct,
  id: string,
  props: { stateMachine: sfn.StateMachine; alarmName: string; alarmDescription: string; topic: sns.ITopic },
): cloudwatch.Alarm {
  const period = Duration.minutes(5);
  const alarm = new cloudwatch.Alarm(scope, id, {
    alarmName: props.alarmName,
    alarmDescription: props.alarmDescription,
    metric: new cloudwatch.MathExpression({
      expression: 'FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)',
      usingMetrics: {
        failed: props.stateMachine.metricFailed({ statistic: 'Sum', period }),
        timedOut: props.stateMachine.metricTimedOut({ statistic: 'Sum', period }),
        aborted: props.stateMachine.metricAborted({ statistic: 'Sum', period }),
      },
      period,
    }),
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    threshold: 1,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  alarm.addAlarmAction(new actions.SnsAction(props.topic));
  return alarm;
}

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
  readonly logs: RestoreLogs;
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
export class RestoreStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly role: iam.Role;
  readonly failedAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: RestoreStateMachineProps) {
    super(scope, id);
    const { cluster } = props;
    const regional = (service: string, resource: string) => `arn:${Aws.PARTITION}:${service}:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
    const tasks = regional('ecs', `task/${cluster.ref}/*`);
    const runners = regional('ecs', `task-definition/${restoreRunnerFamily(props.deployment, '*')}:*`);
    const runnerRoles = `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role${restoreRunnerRolePath(props.deployment)}*`;
    const stepsFunctions = regional('lambda', `function:${restoreWorkflowName(props.deployment)}*`);
    const topicKeys = [props.approvals, props.notifications].flatMap((topic) => (topic.masterKey ? [topic.masterKey.keyArn] : []));
    // By name, not by reference: the cutover stack is deployed on its own, and without applications not at all.
    const stack = Stack.of(this);
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
      new iam.PolicyStatement({
        sid: 'PublishToItsTopics',
        actions: ['sns:Publish'],
        resources: [props.approvals.topicArn, props.notifications.topicArn],
      }),
      ...(topicKeys.length === 0
        ? []
        : [new iam.PolicyStatement({ sid: 'EncryptForItsTopics', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: topicKeys })]),
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
      ...logsAndTracingStatements(),
    ];
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com'),
      description: 'Lifeline restore workflow',
      inlinePolicies: { restore: new iam.PolicyDocument({ statements }) },
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
    acknowledge('*', 'CloudWatch Logs delivery and X-Ray actions support no resource-level permissions.');
    if (props.startsCutover) {
      acknowledge(
        cutoverExecutions,
        'Execution names are chosen when a cutover starts; describe and stop are limited to the cutover state machine.',
      );
    }

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      definitionBody: sfn.DefinitionBody.fromFile(definitionPath(DEFINITION)),
      definitionSubstitutions: {
        RestoreStepsFunctionArn: props.stepsFunctionArn,
        RunnerClusterArn: cluster.attrArn,
        ApprovalsTopicArn: props.approvals.topicArn,
        NotificationsTopicArn: props.notifications.topicArn,
        CutoverStateMachineArn: cutoverArn,
      },
      // The role's policy is complete as written above; nothing may widen it behind our back.
      role: this.role.withoutPolicyUpdates(),
      logs: workflowLogs(this, props.logs, props.stateMachineName),
      tracingEnabled: true,
    });

    this.failedAlarm = failedExecutionsAlarm(this, 'Failed', {
      stateMachine: this.stateMachine,
      alarmName: `${props.stateMachineName}-failed`,
      alarmDescription: `A restore execution of ${props.stateMachineName} failed, timed out or was aborted. Its execution history names the step and the error; the created database was dropped unless keepOnFailure.`,
      topic: props.alarmTopic,
    });
  }
}
