import { Aws, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ownKey } from '../own-key.js';

/**
 * A workflow's log groups (restore's, or cutover's), encrypted with a key of their own: the state machine logs
 * execution data (database names, keys, validation reports), which should not sit in plain text.
 */
export class WorkflowLogs extends Construct {
  readonly key: kms.Key;

  /** `workflow` names the workflow in the key's description. */
  constructor(scope: Construct, id: string, workflow: string) {
    super(scope, id);
    this.key = ownKey(this, `Encrypts the Lifeline ${workflow} workflow logs`);
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsEncrypt',
        principals: [new iam.ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:*` },
        },
      }),
    );
  }

  /** A log group under this key, kept three months like the backups' logs. */
  logGroup(scope: Construct, id: string, logGroupName?: string): logs.LogGroup {
    return new logs.LogGroup(scope, id, {
      logGroupName,
      encryptionKey: this.key,
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }
}
