import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

export interface DeadLetterQueueProps {
  /** Why the queue needs no dead-letter queue of its own (cdk-nag's SQS3): whose dead letters it holds. */
  readonly acknowledgment: string;
  readonly alarmName: string;
  /** What arrived, and what to do about it. */
  readonly alarmDescription: string;
  /** Where the alarm notifies. */
  readonly topic: sns.ITopic;
  /** The ids of the queue and its alarm in `scope`. */
  readonly ids: { readonly queue: string; readonly alarm: string };
}

/**
 * An encrypted queue where events and invocations go that could not be delivered or failed every attempt, and an
 * alarm on each that arrives.
 */
export function deadLetterQueue(scope: Construct, props: DeadLetterQueueProps): { queue: sqs.Queue; alarm: cloudwatch.Alarm } {
  const queue = new sqs.Queue(scope, props.ids.queue, {
    // SQS-managed keys: Scheduler, EventBridge and Lambda can send without grants on a customer key.
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  Validations.of(queue).acknowledge({ id: 'AwsSolutions-SQS3', reason: props.acknowledgment });

  // Alarming on arrivals, not on the backlog: a backlog alarm stays in ALARM while one old message waits, so
  // later dead letters would notify nobody. Scheduler, EventBridge and Lambda dead-letter through SendMessage, which
  // NumberOfMessagesSent counts (only SQS's own redrive from a source queue bypasses it, and none is used).
  const alarm = new cloudwatch.Alarm(scope, props.ids.alarm, {
    alarmName: props.alarmName,
    alarmDescription: props.alarmDescription,
    metric: queue.metricNumberOfMessagesSent({ period: Duration.minutes(5), statistic: 'Sum' }),
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    threshold: 1,
    evaluationPeriods: 1,
    // SQS stops reporting for idle queues: no data means nothing arrived.
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  alarm.addAlarmAction(new actions.SnsAction(props.topic));
  return { queue, alarm };
}
