import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aws, CfnOutput, Duration, Validations, type Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { nagResource } from '../nag-findings.js';
import type { WorkflowLogs } from './workflow-logs.js';

/** A definition file such as `state-machines/restore.asl.json`, found from here whether this runs from lib/ or a compiled dist/lib/. */
function definitionPath(definition: string): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, definition))) return join(dir, definition);
    if (dirname(dir) === dir) throw new Error(`no ${definition} in any folder above ${here}`);
  }
}

/** Publishing to `topics` (each once), and encrypting for those with a key. */
export function publishStatements(topics: readonly sns.ITopic[]): iam.PolicyStatement[] {
  const topicArns = [...new Set(topics.map((topic) => topic.topicArn))];
  const keyArns = [...new Set(topics.flatMap((topic) => (topic.masterKey ? [topic.masterKey.keyArn] : [])))];
  return [
    new iam.PolicyStatement({ sid: 'PublishToItsTopics', actions: ['sns:Publish'], resources: topicArns }),
    ...(keyArns.length === 0
      ? []
      : [new iam.PolicyStatement({ sid: 'EncryptForItsTopics', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: keyArns })]),
  ];
}

/** What a workflow's role needs for its logs and traces: log delivery and X-Ray take no resource-level permissions. */
function logsAndTracingStatements(): iam.PolicyStatement[] {
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

export interface WorkflowStateMachineProps {
  readonly stateMachineName: string;
  /** Its definition file, such as `state-machines/restore.asl.json`. */
  readonly definition: string;
  /** What fills in the definition's `${...}` placeholders. */
  readonly substitutions: Record<string, string>;
  /** The role's description, and the name and statements of its one policy, to which log delivery and tracing are added. */
  readonly role: { readonly description: string; readonly policyName: string; readonly statements: readonly iam.PolicyStatement[] };
  readonly logs: WorkflowLogs;
  /** Where the failure alarm notifies. */
  readonly alarmTopic: sns.ITopic;
  /** What the failure alarm says: which execution failed and what it left behind. */
  readonly failedAlarmDescription: string;
}

/**
 * A workflow's state machine: its definition with the placeholders filled in, logged in full (KMS) and traced, a
 * role of exactly the given statements (plus log delivery and tracing), and an alarm when an execution fails, times
 * out or is aborted.
 */
export class WorkflowStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly role: iam.Role;
  readonly failedAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: WorkflowStateMachineProps) {
    super(scope, id);
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com'),
      description: props.role.description,
      inlinePolicies: {
        [props.role.policyName]: new iam.PolicyDocument({ statements: [...props.role.statements, ...logsAndTracingStatements()] }),
      },
    });
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[${nagResource(this, '*')}]`,
      reason: 'CloudWatch Logs delivery and X-Ray actions support no resource-level permissions.',
    });

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      definitionBody: sfn.DefinitionBody.fromFile(definitionPath(props.definition)),
      definitionSubstitutions: props.substitutions,
      // The role's policy is complete as written above; nothing may widen it behind our back.
      role: this.role.withoutPolicyUpdates(),
      // Every execution's events and data, in the workflow's KMS-encrypted log group.
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
      alarmDescription: props.failedAlarmDescription,
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

  /**
   * The stack's outputs for starting it: its ARN (`startWith` says how), its name, and its console URL, where an
   * input such as `exampleInput` starts an execution.
   */
  addOutputs(stack: Stack, props: { readonly startWith: string; readonly exampleInput: string }): void {
    const { stateMachineArn, stateMachineName } = this.stateMachine;
    new CfnOutput(stack, 'StateMachineArn', { value: stateMachineArn, description: props.startWith });
    new CfnOutput(stack, 'StateMachineName', { value: stateMachineName });
    new CfnOutput(stack, 'ConsoleUrl', {
      value: `https://${Aws.REGION}.console.aws.amazon.com/states/home?region=${Aws.REGION}#/statemachines/view/${stateMachineArn}`,
      description: `The state machine in the console: Start execution, with an input such as ${props.exampleInput}`,
    });
  }
}
