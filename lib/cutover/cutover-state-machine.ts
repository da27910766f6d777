import { Aws, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { nagResource } from '../nag-findings.js';
import type { RestoreLogs } from '../restore/restore-logs.js';
import { definitionPath, failedExecutionsAlarm, logsAndTracingStatements, workflowLogs } from '../restore/restore-state-machine.js';
import type { CutoverLockTable } from './cutover-lock-table.js';

const DEFINITION = 'state-machines/cutover.asl.json';

export interface CutoverStateMachineProps {
  readonly stateMachineName: string;
  /** The cutover steps function (`${CutoverStepsFunctionArn}`). */
  readonly stepsFunctionArn: string;
  readonly locks: CutoverLockTable;
  /** Where outcomes go (`${NotificationsTopicArn}`). */
  readonly notifications: sns.ITopic;
  /** Where a rollback that failed pages (`${AlarmTopicArn}`), and where the failure alarm notifies. */
  readonly alarmTopic: sns.ITopic;
  readonly logs: RestoreLogs;
}

/**
 * The cutover workflow: cutover.asl.json with its placeholders filled in, logged in full (KMS) and traced, and a
 * role that may invoke only its steps function, write and delete only items of its lock table, and publish only to
 * its topics. An alarm notifies when an execution fails, times out or is aborted.
 */
export class CutoverStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly role: iam.Role;
  readonly failedAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: CutoverStateMachineProps) {
    super(scope, id);
    const { table, key } = props.locks;
    const topics = [...new Set([props.notifications.topicArn, props.alarmTopic.topicArn])];
    const topicKeys = [
      ...new Set([props.notifications, props.alarmTopic].flatMap((topic) => (topic.masterKey ? [topic.masterKey.keyArn] : []))),
    ];
    const statements = [
      new iam.PolicyStatement({ sid: 'InvokeSteps', actions: ['lambda:InvokeFunction'], resources: [props.stepsFunctionArn] }),
      // TakeLock and ReleaseLock: conditional writes; nothing reads the table.
      new iam.PolicyStatement({ sid: 'HoldLocks', actions: ['dynamodb:PutItem', 'dynamodb:DeleteItem'], resources: [table.tableArn] }),
      new iam.PolicyStatement({
        sid: 'EncryptLocks',
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` } },
      }),
      new iam.PolicyStatement({ sid: 'PublishToItsTopics', actions: ['sns:Publish'], resources: topics }),
      ...(topicKeys.length === 0
        ? []
        : [new iam.PolicyStatement({ sid: 'EncryptForItsTopics', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: topicKeys })]),
      ...logsAndTracingStatements(),
    ];
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com'),
      description: 'Lifeline cutover workflow',
      inlinePolicies: { cutover: new iam.PolicyDocument({ statements }) },
    });
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[${nagResource(this, '*')}]`,
      reason: 'CloudWatch Logs delivery and X-Ray actions support no resource-level permissions.',
    });

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      definitionBody: sfn.DefinitionBody.fromFile(definitionPath(DEFINITION)),
      definitionSubstitutions: {
        CutoverStepsFunctionArn: props.stepsFunctionArn,
        LockTableName: table.tableName,
        NotificationsTopicArn: props.notifications.topicArn,
        AlarmTopicArn: props.alarmTopic.topicArn,
      },
      // The role's policy is complete as written above; nothing may widen it behind our back.
      role: this.role.withoutPolicyUpdates(),
      logs: workflowLogs(this, props.logs, props.stateMachineName),
      tracingEnabled: true,
    });

    this.failedAlarm = failedExecutionsAlarm(this, 'Failed', {
      stateMachine: this.stateMachine,
      alarmName: `${props.stateMachineName}-failed`,
      alarmDescription: `A cutover execution of ${props.stateMachineName} failed, timed out or was aborted. Its execution history names the step and the error; after a switch it was rolled back (CutoverRolledBack), or the rollback was not proved healthy (RollbackUnhealthy: act now), or someone changed the application's secret during the cutover and it was left as they wrote it (SecretChanged: act now).`,
      topic: props.alarmTopic,
    });
  }
}
