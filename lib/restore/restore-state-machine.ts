import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aws, Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { nagResource } from '../nag-findings.js';
import type { RestoreLogs } from './restore-logs.js';
import type { RestoreRunner } from './restore-runner.js';

const DEFINITION = 'state-machines/restore.asl.json';

/** The definition file, found from here whether this runs from lib/ or a compiled dist/lib/. */
function definitionPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, DEFINITION))) return join(dir, DEFINITION);
    if (dirname(dir) === dir) throw new Error(`no ${DEFINITION} in any folder above ${here}`);
  }
}

/** The managed rule Step Functions uses to learn when an `ecs:runTask.sync` task stops. */
const ECS_SYNC_RULE = 'StepFunctionsGetEventsForECSTaskRule';

export interface RestoreStateMachineProps {
  readonly stateMachineName: string;
  readonly runner: RestoreRunner;
  /** The steps function outside any VPC (`${RestoreStepsFunctionArn}`). */
  readonly stepsFunctionArn: string;
  /** Every steps function the executions invoke: that one and each network's. */
  readonly invokedFunctionArns: readonly string[];
  readonly approvals: sns.ITopic;
  readonly notifications: sns.ITopic;
  /** Where the failure alarm notifies. */
  readonly alarmTopic: sns.ITopic;
  readonly logs: RestoreLogs;
}

/**
 * The restore workflow: restore.asl.json with its placeholders filled in, logged in full (KMS) and traced, and a
 * role that may run only the runner's task definition, pass only its roles, invoke only its steps functions and
 * publish only to its two topics. An alarm notifies when an execution fails, times out or is aborted.
 */
export class RestoreStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly role: iam.Role;
  readonly failedAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: RestoreStateMachineProps) {
    super(scope, id);
    const { runner } = props;
    const regional = (service: string, resource: string) => `arn:${Aws.PARTITION}:${service}:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
    const tasks = regional('ecs', `task/${runner.cluster.ref}/*`);
    const topicKeys = [props.approvals, props.notifications].flatMap((topic) => (topic.masterKey ? [topic.masterKey.keyArn] : []));
    const statements = [
      new iam.PolicyStatement({
        sid: 'RunTheRunner',
        actions: ['ecs:RunTask'],
        resources: [runner.taskDefinition.taskDefinitionArn],
        conditions: { ArnEquals: { 'ecs:cluster': runner.cluster.attrArn } },
      }),
      new iam.PolicyStatement({ sid: 'FollowTheRunner', actions: ['ecs:StopTask', 'ecs:DescribeTasks'], resources: [tasks] }),
      new iam.PolicyStatement({
        sid: 'PassTheRunnerRoles',
        actions: ['iam:PassRole'],
        resources: runner.passedRoles.map((role) => role.roleArn),
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
      // ecs:runTask.sync learns that a task stopped through this rule, which Step Functions manages.
      new iam.PolicyStatement({
        sid: 'EcsSyncRule',
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [regional('events', `rule/${ECS_SYNC_RULE}`)],
      }),
      new iam.PolicyStatement({ sid: 'InvokeSteps', actions: ['lambda:InvokeFunction'], resources: [...props.invokedFunctionArns] }),
      new iam.PolicyStatement({
        sid: 'PublishToItsTopics',
        actions: ['sns:Publish'],
        resources: [props.approvals.topicArn, props.notifications.topicArn],
      }),
      ...(topicKeys.length === 0
        ? []
        : [new iam.PolicyStatement({ sid: 'EncryptForItsTopics', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: topicKeys })]),
      // Log delivery and X-Ray take no resource-level permissions.
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
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com'),
      description: 'Lifeline restore workflow',
      inlinePolicies: { restore: new iam.PolicyDocument({ statements }) },
    });
    const acknowledge = (resource: string, reason: string) =>
      Validations.of(this.role).acknowledge({ id: `AwsSolutions-IAM5[${nagResource(this, resource)}]`, reason });
    acknowledge(tasks, "Task ids are assigned when a task starts; StopTask and DescribeTasks are limited to the runner's cluster.");
    acknowledge('*', 'CloudWatch Logs delivery and X-Ray actions support no resource-level permissions.');

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      definitionBody: sfn.DefinitionBody.fromFile(definitionPath()),
      definitionSubstitutions: {
        RestoreStepsFunctionArn: props.stepsFunctionArn,
        RunnerClusterArn: runner.cluster.attrArn,
        RunnerTaskDefinitionArn: runner.taskDefinition.taskDefinitionArn,
        ApprovalsTopicArn: props.approvals.topicArn,
        NotificationsTopicArn: props.notifications.topicArn,
      },
      // The role's policy is complete as written above; nothing may widen it behind our back.
      role: this.role.withoutPolicyUpdates(),
      logs: {
        destination: props.logs.logGroup(this, 'Logs', `/aws/vendedlogs/states/${props.stateMachineName}`),
        level: sfn.LogLevel.ALL,
        includeExecutionData: true,
      },
      tracingEnabled: true,
    });

    const period = Duration.minutes(5);
    this.failedAlarm = new cloudwatch.Alarm(this, 'Failed', {
      alarmName: `${props.stateMachineName}-failed`,
      alarmDescription: `A restore execution of ${props.stateMachineName} failed, timed out or was aborted. Its execution history names the step and the error; the created database was dropped unless keepOnFailure.`,
      metric: new cloudwatch.MathExpression({
        expression: 'FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)',
        usingMetrics: {
          failed: this.stateMachine.metricFailed({ statistic: 'Sum', period }),
          timedOut: this.stateMachine.metricTimedOut({ statistic: 'Sum', period }),
          aborted: this.stateMachine.metricAborted({ statistic: 'Sum', period }),
        },
        period,
      }),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      threshold: 1,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.failedAlarm.addAlarmAction(new actions.SnsAction(props.alarmTopic));
  }
}
