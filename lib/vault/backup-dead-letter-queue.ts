import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface BackupDeadLetterQueueProps {
  readonly alarmName: string;
  readonly topic: sns.ITopic;
}

/**
 * Where backup requests go when they could not run: schedules whose target could not be invoked, and
 * asynchronous invocations that failed every attempt. Each one that arrives raises an alarm.
 */
export class BackupDeadLetterQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly alarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: BackupDeadLetterQueueProps) {
    super(scope, id);
    this.queue = new sqs.Queue(this, 'Queue', {
      // SQS-managed keys: Scheduler and Lambda can send without grants on a customer key.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter queue of the backup schedules and functions; it needs none of its own.',
    });

    // Alarming on arrivals, not on the backlog: a backlog alarm stays in ALARM while one old message waits, so
    // later dead letters would notify nobody. Scheduler and Lambda dead-letter through SendMessage, which
    // NumberOfMessagesSent counts (only SQS's own redrive from a source queue bypasses it, and none is used).
    this.alarm = new cloudwatch.Alarm(this, 'Arrived', {
      alarmName: props.alarmName,
      alarmDescription:
        'A backup request could not be delivered or failed every attempt: its event, naming the database, is in the dead-letter queue.',
      metric: this.queue.metricNumberOfMessagesSent({ period: Duration.minutes(5), statistic: 'Sum' }),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      threshold: 1,
      evaluationPeriods: 1,
      // SQS stops reporting for idle queues: no data means nothing arrived.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.alarm.addAlarmAction(new actions.SnsAction(props.topic));
    this.alarm.addOkAction(new actions.SnsAction(props.topic));
  }
}
