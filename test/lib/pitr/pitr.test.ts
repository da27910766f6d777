import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { acknowledgePitrRdsStatements, pitrRdsStatements } from '../../../lib/pitr/pitr-grants.js';
import { PitrStateMachine } from '../../../lib/pitr/pitr-state-machine.js';
import { runnerCluster } from '../../../lib/runtime/runner-task.js';
import { WorkflowLogs } from '../../../lib/workflows/workflow-logs.js';
import { scratchDirectory } from '../../support/scratch.js';

const MONITORING_ROLE = 'arn:aws:iam::123456789012:role/rds-monitoring';

function synth(startsCutover = true, renameSources = false, runsMigrations = true) {
  const app = new App({ outdir: scratchDirectory('cdk.out-') });
  const stack = new Stack(app, 'Pitr', { env: { account: '123456789012', region: 'eu-west-1' } });
  const topic = (name: string) => sns.Topic.fromTopicArn(stack, name, `arn:aws:sns:eu-west-1:123456789012:${name}`);
  const machine = new PitrStateMachine(stack, 'Workflow', {
    deployment: 'lifeline',
    stepsFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:lifeline-pitr',
    approvals: topic('approvals'),
    notifications: topic('notifications'),
    alarmTopic: topic('alarms'),
    logs: new WorkflowLogs(stack, 'Logs', 'pitr'),
    startsCutover,
    cluster: runnerCluster(stack),
    runsMigrations,
  });
  const sources = { instances: ['shop-production'], clusters: ['ledger-production'], monitoringRoleArns: [MONITORING_ROLE], renameSources };
  const steps = new iam.Role(stack, 'StepsRole', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    inlinePolicies: { pitr: new iam.PolicyDocument({ statements: pitrRdsStatements('lifeline', sources) }) },
  });
  acknowledgePitrRdsStatements(steps, sources);
  return { stack, machine, steps, template: Template.fromStack(stack) };
}

/** A policy's statements by Sid, with every token resolved to text so that ARNs can be compared. */
function statementsOf(template: Template, roleLogicalIdPrefix: string): Record<string, any> {
  const roles = template.findResources('AWS::IAM::Role');
  const [, role] = Object.entries(roles).find(([id]) => id.startsWith(roleLogicalIdPrefix))!;
  const statements = (role.Properties.Policies as { PolicyDocument: { Statement: any[] } }[]).flatMap((p) => p.PolicyDocument.Statement);
  const text = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(text);
    if (typeof value !== 'object' || value === null) return value;
    if ('Fn::Join' in value) {
      const [, parts] = value['Fn::Join'] as [string, unknown[]];
      return parts.map((part) => (typeof part === 'string' ? part : `<${JSON.stringify(part)}>`)).join('');
    }
    return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, text(field)]));
  };
  return Object.fromEntries(statements.map((s) => [s.Sid, text(s)]));
}

function findings(scope: IConstruct, ignoreAcknowledgments = false): string[] {
  const checks = new AwsSolutionsChecks(scope);
  // The pack's own hook for acknowledgments: bypassed to see everything they hide.
  if (ignoreAcknowledgments) Object.assign(checks, { isAcknowledged: () => false });
  return checks.validateScope(scope).violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} ${r.constructPath ?? ''}`));
}

describe('the PITR infrastructure', () => {
  it('restores from the configured sources only, and modifies or deletes only -pitr- identifiers tagged by its executions', () => {
    const { template } = synth();
    const s = statementsOf(template, 'StepsRole');
    expect(s.RestoreFromConfiguredInstances.Resource).toEqual([
      expect.stringMatching(/:rds:.*:db:shop-production$/),
      expect.stringMatching(/:snapshot:\*$/),
    ]);
    expect(s.RestoreFromConfiguredClusters.Resource[0]).toMatch(/:cluster:ledger-production$/);
    expect(s.CreateTaggedTargets.Condition).toEqual({
      StringLike: { 'aws:RequestTag/lifeline:pitr-execution': expect.stringMatching(/:execution:lifeline-pitr:\*$/) },
    });
    expect(s.ModifyAndDeleteOwnTargets.Resource).toEqual([
      expect.stringMatching(/:db:\*-pitr-\*$/),
      expect.stringMatching(/:cluster:\*-pitr-\*$/),
    ]);
    expect(s.ModifyAndDeleteOwnTargets.Condition).toEqual({
      StringLike: { 'aws:ResourceTag/lifeline:pitr-execution': expect.stringMatching(/:execution:lifeline-pitr:\*$/) },
    });
    // No statement lets the steps change a source.
    for (const statement of Object.values(s)) {
      const actions = [statement.Action].flat() as string[];
      if (actions.some((a) => /^rds:(Modify|Delete)/.test(a))) expect(JSON.stringify(statement.Resource)).not.toMatch(/production/);
    }
    expect(s.PassTheMonitoringRole).toMatchObject({
      Action: 'iam:PassRole',
      Resource: MONITORING_ROLE,
      Condition: { StringEquals: { 'iam:PassedToService': 'monitoring.rds.amazonaws.com' } },
    });
    expect(s.UseSourceKeysThroughRds.Condition.StringEquals['kms:ViaService']).toEqual(expect.anything());
  });

  it('lets the steps rename the source instances aside and back only when the config allows it (pitr.renameSources)', () => {
    expect(statementsOf(synth().template, 'StepsRole').RenameConfiguredSources).toBeUndefined();
    const { template, stack } = synth(true, true);
    const s = statementsOf(template, 'StepsRole');
    expect(s.RenameConfiguredSources).toEqual({
      Sid: 'RenameConfiguredSources',
      Effect: 'Allow',
      Action: 'rds:ModifyDBInstance',
      Resource: [expect.stringMatching(/:db:shop-production$/), expect.stringMatching(/:db:shop-production-pitr-aside-\*$/)],
    });
    // Never a cluster, and nothing else on a source.
    expect(JSON.stringify(s.RenameConfiguredSources)).not.toMatch(/ledger/);
    expect(findings(stack)).toEqual([]);
  });

  it("lets the state machine invoke only its deployment's PITR steps, publish to its topics and start the cutover", () => {
    const { template } = synth();
    const s = statementsOf(template, 'WorkflowRole');
    expect(s.InvokeSteps).toMatchObject({
      Action: 'lambda:InvokeFunction',
      Resource: expect.stringMatching(/:function:lifeline-pitr\*$/),
      Condition: { StringEquals: { 'aws:ResourceTag/lifeline': 'lifeline' } },
    });
    expect(s.StartCutover.Resource).toMatch(/:stateMachine:lifeline-cutover$/);
    expect(JSON.stringify(s)).not.toMatch(/"rds:/);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'lifeline-pitr',
      TracingConfiguration: { Enabled: true },
    });
    expect(statementsOf(synth(false).template, 'WorkflowRole').StartCutover).toBeUndefined();
  });

  it("runs only the applications' migrations task definitions, on the restore runners' cluster, and only when one has migrations", () => {
    const s = statementsOf(synth().template, 'WorkflowRole');
    expect(s.RunTheMigrations).toMatchObject({
      Action: 'ecs:RunTask',
      Resource: expect.stringMatching(/:task-definition\/lifeline-migrations-\*:\*$/),
      Condition: { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': ['Cluster', 'Arn'] } } },
    });
    expect(s.FollowTheMigrations).toMatchObject({
      Resource: expect.stringMatching(/:task\/\*$/),
      Condition: { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': ['Cluster', 'Arn'] } } },
    });
    expect(s.PassTheMigrationsRoles).toMatchObject({
      Action: 'iam:PassRole',
      Resource: expect.stringMatching(/:role\/lifeline-migrations\/\*$/),
      Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    });
    const without = statementsOf(synth(true, false, false).template, 'WorkflowRole');
    expect(Object.keys(without).filter((sid) => /Migrations|EcsSyncRule/.test(sid))).toEqual([]);
  });

  it('passes cdk-nag, each wildcard acknowledged with its reason beside it', () => {
    const { stack } = synth();
    expect(findings(stack)).toEqual([]);
    // Without the acknowledgments, the wildcards are found: each one above has its reason.
    expect(findings(stack, true)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^AwsSolutions-IAM5\[Resource::\*\] Pitr\/StepsRole/)]),
    );
  });
});
