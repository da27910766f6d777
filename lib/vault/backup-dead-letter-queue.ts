import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { deadLetterQueue } from '../runtime/dead-letter-queue.js';

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
    ({ queue: this.queue, alarm: this.alarm } = deadLetterQueue(this, {
      acknowledgment: 'This queue is the dead-letter queue of the backup schedules and functions; it needs none of its own.',
      alarmName: props.alarmName,
      alarmDescription:
        'A backup request could not be delivered or failed every attempt: its event, naming the database, is in the dead-letter queue.',
      topic: props.topic,
      ids: { queue: 'Queue', alarm: 'Arrived' },
    }));
    this.alarm.addOkAction(new actions.SnsAction(props.topic));
  }
}
