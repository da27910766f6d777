import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ALARM_TOPIC_VARIABLE } from '../../lambdas/core/workflows/compensation.js';
import { UNSUCCESSFUL_STATUSES } from '../../lambdas/core/workflows/execution-history.js';
import { nagResource } from '../nag-findings.js';
import { deadLetterQueue } from '../runtime/dead-letter-queue.js';
import { publishStatements } from './workflow-state-machine.js';
import type { WorkflowStateMachine } from './workflow-state-machine.js';
import type { WorkflowStepsFunction } from './workflow-steps-function.js';

export interface WorkflowCompensationProps {
  /** The workflow's state machine name: its executions are the ones compensated. */
  readonly stateMachineName: string;
  /** Where notices go (the vault's alarm topic), and the dead-letter alarm. */
  readonly alarmTopic: sns.ITopic;
}

/**
 * What undoes a workflow execution that ended past its own cleanup: StopExecution runs no Catch, nor does a timeout
 * of the execution, and States.DataLimitExceeded skips every Catch. An EventBridge rule on the state machine's
 * `Step Functions Execution Status Change` to ABORTED, TIMED_OUT or FAILED sends `{"step": "compensate", ...}` to the
 * workflow's steps function, which reads the execution from Step Functions and does what its cleanup would have
 * (core's restore/, pitr/ and cutover/compensation.ts). An event the rule could not deliver, and one the
 * function failed on every attempt, goes to an encrypted dead-letter queue whose arrivals raise an alarm.
 *
 * Made in two parts, as the function's role is complete when the function is made: this construct first (the queue,
 * the alarm, `statements` and `environment` for the function), then `deliverTo` once the function and the state
 * machine exist.
 */
export class WorkflowCompensation extends Construct {
  readonly deadLetters: sqs.Queue;
  readonly alarm: cloudwatch.Alarm;
  /** The executions of the workflow, as IAM names them. */
  readonly executionsArn: string;
  private readonly props: WorkflowCompensationProps;

  constructor(scope: Construct, id: string, props: WorkflowCompensationProps) {
    super(scope, id);
    this.props = props;
    this.executionsArn = Stack.of(this).formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${props.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    ({ queue: this.deadLetters, alarm: this.alarm } = deadLetterQueue(this, {
      acknowledgment:
        "This queue is the dead-letter queue of the compensation rule's target and of the function's asynchronous invocations.",
      alarmName: `${props.stateMachineName}-compensation-failed`,
      alarmDescription: `A stopped, timed-out or failed execution of ${props.stateMachineName} could not be compensated: its event, naming the execution, is in the dead-letter queue. Undo by hand what it left (see the README: when an execution is stopped, times out or fails).`,
      topic: props.alarmTopic,
      ids: { queue: 'DeadLetters', alarm: 'Undelivered' },
    }));
  }

  /** What the steps function's role needs to compensate: read its workflow's executions, notify, and dead-letter its failures. */
  statements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        sid: 'ReadItsExecutions',
        actions: ['states:DescribeExecution', 'states:GetExecutionHistory'],
        resources: [this.executionsArn],
      }),
      ...publishStatements([this.props.alarmTopic]),
      // Lambda sends an asynchronous invocation that failed every attempt with the function's role.
      new iam.PolicyStatement({ sid: 'DeadLetterCompensations', actions: ['sqs:SendMessage'], resources: [this.deadLetters.queueArn] }),
    ];
  }

  /** The steps function's environment for compensating: the topic it notifies. */
  environment(): Record<string, string> {
    return { [ALARM_TOPIC_VARIABLE]: this.props.alarmTopic.topicArn };
  }

  /** cdk-nag's acknowledgment of `statements()`'s pattern, on the role that holds them. */
  acknowledge(role: iam.IRole): void {
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[${nagResource(role, this.executionsArn)}]`,
      reason: `Execution names are chosen when an execution starts; DescribeExecution and GetExecutionHistory read ${this.props.stateMachineName}'s executions only.`,
    });
  }

  /** The rule, its target (the steps function, retried, with the dead-letter queue) and the function's asynchronous retries. */
  deliverTo(stepsFunction: WorkflowStepsFunction, workflow: WorkflowStateMachine): events.Rule {
    const rule = new events.Rule(this, 'Rule', {
      description: `Compensates executions of ${this.props.stateMachineName} that were stopped, timed out or failed past their cleanup`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { status: [...UNSUCCESSFUL_STATUSES], stateMachineArn: [workflow.stateMachine.stateMachineArn] },
      },
    });
    rule.addTarget(
      new targets.LambdaFunction(stepsFunction.function, {
        event: events.RuleTargetInput.fromObject({
          step: 'compensate',
          executionArn: events.EventField.fromPath('$.detail.executionArn'),
          status: events.EventField.fromPath('$.detail.status'),
        }),
        retryAttempts: 8,
        maxEventAge: Duration.hours(2),
        deadLetterQueue: this.deadLetters,
      }),
    );
    // A compensation that failed (a throttled API, a database down) is tried twice more, then dead-lettered.
    stepsFunction.function.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      onFailure: new destinations.SqsDestination(this.deadLetters),
    });
    return rule;
  }
}
