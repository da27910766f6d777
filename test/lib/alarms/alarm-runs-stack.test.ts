import { Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { AlarmStarterSettings } from '../../../lambdas/core/alarms/routes.js';
import { MAX_EVENT_PATTERN_CHARS } from '../../../lib/alarms/alarm-starter.js';
import { parseConfig } from '../../../lib/config/load.js';
import { exampleJson, roleStatements, synthesize, type Synthesized } from '../../support/stacks.js';

const alarmsTemplate = (synth: Synthesized) => Template.fromJSON(synth.assembly.getStackByName('lifeline-alarms').template);
const regional = (resource: string) => `arn:<AWS::Partition>:${resource.replace(':', ':<AWS::Region>:<AWS::AccountId>:')}`;

let synth: Synthesized;
let template: Template;
let resources: Record<string, any>;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

/** The example deployment with alarms of each action on shop, which has one application, shop-api. */
function withAlarms(): Record<string, any> {
  const json = exampleJson();
  json.databases[0].alarms = [
    { alarmName: 'shop-api-5xx-rate', action: 'prepare-pitr', lookbackMinutes: 15 },
    { alarmName: 'shop orders: DELETE spike', action: 'prepare-restore', lookbackMinutes: 10 },
    { alarmName: 'shop-replication-lag', action: 'backup' },
  ];
  return json;
}

beforeAll(() => {
  synth = synthesize(parseConfig(withAlarms()));
  template = alarmsTemplate(synth);
  resources = template.toJSON().Resources;
});

describe('the alarms stack of the example deployment with alarms', () => {
  it("has one rule on the configured alarms' and the Lambda databases' staleness alarms' transitions into ALARM", () => {
    const rules = ofType('AWS::Events::Rule');
    expect(rules).toHaveLength(1);
    expect(rules[0]![1].Properties.EventPattern).toEqual({
      source: ['aws.cloudwatch'],
      'detail-type': ['CloudWatch Alarm State Change'],
      detail: {
        alarmName: [
          'shop-api-5xx-rate',
          'shop orders: DELETE spike',
          'shop-replication-lag',
          'lifeline-shop-backup-stale',
          'lifeline-warehouse-backup-stale',
        ],
        state: { value: ['ALARM'] },
        previousState: { value: [{ 'anything-but': ['ALARM'] }] },
      },
    });
  });

  it('names staleness alarms the backups stacks have, and the on-demand database has none', () => {
    const backupAlarms = synth.backupsTemplates.flatMap((t) =>
      Object.values(t.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.AlarmName as string),
    );
    const watched = ofType('AWS::Events::Rule')[0]![1].Properties.EventPattern.detail.alarmName as string[];
    const stale = watched.filter((name) => name.startsWith('lifeline-'));
    expect(stale.every((name) => backupAlarms.includes(name))).toBe(true);
    expect(backupAlarms.filter((name) => name.endsWith('-backup-stale')).sort()).toEqual([...stale].sort());
  });

  it('delivers to the starter with retries and a dead-letter queue, which raises an alarm to the alarm topic', () => {
    const [[functionId, fn]] = ofType('AWS::Lambda::Function') as [[string, any]];
    const [[queueId]] = ofType('AWS::SQS::Queue') as [[string, any]];
    const [, rule] = ofType('AWS::Events::Rule')[0]!;
    expect(rule.Properties.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [functionId, 'Arn'] },
        RetryPolicy: { MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } },
      }),
    ]);
    expect(fn.Properties).toMatchObject({ FunctionName: 'lifeline-alarm-runs', ImageConfig: { Command: ['alarm.handler'] }, Timeout: 60 });
    expect(fn.Properties.VpcConfig).toBeUndefined();
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionId },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [ofType('AWS::Events::Rule')[0]![0], 'Arn'] },
    });
    const [, alarm] = ofType('AWS::CloudWatch::Alarm')[0]!;
    expect(alarm.Properties).toMatchObject({
      AlarmName: 'lifeline-alarm-runs-failed',
      MetricName: 'NumberOfMessagesSent',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
    });
    expect(JSON.stringify(alarm.Properties.AlarmActions)).toContain('lifeline-vault:ExportsOutputRefNotificationsTopic');
  });

  it('grants the starter exactly: its claims, StartExecution on the restore and PITR state machines, and the backup functions of the deployment', () => {
    const [[, fn]] = ofType('AWS::Lambda::Function') as [[string, any]];
    const statements = roleStatements(resources, fn.Properties.Role['Fn::GetAtt'][0]);
    const [[tableId]] = ofType('AWS::DynamoDB::Table') as [[string, any]];
    const [[logsId]] = ofType('AWS::Logs::LogGroup') as [[string, any]];
    const [[queueId]] = ofType('AWS::SQS::Queue') as [[string, any]];
    expect(statements).toEqual([
      { sid: 'WriteLogs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [`<${logsId}.Arn>`], condition: undefined },
      { sid: 'ClaimRuns', actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem'], resources: [`<${tableId}.Arn>`], condition: undefined },
      {
        sid: 'StartWorkflows',
        actions: ['states:StartExecution'],
        resources: [regional('states:stateMachine:lifeline-restore'), regional('states:stateMachine:lifeline-pitr')],
        condition: undefined,
      },
      {
        sid: 'RequestBackups',
        actions: ['lambda:InvokeFunction'],
        resources: [regional('lambda:function:lifeline-backup-*')],
        condition: { StringEquals: { 'aws:ResourceTag/lifeline': 'lifeline' } },
      },
      { sid: 'DeadLetter', actions: ['sqs:SendMessage'], resources: [`<${queueId}.Arn>`], condition: undefined },
    ]);
  });

  it("gives the starter its routes, each prepare-* with the database's one application as its cutover", () => {
    const [[, fn]] = ofType('AWS::Lambda::Function') as [[string, any]];
    const value = fn.Properties.Environment.Variables.LIFELINE_ALARM_SETTINGS;
    const text = (value['Fn::Join'][1] as unknown[]).map((part) => (typeof part === 'string' ? part : 'X')).join('');
    const settings = AlarmStarterSettings.parse(JSON.parse(text));
    expect(settings.routes).toEqual([
      { alarmName: 'shop-api-5xx-rate', database: 'shop', action: 'prepare-pitr', lookbackMinutes: 15, cutover: 'shop-api' },
      { alarmName: 'shop orders: DELETE spike', database: 'shop', action: 'prepare-restore', lookbackMinutes: 10, cutover: 'shop-api' },
      { alarmName: 'shop-replication-lag', database: 'shop', action: 'backup', lookbackMinutes: 0 },
    ]);
  });

  it('keeps its cool-downs in a table with point-in-time recovery and expiry', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'runFor', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it('leaves no cdk-nag finding, and acknowledges only the backup functions by prefix, beside the role', () => {
    const checks = new AwsSolutionsChecks(synth.alarms);
    const violations = checks.validateScope(synth.alarms!).violations.flatMap((v) => v.violatingResources.map(() => v.ruleName));
    expect(violations).toEqual([]);
    const acknowledged = synth
      .alarms!.node.findAll()
      .flatMap((construct) =>
        construct.node.metadata
          .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          .flatMap((entry) => Object.keys(entry.data as object).map((id) => `${construct.node.path} ${id.replace(/^annotation::/i, '')}`)),
      );
    expect(acknowledged.sort()).toEqual([
      'lifeline-alarms/Starter/DeadLetters AwsSolutions-SQS3',
      `lifeline-alarms/Starter/Role AwsSolutions-IAM5[Resource::${regional('lambda:function:lifeline-backup-*')}]`,
    ]);
  });
});

describe('the alarms stack of other deployments', () => {
  it('grants StartExecution only on the workflows its alarms start, and none without prepare-* alarms', () => {
    const json = exampleJson();
    json.databases[0].alarms = [{ alarmName: 'shop-api-5xx-rate', action: 'prepare-restore' }];
    const onlyRestore = Template.fromJSON(synthesize(parseConfig(json)).assembly.getStackByName('lifeline-alarms').template);
    const policies = JSON.stringify(onlyRestore.findResources('AWS::IAM::Role'));
    expect(policies).toContain(':stateMachine:lifeline-restore');
    expect(policies).not.toContain(':stateMachine:lifeline-pitr');

    json.databases[0].alarms = [];
    const none = JSON.stringify(
      Template.fromJSON(synthesize(parseConfig(json)).assembly.getStackByName('lifeline-alarms').template).toJSON(),
    );
    expect(none).not.toContain('states:StartExecution');
    expect(none).toContain('lifeline-shop-backup-stale');
  });

  it("splits many alarms over rules whose patterns each fit EventBridge's quota, and leaves a Fargate database's staleness alarm out", () => {
    const json = exampleJson();
    json.databases[0].alarms = Array.from({ length: 10 }, (_, i) => ({
      alarmName: `shop-alarm-${i}-${'x'.repeat(190)}`,
      action: 'backup',
    }));
    json.databases[1].runner = 'fargate';
    json.networks[1].createEndpoints = undefined;
    const synthesized = synthesize(parseConfig(json));
    const rules = Object.values(alarmsTemplate(synthesized).findResources('AWS::Events::Rule'));
    expect(rules.length).toBeGreaterThan(1);
    const watched = rules.flatMap((rule) => rule.Properties.EventPattern.detail.alarmName as string[]);
    for (const rule of rules) expect(JSON.stringify(rule.Properties.EventPattern).length).toBeLessThanOrEqual(MAX_EVENT_PATTERN_CHARS);
    expect(watched).toEqual([...json.databases[0].alarms.map((a: { alarmName: string }) => a.alarmName), 'lifeline-shop-backup-stale']);
  });

  it("refuses at synth, with InvalidConfig naming the field, alarms whose routes outgrow the starter's environment", () => {
    const json = exampleJson();
    json.databases[0].alarms = Array.from({ length: 40 }, (_, i) => ({ alarmName: `shop-alarm-${i}-${'x'.repeat(60)}`, action: 'backup' }));
    expect(() => synthesize(parseConfig(json))).toThrow(
      expect.objectContaining({
        name: 'InvalidConfig',
        message: expect.stringMatching(/^databases: the alarm starter's settings must fit Lambda's 4 KB environment/),
      }),
    );
  });
});
