import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { DRILL_REPORT_DAYS } from '../../../lambdas/core/drill/report.js';
import { DrillSettings } from '../../../lambdas/core/drill/steps.js';
import { RUNNER_DRILL_COMMAND } from '../../../lambdas/core/runner/environment.js';
import { parseConfig } from '../../../lib/config/load.js';
import { deployedText as text, exampleJson, synthesize, type Synthesized } from '../../support/stacks.js';

/** The example config with drills: the deployment's default, and shop's own schedule and alarm days. */
function drillConfig() {
  const json = exampleJson();
  json.drill = {};
  json.databases[0].drill = { schedule: { cron: '30 5 ? * SUN#1 *', timeZone: 'Europe/Berlin' }, passedWithinDays: 35 };
  return parseConfig(json);
}

/** A role's statements by Sid, actions and resources as readable text. */
function statementsOf(template: Template, roleId: string): Record<string, { actions: string[]; resources: string[]; condition?: any }> {
  const policies = template.toJSON().Resources[roleId].Properties.Policies as any[];
  return Object.fromEntries(
    policies.flatMap((policy) =>
      (policy.PolicyDocument.Statement as any[]).map((s) => [
        s.Sid,
        { actions: [s.Action].flat(), resources: [s.Resource].flat().map(text), condition: s.Condition },
      ]),
    ),
  );
}

const roleId = (template: Template, description: string) =>
  Object.entries(template.findResources('AWS::IAM::Role')).find(([, r]) => r.Properties.Description === description)![0];

describe('the drill stack', () => {
  let synth: Synthesized;
  let template: Template;

  beforeAll(() => {
    synth = synthesize(drillConfig());
    template = Template.fromJSON(synth.assembly.getStackByName('lifeline-drill').template);
  });

  it('is deployed only with `drill`, which needs `restore`', () => {
    expect(synthesize(parseConfig(exampleJson())).drill).toBeUndefined();
    const json = exampleJson();
    json.drill = {};
    delete json.restore;
    delete json.pitr;
    expect(() => parseConfig(json)).toThrow(/drill: needs `restore`/);
    json.restore = {};
    json.drill = { schedule: { cron: '0 4 1 1,4,7,10 * *', timeZone: 'UTC' } };
    expect(() => parseConfig(json)).toThrow(/drill.schedule.cron: exactly one of day-of-month and day-of-week must be "\?"/);
  });

  it('starts each database on its schedule, quarterly by default, and checks each daily', () => {
    const schedules = Object.values(template.findResources('AWS::Scheduler::Schedule')).map((r) => r.Properties);
    const byName = Object.fromEntries(schedules.map((s) => [s.Name, s]));
    const databases = drillConfig().databases.map((d) => d.name);
    expect(Object.keys(byName).sort()).toEqual(databases.flatMap((d) => [`lifeline-drill-${d}`, `lifeline-drill-check-${d}`]).sort());
    expect(byName['lifeline-drill-shop']).toMatchObject({
      ScheduleExpression: 'cron(30 5 ? * SUN#1 *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      Target: { Input: '{"database":"shop"}' },
    });
    const other = databases.find((d) => d !== 'shop')!;
    expect(byName[`lifeline-drill-${other}`]).toMatchObject({
      ScheduleExpression: 'cron(0 4 1 1,4,7,10 ? *)',
      ScheduleExpressionTimezone: 'UTC',
    });
    expect(JSON.parse(byName['lifeline-drill-check-shop'].Target.Input)).toEqual({ step: 'freshness', database: 'shop', withinDays: 35 });
    expect(JSON.parse(byName[`lifeline-drill-check-${other}`].Target.Input)).toMatchObject({ withinDays: 100 });
  });

  it('deploys drill.asl.json with its placeholders filled in, and a runner that runs `lifeline runner drill`', () => {
    const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    expect(machine!.Properties.StateMachineName).toBe('lifeline-drill');
    expect(Object.keys(machine!.Properties.DefinitionSubstitutions).sort()).toEqual(['DrillClusterArn', 'DrillStepsFunctionArn']);
    const [task] = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
    expect(task!.Properties.Family).toBe('lifeline-drill-runner');
    const [container] = task!.Properties.ContainerDefinitions;
    expect([...container.EntryPoint, ...container.Command]).toEqual(RUNNER_DRILL_COMMAND);
    expect(container).toMatchObject({ User: '65534:65534', ReadonlyRootFilesystem: true, Name: 'runner' });
    const fn = Object.values(template.findResources('AWS::Lambda::Function')).find((f) => f.Properties.FunctionName === 'lifeline-drill')!;
    expect(fn.Properties.ImageConfig.Command).toEqual(['drill.handler']);
    const settings = DrillSettings.parse(JSON.parse(text(fn.Properties.Environment.Variables.LIFELINE_DRILL_SETTINGS)));
    expect(settings).toMatchObject({ deployment: 'lifeline', runnerTaskDefinition: 'lifeline-drill-runner', runnerVcpus: 2 });
  });

  it('grants least privilege: the runner reads backups and creates reports only; the workflow runs only its runner', () => {
    const vault = 'arn:<AWS::Partition>:s3:::lifeline-vault-<AWS::AccountId>-<AWS::Region>';
    const runner = statementsOf(template, roleId(template, 'Lifeline drill runner'));
    expect(Object.keys(runner).sort()).toEqual([
      'DecryptBackupsThroughS3',
      'EncryptDrillReportsThroughS3',
      'ListBackups',
      'ReadAndWriteDrillReports',
      'ReadBackups',
    ]);
    expect(runner.ReadAndWriteDrillReports).toMatchObject({ actions: ['s3:GetObject', 's3:PutObject'], resources: [`${vault}/drills/*`] });
    expect(runner.ReadBackups!.actions).toEqual(['s3:GetObject']);
    const all = Object.values(runner).flatMap((s) => s.actions);
    expect(all.filter((a) => /Delete|secretsmanager|rds:/.test(a))).toEqual([]);
    const workflow = statementsOf(template, roleId(template, 'Lifeline drill workflow'));
    expect(workflow.RunTheRunner!.resources).toEqual([
      'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition/lifeline-drill-runner:*',
    ]);
    expect(workflow.InvokeSteps!.resources).toEqual(['arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:lifeline-drill']);
    expect(workflow.PassTheRunnerRoles!.condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
    const scheduler = statementsOf(template, roleId(template, 'Lifeline drill schedules'));
    expect(Object.keys(scheduler).sort()).toEqual(['CheckDrills', 'StartDrills']);
    // Runtime roles live under the path the vault's bucket policy denies every delete.
    const paths = Object.values(template.findResources('AWS::IAM::Role'))
      .filter((r) => /drill (runner|steps)/.test(r.Properties.Description ?? '') || r.Properties.Path?.includes('drill-runner'))
      .map((r) => r.Properties.Path);
    expect(paths.length).toBeGreaterThanOrEqual(3);
    for (const path of paths) expect(path).toMatch(/^\/lifeline-runtime\//);
  });

  it('alarms when a drill fails and when none passed within the configured days (missing data breaching)', () => {
    const alarms = Object.fromEntries(
      Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((r) => [r.Properties.AlarmName, r.Properties]),
    );
    expect(alarms['lifeline-shop-drill-failed']).toMatchObject({
      MetricName: 'DrillFailed',
      Namespace: 'Lifeline',
      Statistic: 'Sum',
      Threshold: 1,
      TreatMissingData: 'notBreaching',
      Dimensions: expect.arrayContaining([
        { Name: 'service', Value: 'lifeline-drill' },
        { Name: 'Database', Value: 'shop' },
      ]),
    });
    expect(alarms['lifeline-shop-drill-overdue']).toMatchObject({
      MetricName: 'DrillOverdue',
      Statistic: 'Maximum',
      Period: 86400,
      TreatMissingData: 'breaching',
      AlarmDescription: expect.stringContaining('within 35 days'),
    });
    expect(alarms['lifeline-drill-failed']).toBeDefined();
  });

  it('gives the reports a lifecycle rule of their own in the vault', () => {
    const [bucket] = Object.values(synth.vaultTemplate.findResources('AWS::S3::Bucket')).filter((b) => b.Properties.ObjectLockEnabled);
    const rule = bucket!.Properties.LifecycleConfiguration.Rules.find((r: any) => r.Id === 'expire-drill-reports');
    expect(rule).toMatchObject({ Prefix: 'drills/', ExpirationInDays: DRILL_REPORT_DAYS, Status: 'Enabled' });
  });

  it('is cdk-nag clean, through acknowledgments on its own constructs', () => {
    const stack = synth.drill!;
    const violations = new AwsSolutionsChecks(stack).validateScope(stack).violations;
    expect(violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} ${r.constructPath}`))).toEqual([]);
  });
});
