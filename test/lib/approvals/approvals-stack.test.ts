import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../lib/config/load.js';
import { WORKFLOW_DEFINITIONS } from '../../../lambdas/core/workflows/definitions.js';
import { deployedText as text, exampleConfig, exampleJson, roleStatements, synthesize, type Synthesized } from '../../support/stacks.js';

const REGIONAL = (service: string) => `arn:<AWS::Partition>:${service}:<AWS::Region>:<AWS::AccountId>:`;
const MACHINES = ['restore', 'cutover', 'pitr'].map((w) => `${REGIONAL('states')}stateMachine:lifeline-${w}`);
const EXECUTIONS = ['restore', 'cutover', 'pitr'].map((w) => `${REGIONAL('states')}execution:lifeline-${w}:*`);
const VERIFY = `${REGIONAL('lambda')}function:lifeline-approval-verify`;

function approvalsTemplate(synthesized: Synthesized): Template {
  return Template.fromJSON(synthesized.assembly.getStackByName(synthesized.approvals!.stackName).template);
}

/** The stack's functions, each its properties and logical id. */
const functionsOf = (template: Template): Record<string, any>[] =>
  Object.entries(template.findResources('AWS::Lambda::Function')).map(([id, resource]) => ({
    id,
    ...(resource.Properties as Record<string, any>),
  }));

describe('the approvals stack: who may approve, and the proof that they did', () => {
  const synthesized = synthesize(exampleConfig());
  const template = approvalsTemplate(synthesized);
  const resources = template.toJSON().Resources as Record<string, any>;
  const fns = functionsOf(template);
  const approve = fns.find((f) => f.FunctionName === 'lifeline-approve')!;
  const verify = fns.find((f) => f.FunctionName === 'lifeline-approval-verify')!;

  it('puts the approve function behind a function URL that only IAM-signed requests reach', () => {
    const urls = Object.values(template.findResources('AWS::Lambda::Url')).map((r) => r.Properties as Record<string, any>);
    expect(urls).toHaveLength(1);
    expect(urls[0]!.AuthType).toBe('AWS_IAM');
    expect(text(urls[0]!.TargetFunctionArn)).toBe(`<${approve.id}.Arn>`);
    // No resource policy opens it to anyone: callers need the approvers policy.
    expect(template.findResources('AWS::Lambda::Permission')).toEqual({});
    expect(approve.ImageConfig.Command).toEqual(['approval.decide']);
    expect(verify.ImageConfig.Command).toEqual(['approval.verify']);
    expect(approve.Environment.Variables.LIFELINE_SEPARATE_DUTIES).toBe('false');
  });

  it('creates <name>-approvers with exactly what listing and deciding need, and no SendTaskSuccess', () => {
    const policies = Object.values(template.findResources('AWS::IAM::ManagedPolicy')).map((r) => r.Properties as Record<string, any>);
    expect(policies).toHaveLength(1);
    expect(policies[0]!.ManagedPolicyName).toBe('lifeline-approvers');
    const statements = (policies[0]!.PolicyDocument.Statement as any[]).map((s) => ({
      sid: s.Sid,
      actions: [s.Action].flat(),
      resources: [s.Resource].flat().map(text),
      condition: s.Condition,
    }));
    const approveArn = `<${approve.id}.Arn>`;
    expect(statements).toEqual([
      {
        sid: 'CallApproveUrl',
        actions: ['lambda:InvokeFunctionUrl'],
        resources: [approveArn],
        condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
      },
      {
        sid: 'InvokeThroughUrlOnly',
        actions: ['lambda:InvokeFunction'],
        resources: [approveArn],
        condition: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } },
      },
      { sid: 'FindApproveUrl', actions: ['lambda:GetFunctionUrlConfig'], resources: [approveArn], condition: undefined },
      { sid: 'FindStateMachines', actions: ['states:ListStateMachines'], resources: ['*'], condition: undefined },
      { sid: 'ListExecutions', actions: ['states:ListExecutions'], resources: MACHINES, condition: undefined },
      {
        sid: 'ReadExecutions',
        actions: ['states:DescribeExecution', 'states:GetExecutionHistory'],
        resources: EXECUTIONS,
        condition: undefined,
      },
    ]);
    expect(JSON.stringify(statements)).not.toContain('SendTask');
  });

  it('lets only the approve function sign and only the verify function check, with an HMAC key the account administers but cannot use', () => {
    const keys = Object.values(template.findResources('AWS::KMS::Key')).map((r) => r.Properties as Record<string, any>);
    const key = keys.find((k) => k.KeySpec === 'HMAC_256')!;
    expect(key.KeyUsage).toBe('GENERATE_VERIFY_MAC');
    const statements = key.KeyPolicy.Statement as any[];
    const using = statements.filter((s) => [s.Action].flat().some((a: string) => /Mac$/.test(a)));
    expect(using.map((s) => [s.Sid, s.Action, text(s.Principal.AWS)])).toEqual([
      ['Sign', 'kms:GenerateMac', `<${approve.Role['Fn::GetAtt'][0]}.Arn>`],
      ['Verify', 'kms:VerifyMac', `<${verify.Role['Fn::GetAtt'][0]}.Arn>`],
    ]);
    const administer = statements.find((s) => s.Sid === 'Administer');
    // Nor a grant: whoever may create one could give themselves GenerateMac.
    expect([administer.Action].flat().some((a: string) => a === 'kms:*' || /Mac|Encrypt|Decrypt|^kms:Create(\*|Grant)$/.test(a))).toBe(
      false,
    );
  });

  it("gives the approve function only the waiting executions' history and the answer, the verify function nothing but its logs", () => {
    const approveStatements = roleStatements(resources, approve.Role['Fn::GetAtt'][0]);
    expect(approveStatements.filter((s) => s.sid !== 'WriteLogs')).toEqual([
      {
        sid: 'ReadWaitingExecutions',
        actions: ['states:GetExecutionHistory', 'states:DescribeExecution'],
        resources: EXECUTIONS,
        condition: undefined,
      },
      { sid: 'Answer', actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'], resources: MACHINES, condition: undefined },
    ]);
    expect(roleStatements(resources, verify.Role['Fn::GetAtt'][0]).map((s) => s.sid)).toEqual(['WriteLogs']);
  });

  it('lets every workflow that asks invoke the verify function, and names it in its definition', () => {
    const workflowTemplates = [synthesized.restore, synthesized.cutover, synthesized.pitr]
      .filter((stack) => stack !== undefined)
      .map((stack) => Template.fromJSON(synthesized.assembly.getStackByName(stack.stackName).template));
    expect(workflowTemplates.length).toBeGreaterThanOrEqual(2);
    for (const workflow of workflowTemplates) {
      const [machine] = Object.values(workflow.findResources('AWS::StepFunctions::StateMachine')).map(
        (r) => r.Properties as Record<string, any>,
      );
      expect(text(machine!.DefinitionSubstitutions.ApprovalVerifyFunctionArn)).toBe(VERIFY);
      const statements = roleStatements(workflow.toJSON().Resources, machine!.RoleArn['Fn::GetAtt'][0]);
      expect(statements.find((s) => s.sid === 'VerifyApproval')).toEqual({
        sid: 'VerifyApproval',
        actions: ['lambda:InvokeFunction'],
        resources: [VERIFY],
        condition: undefined,
      });
    }
    // Every WaitForApproval is followed by VerifyApproval.
    for (const workflow of ['restore', 'cutover', 'pitr'] as const) {
      const states = WORKFLOW_DEFINITIONS[workflow].States as Record<string, { Next?: string; Resource?: string }>;
      expect(states.WaitForApproval!.Next, workflow).toBe('VerifyApproval');
      expect(states.VerifyApproval!.Resource, workflow).toBe('${ApprovalVerifyFunctionArn}');
    }
  });
});

describe('approval.separateDuties', () => {
  it('lets the approve function look up who started an execution in CloudTrail, and says so in its environment', () => {
    const json = exampleJson();
    json.approval = { ...json.approval, separateDuties: true };
    const synthesized = synthesize(parseConfig(json));
    const template = approvalsTemplate(synthesized);
    const approve = functionsOf(template).find((f) => f.FunctionName === 'lifeline-approve')!;
    expect(approve.Environment.Variables.LIFELINE_SEPARATE_DUTIES).toBe('true');
    const statements = roleStatements(template.toJSON().Resources, approve.Role['Fn::GetAtt'][0]);
    expect(statements.find((s) => s.sid === 'FindStarter')).toEqual({
      sid: 'FindStarter',
      actions: ['cloudtrail:LookupEvents'],
      resources: ['*'],
      condition: undefined,
    });
  });

  it('is off by default', () => {
    expect(exampleConfig().approval?.separateDuties).toBe(false);
  });
});
