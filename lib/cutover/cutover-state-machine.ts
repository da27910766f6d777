import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { approvalVerifyFunctionArn, verifyApprovalStatement } from '../approvals/approval-grants.js';
import type { WorkflowLogs } from '../workflows/workflow-logs.js';
import { publishStatements, WorkflowStateMachine } from '../workflows/workflow-state-machine.js';
import type { CutoverLockTable } from './cutover-lock-table.js';

const DEFINITION = 'state-machines/cutover.asl.json';

export interface CutoverStateMachineProps {
  readonly stateMachineName: string;
  /** The config's name: a hand-started cutover's approval is checked by its approval verify function. */
  readonly deployment: string;
  /** The cutover steps function (`${CutoverStepsFunctionArn}`). */
  readonly stepsFunctionArn: string;
  readonly locks: CutoverLockTable;
  /** Where outcomes go (`${NotificationsTopicArn}`). */
  readonly notifications: sns.ITopic;
  /** Where a rollback that failed pages (`${AlarmTopicArn}`), and where the failure alarm notifies. */
  readonly alarmTopic: sns.ITopic;
  readonly logs: WorkflowLogs;
}

/**
 * The cutover workflow: cutover.asl.json with its placeholders filled in, logged in full (KMS) and traced, and a
 * role that may invoke only its steps function, write and delete only items of its lock table, and publish only to
 * its topics. An alarm notifies when an execution fails, times out or is aborted.
 */
export class CutoverStateMachine extends WorkflowStateMachine {
  constructor(scope: Construct, id: string, props: CutoverStateMachineProps) {
    const { table, key } = props.locks;
    const statements = [
      new iam.PolicyStatement({ sid: 'InvokeSteps', actions: ['lambda:InvokeFunction'], resources: [props.stepsFunctionArn] }),
      // TakeLock, KeepLock and ReleaseLock: conditional writes; nothing reads the table.
      new iam.PolicyStatement({ sid: 'HoldLocks', actions: ['dynamodb:PutItem', 'dynamodb:DeleteItem'], resources: [table.tableArn] }),
      new iam.PolicyStatement({
        sid: 'EncryptLocks',
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: [key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` } },
      }),
      verifyApprovalStatement(scope, props.deployment),
      ...publishStatements([props.notifications, props.alarmTopic]),
    ];
    super(scope, id, {
      stateMachineName: props.stateMachineName,
      definition: DEFINITION,
      substitutions: {
        CutoverStepsFunctionArn: props.stepsFunctionArn,
        LockTableName: table.tableName,
        NotificationsTopicArn: props.notifications.topicArn,
        AlarmTopicArn: props.alarmTopic.topicArn,
        ApprovalVerifyFunctionArn: approvalVerifyFunctionArn(scope, props.deployment),
      },
      role: { description: 'Lifeline cutover workflow', policyName: 'cutover', statements },
      logs: props.logs,
      alarmTopic: props.alarmTopic,
      failedAlarmDescription: `A cutover execution of ${props.stateMachineName} failed, timed out or was aborted. Its execution history names the step and the error; after a switch it was rolled back (CutoverRolledBack), or the rollback was not proved healthy (RollbackUnhealthy: act now), or someone changed the application's secret during the cutover and it was left as they wrote it (SecretChanged: act now), or its outcome is unknown (CutoverUnresolved: act now).`,
    });
  }
}
