import { Aws } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { runnerExitCodeLegend } from '../../lambdas/core/exit-codes.js';
import { runnerCluster } from '../runtime/runner-task.js';

export interface BackupClusterProps {
  /** The alarm topic, which hears of every backup task that stopped without a backup. */
  readonly topic: sns.ITopic;
  /** Where the tasks log, named in the notice. */
  readonly logGroup: logs.ILogGroup;
}

/**
 * Where a backups stack's Fargate backups run: an ECS cluster of their own, and a notice to the alarm topic of each
 * backup task that stopped without a backup, with a non-zero exit code (the runner's error, a StopTask, an
 * out-of-memory kill) or without ever starting (the image or the network). The runner counts the failures it sees as
 * BackupFailed; this rule reports what it cannot, as Lambda's Errors do for a function. The cluster runs nothing
 * else, so the rule matches it whole, with one rule per stack rather than one per database (EventBridge allows 300
 * rules per bus).
 */
export class BackupCluster extends Construct {
  readonly cluster: ecs.CfnCluster;
  readonly taskFailed: events.Rule;

  constructor(scope: Construct, id: string, props: BackupClusterProps) {
    super(scope, id);
    this.cluster = runnerCluster(this);

    // A role of EventBridge's own, rather than a topic policy in the vault stack: publishing to the encrypted topic
    // takes its key too, which the key's policy leaves to IAM.
    const role = new iam.Role(this, 'NotifyRole', {
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'Lifeline backup task failures to the alarm topic',
      inlinePolicies: {
        notify: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({ sid: 'PublishToAlarmTopic', actions: ['sns:Publish'], resources: [props.topic.topicArn] }),
            ...(props.topic.masterKey
              ? [
                  new iam.PolicyStatement({
                    sid: 'EncryptForAlarmTopic',
                    actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
                    resources: [props.topic.masterKey.keyArn],
                  }),
                ]
              : []),
          ],
        }),
      },
    });

    const field = (path: string) => events.EventField.fromPath(path);
    this.taskFailed = new events.Rule(this, 'TaskFailed', {
      description: 'A Lifeline backup task stopped with a non-zero exit code or never started',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: {
          clusterArn: [this.cluster.attrArn],
          lastStatus: ['STOPPED'],
          $or: [{ containers: { exitCode: [{ 'anything-but': 0 }] } }, { stopCode: ['TaskFailedToStart'] }],
        },
      },
      targets: [
        new targets.SnsTopic(props.topic, {
          authorizeUsingRole: true,
          // Complete as written above: the target may not add to it.
          role: role.withoutPolicyUpdates(),
          message: events.RuleTargetInput.fromText(
            `A Lifeline backup task stopped without a backup: ${field('$.detail.group')}, ${field('$.detail.stopCode')}, ` +
              `exit code ${field('$.detail.containers[0].exitCode')}: ${field('$.detail.stoppedReason')}. ` +
              `The exit code names the runner's error (${runnerExitCodeLegend()}); 137 is a kill, such as running out of memory. ` +
              `Task ${field('$.detail.taskArn')}; its logs are in ${props.logGroup.logGroupName}, stream backup/backup/ and the task id.`,
          ),
        }),
      ],
    });
  }
}
