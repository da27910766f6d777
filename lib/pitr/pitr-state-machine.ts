import { ArnFormat, Aws, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { DEPLOYMENT_TAG } from '../../lambdas/core/names.js';
import { pitrWorkflowName } from '../../lambdas/core/pitr/state.js';
import { approvalVerifyFunctionArn, verifyApprovalStatement } from '../approvals/approval-grants.js';
import { nagResource } from '../nag-findings.js';
import type { WorkflowLogs } from '../workflows/workflow-logs.js';
import { publishStatements, WorkflowStateMachine } from '../workflows/workflow-state-machine.js';

const DEFINITION = 'state-machines/pitr.asl.json';

/** The managed rule Step Functions uses to learn when a `states:startExecution.sync` child execution ends. */
const EXECUTION_SYNC_RULE = 'StepFunctionsGetEventsForStepFunctionsExecutionRule';

export interface PitrStateMachineProps {
  /** The config's name: the state machine is `<name>-pitr`, its steps functions `<name>-pitr*`. */
  readonly deployment: string;
  /** The steps function outside any VPC (`${PitrStepsFunctionArn}`): every step but Validate. */
  readonly stepsFunctionArn: string;
  readonly approvals: sns.ITopic;
  readonly notifications: sns.ITopic;
  readonly alarmTopic: sns.ITopic;
  readonly logs: WorkflowLogs;
  /** The cutover state machine the hand-over starts (`${CutoverStateMachineArn}`), named whether or not it is deployed. */
  readonly cutoverStateMachineName: string;
  /** Whether the config has applications, so that a PITR may hand over to cutover: only then may the role start it. */
  readonly startsCutover: boolean;
}

/**
 * The PITR workflow: pitr.asl.json with its placeholders filled in, logged in full (KMS) and traced, with a role that
 * may invoke only its deployment's PITR steps functions (by name prefix and deployment tag), publish only to its two
 * topics and, with applications, start and follow only the cutover state machine. It calls no RDS API itself: its
 * steps do, with their own role (pitr-grants.ts).
 */
export class PitrStateMachine extends WorkflowStateMachine {
  constructor(scope: Construct, id: string, props: PitrStateMachineProps) {
    const name = pitrWorkflowName(props.deployment);
    const regional = (service: string, resource: string) => `arn:${Aws.PARTITION}:${service}:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
    const stepsFunctions = regional('lambda', `function:${name}*`);
    const stack = Stack.of(scope);
    const cutoverArn = stack.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: props.cutoverStateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const cutoverExecutions = stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${props.cutoverStateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const statements = [
      // Another deployment's functions may share the name's prefix; they do not bear this deployment's tag.
      new iam.PolicyStatement({
        sid: 'InvokeSteps',
        actions: ['lambda:InvokeFunction'],
        resources: [stepsFunctions],
        conditions: { StringEquals: { [`aws:ResourceTag/${DEPLOYMENT_TAG}`]: props.deployment } },
      }),
      verifyApprovalStatement(scope, props.deployment),
      ...publishStatements([props.approvals, props.notifications]),
      ...(props.startsCutover
        ? [
            new iam.PolicyStatement({ sid: 'StartCutover', actions: ['states:StartExecution'], resources: [cutoverArn] }),
            new iam.PolicyStatement({
              sid: 'FollowCutover',
              actions: ['states:DescribeExecution', 'states:StopExecution'],
              resources: [cutoverExecutions],
            }),
            new iam.PolicyStatement({
              sid: 'ExecutionSyncRule',
              actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
              resources: [regional('events', `rule/${EXECUTION_SYNC_RULE}`)],
            }),
          ]
        : []),
    ];
    super(scope, id, {
      stateMachineName: name,
      definition: DEFINITION,
      substitutions: {
        PitrStepsFunctionArn: props.stepsFunctionArn,
        ApprovalsTopicArn: props.approvals.topicArn,
        NotificationsTopicArn: props.notifications.topicArn,
        CutoverStateMachineArn: cutoverArn,
        ApprovalVerifyFunctionArn: approvalVerifyFunctionArn(scope, props.deployment),
      },
      role: { description: 'Lifeline point-in-time recovery workflow', policyName: 'pitr', statements },
      logs: props.logs,
      alarmTopic: props.alarmTopic,
      failedAlarmDescription: `A point-in-time recovery of ${name} failed, timed out or was aborted. Its execution history names the step and the error; what it restored (tagged lifeline:pitr-execution) was deleted unless handed over to cutover, or Cleanup says what remains.`,
    });
    const acknowledge = (resource: string, reason: string) =>
      Validations.of(this.role).acknowledge({ id: `AwsSolutions-IAM5[${nagResource(this, resource)}]`, reason });
    acknowledge(
      stepsFunctions,
      "The PITR steps functions are named under this prefix and invoked only when they bear the deployment's tag.",
    );
    if (props.startsCutover) {
      acknowledge(
        cutoverExecutions,
        'Execution names are chosen when a cutover starts; describe and stop are limited to the cutover state machine.',
      );
    }
  }
}
