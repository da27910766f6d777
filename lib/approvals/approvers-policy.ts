import { Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { approversPolicyName } from '../../lambdas/core/names.js';
import { nagResource } from '../nag-findings.js';

export interface ApproversPolicyProps {
  readonly deployment: string;
  readonly approveFunction: lambda.IFunction;
  /** The restore, cutover and PITR state machines, and their executions. */
  readonly stateMachines: readonly string[];
  readonly executions: readonly string[];
}

/**
 * `<name>-approvers`: exactly what `lifeline approvals`, `approve` and `reject` need. Calling the approve function's
 * URL (lambda:InvokeFunctionUrl, and since October 2025 lambda:InvokeFunction, allowed through the URL only: a direct
 * Invoke could hand the function any caller), finding that URL, and reading which executions wait. It grants no
 * states:SendTaskSuccess: a decision counts only when the approve function signed it.
 */
export class ApproversPolicy extends Construct {
  readonly policy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: ApproversPolicyProps) {
    super(scope, id);
    const fn = props.approveFunction.functionArn;
    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      managedPolicyName: approversPolicyName(props.deployment),
      description: `Lifeline ${props.deployment}: list, approve and reject what its workflows wait for`,
      statements: [
        new iam.PolicyStatement({
          sid: 'CallApproveUrl',
          actions: ['lambda:InvokeFunctionUrl'],
          resources: [fn],
          conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
        }),
        new iam.PolicyStatement({
          sid: 'InvokeThroughUrlOnly',
          actions: ['lambda:InvokeFunction'],
          resources: [fn],
          conditions: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } },
        }),
        new iam.PolicyStatement({ sid: 'FindApproveUrl', actions: ['lambda:GetFunctionUrlConfig'], resources: [fn] }),
        // `lifeline approvals` finds the state machines by name, then the executions that wait.
        new iam.PolicyStatement({ sid: 'FindStateMachines', actions: ['states:ListStateMachines'], resources: ['*'] }),
        new iam.PolicyStatement({ sid: 'ListExecutions', actions: ['states:ListExecutions'], resources: [...props.stateMachines] }),
        new iam.PolicyStatement({
          sid: 'ReadExecutions',
          actions: ['states:DescribeExecution', 'states:GetExecutionHistory'],
          resources: [...props.executions],
        }),
      ],
    });
    const acknowledge = (resource: string, reason: string) =>
      Validations.of(this.policy).acknowledge({ id: `AwsSolutions-IAM5[${nagResource(this, resource)}]`, reason });
    acknowledge('*', 'states:ListStateMachines has no resource-level permissions; it lists names only.');
    for (const arn of props.executions) {
      acknowledge(arn, 'Execution names are chosen when a run starts; reads are limited to the state machines that ask approvals.');
    }
  }
}
