import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { ownKey } from '../own-key.js';

export interface ApprovalsTopicProps {
  /** Who is asked to approve (config.approval.emails, else the notification addresses). */
  readonly emails: readonly string[];
}

/**
 * The SNS topic that asks a human to approve a restore: the validation report and the exact approve and reject
 * commands. The task token travels as a message attribute, which e-mail does not show; it approves nothing by itself
 * (only the approve function's signed decision passes VerifyApproval).
 */
export class ApprovalsTopic extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: ApprovalsTopicProps) {
    super(scope, id);
    // A key of its own: a message carries the validation report and, as an attribute, the task token.
    this.key = ownKey(this, 'Encrypts Lifeline approval requests');
    this.topic = new sns.Topic(this, 'Topic', { displayName: 'Lifeline approvals', masterKey: this.key, enforceSSL: true });
    for (const email of props.emails) this.topic.addSubscription(new subscriptions.EmailSubscription(email));
  }
}
