import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { deployedText as text, exampleConfig, synthesize } from '../../support/stacks.js';

/** The example deployment's two workflows, by name: each stack's template. */
let workflows: Record<'restore' | 'cutover', Template>;
beforeAll(() => {
  const synth = synthesize(exampleConfig());
  workflows = { restore: synth.restoreTemplate!, cutover: synth.cutoverTemplate! };
});

const WORKFLOWS = ['restore', 'cutover'] as const;

const only = (template: Template, type: string) => {
  const found = Object.entries(template.findResources(type));
  expect(found, type).toHaveLength(1);
  return { id: found[0]![0], properties: found[0]![1].Properties as Record<string, any> };
};

describe.each(WORKFLOWS)("the %s workflow's state machine", (workflow) => {
  it('is output with its ARN, name and console URL, nothing else', () => {
    const template = workflows[workflow];
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    // Besides the export of the runners' cluster, which the PITR workflow runs the applications' migrations on.
    const ours = Object.keys(outputs).filter((name) => !name.startsWith('ExportsOutput'));
    expect(ours.sort()).toEqual(['ConsoleUrl', 'StateMachineArn', 'StateMachineName']);
    const { id } = only(template, 'AWS::StepFunctions::StateMachine');
    expect(text(outputs.StateMachineArn!.Value)).toBe(`<${id}>`);
    expect(text(outputs.ConsoleUrl!.Value)).toBe(
      `https://<AWS::Region>.console.aws.amazon.com/states/home?region=<AWS::Region>#/statemachines/view/<${id}>`,
    );
  });

  it('logs everything, execution data included, to a KMS-encrypted group, and is traced', () => {
    const template = workflows[workflow];
    const { properties: machine } = only(template, 'AWS::StepFunctions::StateMachine');
    expect(machine.LoggingConfiguration.Level).toBe('ALL');
    expect(machine.LoggingConfiguration.IncludeExecutionData).toBe(true);
    const group =
      template.toJSON().Resources[machine.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0]]
        .Properties;
    expect(text(group.KmsKeyId)).toMatch(/^<LogsKey[0-9A-F]+\.Arn>$/);
    expect(group.LogGroupName).toBe(`/aws/vendedlogs/states/lifeline-${workflow}`);
    expect(machine.TracingConfiguration).toEqual({ Enabled: true });
  });

  it('raises an alarm to the alarm topic when an execution fails, times out or is aborted', () => {
    // Its compensation's dead-letter alarm (workflow-compensation.ts) is the stack's other one.
    const alarm = Object.values(workflows[workflow].findResources('AWS::CloudWatch::Alarm'))
      .map((resource) => resource.Properties as Record<string, any>)
      .find((properties) => properties.AlarmName === `lifeline-${workflow}-failed`)!;
    expect(alarm).toMatchObject({
      AlarmName: `lifeline-${workflow}-failed`,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
    });
    const metrics = (alarm.Metrics as any[])
      .filter((m) => m.MetricStat)
      .map((m) => [m.MetricStat.Metric.Namespace, m.MetricStat.Metric.MetricName]);
    expect(metrics.sort()).toEqual([
      ['AWS/States', 'ExecutionsAborted'],
      ['AWS/States', 'ExecutionsFailed'],
      ['AWS/States', 'ExecutionsTimedOut'],
    ]);
    expect(alarm.AlarmActions.map(text)).toEqual([expect.stringMatching(/^<import lifeline-vault:ExportsOutputRefNotificationsTopic/)]);
  });
});
