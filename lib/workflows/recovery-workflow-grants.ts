import { ArnFormat, Aws, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { cutoverWorkflowName, DEPLOYMENT_TAG } from '../../lambdas/core/names.js';
import { approvalVerifyFunctionArn, verifyApprovalStatement } from '../approvals/approval-grants.js';
import { nagResource } from '../nag-findings.js';
import { publishStatements, type WorkflowStateMachine } from './workflow-state-machine.js';

/** The managed rule Step Functions uses to learn when a `states:startExecution.sync` child execution ends. */
const EXECUTION_SYNC_RULE = 'StepFunctionsGetEventsForStepFunctionsExecutionRule';

export interface RecoveryWorkflowGrantsProps {
  /** The config's name: the steps functions bear it as their deployment tag, and the cutover is `<name>-cutover`. */
  readonly deployment: string;
  readonly approvals: sns.ITopic;
  readonly notifications: sns.ITopic;
  /** Whether the config has applications, so that the workflow may hand over to cutover: only then may the role start it. */
  readonly startsCutover: boolean;
}

/**
 * What the role of a workflow that recovers a database and may hand it over to cutover (restore, PITR) needs beside
 * its own work: invoking its deployment's steps functions (by name prefix and deployment tag), VerifyApproval,
 * publishing to its two topics and, with applications, starting and following only the cutover state machine, which
 * it names without a reference (the cutover stack is deployed on its own, and without applications not at all).
 */
export class RecoveryWorkflowGrants {
  readonly statements: iam.PolicyStatement[];
  /** The definition's placeholders these grants cover. */
  readonly substitutions: Record<string, string>;
  private readonly stepsFunctions: string;
  private readonly cutoverExecutions: string;

  /** `workflowName`: the workflow's, under which its steps functions are named (`<workflowName>*`). */
  constructor(
    scope: Construct,
    workflowName: string,
    private readonly props: RecoveryWorkflowGrantsProps,
  ) {
    const regional = (service: string, resource: string) => `arn:${Aws.PARTITION}:${service}:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
    const states = (resource: string, resourceName: string) =>
      Stack.of(scope).formatArn({ service: 'states', resource, resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const cutover = cutoverWorkflowName(props.deployment);
    const cutoverArn = states('stateMachine', cutover);
    this.cutoverExecutions = states('execution', `${cutover}:*`);
    this.stepsFunctions = regional('lambda', `function:${workflowName}*`);
    this.statements = [
      // Another deployment's functions may share the name's prefix; they do not bear this deployment's tag.
      new iam.PolicyStatement({
        sid: 'InvokeSteps',
        actions: ['lambda:InvokeFunction'],
        resources: [this.stepsFunctions],
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
              resources: [this.cutoverExecutions],
            }),
            // states:startExecution.sync:2 learns that the cutover ended through this rule, which Step Functions manages.
            new iam.PolicyStatement({
              sid: 'ExecutionSyncRule',
              actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
              resources: [regional('events', `rule/${EXECUTION_SYNC_RULE}`)],
            }),
          ]
        : []),
    ];
    this.substitutions = {
      ApprovalsTopicArn: props.approvals.topicArn,
      NotificationsTopicArn: props.notifications.topicArn,
      CutoverStateMachineArn: cutoverArn,
      ApprovalVerifyFunctionArn: approvalVerifyFunctionArn(scope, props.deployment),
    };
  }

  /** Acknowledges the wildcards of these grants on `machine`'s role; `stepsFunctions` says whose steps functions the prefix names. */
  acknowledge(machine: WorkflowStateMachine, stepsFunctions: string): void {
    const acknowledge = (resource: string, reason: string) =>
      Validations.of(machine.role).acknowledge({ id: `AwsSolutions-IAM5[${nagResource(machine, resource)}]`, reason });
    acknowledge(this.stepsFunctions, `${stepsFunctions} are named under this prefix and invoked only when they bear the deployment's tag.`);
    if (this.props.startsCutover) {
      acknowledge(
        this.cutoverExecutions,
        'Execution names are chosen when a cutover starts; describe and stop are limited to the cutover state machine.',
      );
    }
  }
}
