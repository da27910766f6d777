import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import {
  approvalVerifyFunctionName,
  approveFunctionName,
  cutoverWorkflowName,
  pitrWorkflowName,
  restoreWorkflowName,
} from '../../lambdas/core/names.js';
import { functionArn } from '../runtime/image-function.js';

/** The approve function (behind the function URL), by name: the workflow stacks name it without a reference to the approvals stack. */
export const approveFunctionArn = (scope: Construct, deployment: string) => functionArn(scope, approveFunctionName(deployment));

/** The function of VerifyApproval (`${ApprovalVerifyFunctionArn}` in every workflow that asks an approval), by name. */
export const approvalVerifyFunctionArn = (scope: Construct, deployment: string) =>
  functionArn(scope, approvalVerifyFunctionName(deployment));

/** What a workflow's role needs for its VerifyApproval state: invoking the verify function, and nothing of the key. */
export function verifyApprovalStatement(scope: Construct, deployment: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'VerifyApproval',
    actions: ['lambda:InvokeFunction'],
    resources: [approvalVerifyFunctionArn(scope, deployment)],
  });
}

/** The state machines whose executions ask approvals, and their executions (`<state machine>:*`), by name. */
export function approvalStateMachines(scope: Construct, deployment: string): { stateMachines: string[]; executions: string[] } {
  const stack = Stack.of(scope);
  const arn = (resource: string, resourceName: string) =>
    stack.formatArn({ service: 'states', resource, resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  const names = [restoreWorkflowName(deployment), cutoverWorkflowName(deployment), pitrWorkflowName(deployment)];
  return {
    stateMachines: names.map((name) => arn('stateMachine', name)),
    executions: names.map((name) => arn('execution', `${name}:*`)),
  };
}
