import { CfnOutput, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { approvalVerifyFunctionName, approveFunctionName } from '../../lambdas/core/names.js';
import type { LifelineConfig } from '../config/schema.js';
import { nagResource } from '../nag-findings.js';
import type { VaultStack } from '../vault/vault-stack.js';
import { WorkflowLogs } from '../workflows/workflow-logs.js';
import { WorkflowStepsFunction } from '../workflows/workflow-steps-function.js';
import { approvalStateMachines } from './approval-grants.js';
import { ApproversPolicy } from './approvers-policy.js';

/** The approvals' handlers in the runtime image (lambdas/Dockerfile bundles lambdas/approval/handler.ts as approval.mjs). */
export const APPROVE_HANDLER = 'approval.decide';
export const APPROVAL_VERIFY_HANDLER = 'approval.verify';

export interface ApprovalsStackProps extends StackProps {
  readonly config: LifelineConfig;
  readonly vaultStack: VaultStack;
}

/**
 * Who may approve, and the proof that they did, for every workflow that asks (restore, hand-started cutover, PITR):
 * the approve function behind a function URL (AuthType AWS_IAM) that records the caller AWS authenticated and signs
 * the decision with an HMAC key only it may use; the verify function that VerifyApproval runs, which only checks;
 * and the `<name>-approvers` managed policy, the one thing to attach to a person who may approve.
 */
export class ApprovalsStack extends Stack {
  readonly key: kms.Key;
  readonly approve: WorkflowStepsFunction;
  readonly verify: WorkflowStepsFunction;
  readonly url: lambda.FunctionUrl;
  readonly approvers: ApproversPolicy;

  constructor(scope: Construct, id: string, props: ApprovalsStackProps) {
    super(scope, id, props);
    const { config, vaultStack } = props;
    const logs = new WorkflowLogs(this, 'Logs', 'approvals');
    const { stateMachines, executions } = approvalStateMachines(this, config.name);
    const separateDuties = config.approval?.separateDuties ?? false;

    // Its key policy is all its grants: the account administers it, only the approve function signs, only the
    // verify function checks. (An HMAC key cannot rotate: a new key means redeploying this stack.)
    this.key = new kms.Key(this, 'Key', {
      description: 'Signs Lifeline approval decisions (HMAC): only the approve function may sign',
      keySpec: kms.KeySpec.HMAC_256,
      keyUsage: kms.KeyUsage.GENERATE_VERIFY_MAC,
      removalPolicy: RemovalPolicy.DESTROY,
      policy: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            sid: 'Administer',
            principals: [new iam.AccountRootPrincipal()],
            actions: [
              // Not kms:CreateGrant (a grant of GenerateMac would sign approvals): only aliases are created.
              ...['kms:CreateAlias', 'kms:Describe*', 'kms:Enable*', 'kms:List*', 'kms:Put*', 'kms:Update*', 'kms:Revoke*'],
              ...['kms:Disable*', 'kms:Get*', 'kms:Delete*', 'kms:TagResource', 'kms:UntagResource'],
              ...['kms:ScheduleKeyDeletion', 'kms:CancelKeyDeletion'],
            ],
            resources: ['*'],
          }),
        ],
      }),
    });
    const environment = { LIFELINE_APPROVAL_KEY: this.key.keyArn };

    this.approve = new WorkflowStepsFunction(this, 'Approve', {
      functionName: approveFunctionName(config.name),
      description: 'Lifeline: records the decision of an approver AWS authenticated (lifeline approve/reject) and signs it',
      roleDescription: 'Lifeline approve function',
      policyName: 'approve',
      image: vaultStack.newestImage,
      handler: APPROVE_HANDLER,
      memorySize: 256,
      environment: { ...environment, LIFELINE_SEPARATE_DUTIES: String(separateDuties) },
      logs,
      rolePath: vaultStack.vault.runtimeRolePath,
      statements: [
        new iam.PolicyStatement({
          sid: 'ReadWaitingExecutions',
          actions: ['states:GetExecutionHistory', 'states:DescribeExecution'],
          resources: executions,
        }),
        new iam.PolicyStatement({ sid: 'Answer', actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'], resources: stateMachines }),
        ...(separateDuties
          ? [new iam.PolicyStatement({ sid: 'FindStarter', actions: ['cloudtrail:LookupEvents'], resources: ['*'] })]
          : []),
      ],
    });
    this.verify = new WorkflowStepsFunction(this, 'Verify', {
      functionName: approvalVerifyFunctionName(config.name),
      description: 'Lifeline: VerifyApproval, checks that an approval carries the approve function signature',
      roleDescription: 'Lifeline approval verify function',
      policyName: 'verify',
      image: vaultStack.newestImage,
      handler: APPROVAL_VERIFY_HANDLER,
      memorySize: 256,
      environment,
      logs,
      rolePath: vaultStack.vault.runtimeRolePath,
      statements: [],
    });
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({ sid: 'Sign', principals: [this.approve.role], actions: ['kms:GenerateMac'], resources: ['*'] }),
    );
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({ sid: 'Verify', principals: [this.verify.role], actions: ['kms:VerifyMac'], resources: ['*'] }),
    );

    // Lambda authenticates every request (SigV4) and admits only identities whose policies allow the URL.
    this.url = this.approve.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
    this.approvers = new ApproversPolicy(this, 'Approvers', {
      deployment: config.name,
      approveFunction: this.approve.function,
      stateMachines,
      executions,
    });

    const acknowledge = (role: iam.IRole, resource: string, reason: string) =>
      Validations.of(role).acknowledge({ id: `AwsSolutions-IAM5[${nagResource(this, resource)}]`, reason });
    for (const arn of executions) {
      acknowledge(
        this.approve.role,
        arn,
        'Execution names are chosen when a run starts; reads are limited to the state machines that ask approvals.',
      );
    }
    if (separateDuties) {
      acknowledge(
        this.approve.role,
        '*',
        'cloudtrail:LookupEvents has no resource-level permissions; it reads who started the execution asked about.',
      );
    }

    new CfnOutput(this, 'ApproveFunctionUrl', {
      value: this.url.url,
      description: 'Where lifeline approve/reject send decisions (AWS_IAM)',
    });
    new CfnOutput(this, 'ApproversPolicyArn', {
      value: this.approvers.policy.managedPolicyArn,
      description: 'Attach to the users, groups or roles who may approve and reject',
    });
  }
}
