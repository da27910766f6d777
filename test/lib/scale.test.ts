import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_DATABASES_PER_STACK, stackCountFor } from '../../lambdas/core/database-groups.js';
import { parseConfig } from '../../lib/config/load.js';
import { deployedPolicyLength, manyDatabasesConfig, synthesize, type Synthesized } from '../support/stacks.js';

/** CloudFormation quotas a deployable template must stay within. */
const LIMITS = {
  resources: 500,
  outputs: 200,
  /** Templates larger than 51,200 bytes are uploaded to S3 first, as the CDK CLI does; then 1 MB applies. */
  templateBytes: 1_000_000,
  /** Inline policies of one role, in characters without whitespace. */
  rolePolicyChars: 10_240,
  /** Rules per direction in one security group (the default quota). */
  securityGroupRules: 60,
  /** Alarms in one alarm status widget. */
  alarmsPerWidget: 100,
  /** Metrics and expressions in one graph. */
  metricsPerGraph: 500,
};

const DATABASES = 1000;
const names = Array.from({ length: DATABASES }, (_, i) => `tenant-${String(i).padStart(4, '0')}`);
let synth: Synthesized;
let templates: Map<string, any>;
/** The template files as the CLI uploads them. */
let templateBytes: Map<string, number>;
let seconds: number;

beforeAll(() => {
  const started = performance.now();
  // With the restore workflow: its groups grow with the backups stacks.
  const config = parseConfig({ ...manyDatabasesConfig(DATABASES, stackCountFor(names)), restore: {} });
  synth = synthesize(config, { validation: true, cliMetadata: true });
  seconds = (performance.now() - started) / 1000;
  templates = new Map(synth.assembly.stacks.map((stack) => [stack.stackName, stack.template]));
  templateBytes = new Map(synth.assembly.stacks.map((stack) => [stack.stackName, statSync(stack.templateFullPath).size]));
});

describe(`${DATABASES} databases`, () => {
  it("synthesize into stacks that each stay within CloudFormation's limits", () => {
    console.info(
      `${DATABASES} databases: ${templates.size} stacks in ${seconds.toFixed(1)} s; resources per stack ` +
        [...templates.values()].map((template) => Object.keys(template.Resources).length).join(', ') +
        `; largest template ${Math.max(...templateBytes.values())} bytes`,
    );
    // The vault, the backups stacks, the restore workflow, a restore group beside each backups stack, and the runs
    // alarms start (the staleness alarms' backups), and the approvals the restore workflow asks.
    expect(synth.restoreGroups.length).toBe(synth.backups.length);
    expect(templates.size).toBe(2 * synth.backups.length + 4);
    for (const [name, template] of templates) {
      expect(Object.keys(template.Resources).length, name).toBeLessThanOrEqual(LIMITS.resources);
      expect(Object.keys(template.Outputs ?? {}).length, name).toBeLessThanOrEqual(LIMITS.outputs);
      expect(templateBytes.get(name), name).toBeLessThanOrEqual(LIMITS.templateBytes);
    }
  });

  it("pass CloudFormation's template validation", () => {
    const report = JSON.parse(readFileSync(join(synth.assembly.directory, 'validation-report.json'), 'utf8'));
    expect(report.pluginReports).toEqual([]);
  });

  it('each get exactly one backup function, schedule, catalog entry, and failure, near-time-limit, shrink and staleness alarm', () => {
    const count = (type: string, property: string) => {
      const values = [...templates.values()].flatMap((template) =>
        Object.values(template.Resources as Record<string, any>)
          .filter((resource) => resource.Type === type)
          .map((resource) => resource.Properties[property] as string),
      );
      expect(new Set(values).size).toBe(values.length);
      return values.sort();
    };
    const restoreFunctions = [
      'lifeline-restore',
      ...synth.restoreGroups.flatMap((_, i) => [0, 1, 2, 3].map((n) => `lifeline-restore${i + 1}-net-${n}`)),
    ];
    expect(count('AWS::Lambda::Function', 'FunctionName')).toEqual(
      [
        ...names.map((name) => `lifeline-backup-${name}`),
        ...restoreFunctions,
        'lifeline-alarm-runs',
        'lifeline-approve',
        'lifeline-approval-verify',
      ].sort(),
    );
    expect(
      count('AWS::SSM::Parameter', 'Name')
        .map((name) => name.split('/').at(-1))
        .sort(),
    ).toEqual(names);
    expect(count('AWS::Scheduler::Schedule', 'Name')).toEqual(names.map((name) => `lifeline-backup-${name}`));
    expect(count('AWS::CloudWatch::Alarm', 'AlarmName')).toEqual(
      [
        ...names.flatMap((name) => [
          `lifeline-${name}-backup-failed`,
          `lifeline-${name}-backup-near-time-limit`,
          `lifeline-${name}-backup-shrunk`,
          `lifeline-${name}-backup-stale`,
        ]),
        'lifeline-dead-letter-arrived',
        'lifeline-restore-failed',
        'lifeline-restore-compensation-failed',
        'lifeline-alarm-runs-failed',
      ].sort(),
    );
  });

  it('are spread so that no stack holds more than it can', () => {
    for (const stack of synth.backups) {
      const functions = Object.values(templates.get(stack.stackName).Resources as Record<string, any>).filter(
        (resource) => resource.Type === 'AWS::Lambda::Function',
      );
      expect(functions.length).toBeGreaterThan(0);
      expect(functions.length).toBeLessThanOrEqual(MAX_DATABASES_PER_STACK);
    }
  });

  it("keep every role's policies within IAM's size limit", () => {
    let largest = 0;
    for (const [name, template] of templates) {
      for (const [id, resource] of Object.entries(template.Resources as Record<string, any>)) {
        // Roles CDK grants through a policy resource of their own (the runners' execution roles) carry no inline policy.
        if (resource.Type !== 'AWS::IAM::Role' || resource.Properties.Policies === undefined) continue;
        const length = deployedPolicyLength(resource.Properties.Policies);
        expect(length, `${name}/${id}`).toBeLessThanOrEqual(LIMITS.rolePolicyChars);
        largest = Math.max(largest, length);
      }
    }
    console.info(`largest role policy: ${largest} of ${LIMITS.rolePolicyChars} characters`);
  });

  it('keep every security group within the rules quota, counting the rules all stacks add to one group', () => {
    // A group by its id, its export when another stack's, or its logical id in its own stack.
    const groupKey = (stack: string, id: any) =>
      typeof id === 'string' ? id : (id['Fn::ImportValue'] ?? `${stack}:${JSON.stringify(id)}`);
    const ingress = new Map<string, number>();
    for (const [name, template] of templates) {
      for (const [id, resource] of Object.entries(template.Resources as Record<string, any>)) {
        if (resource.Type === 'AWS::EC2::SecurityGroup') {
          expect((resource.Properties.SecurityGroupEgress ?? []).length, `${name}/${id}`).toBeLessThanOrEqual(LIMITS.securityGroupRules);
        }
        if (resource.Type === 'AWS::EC2::SecurityGroupIngress') {
          const group = groupKey(name, resource.Properties.GroupId);
          ingress.set(group, (ingress.get(group) ?? 0) + 1);
        }
      }
    }
    const most = Math.max(...ingress.values());
    console.info(`most ingress rules on one security group: ${most} of ${LIMITS.securityGroupRules}`);
    for (const [group, rules] of ingress) expect(rules, `ingress to ${group}`).toBeLessThanOrEqual(LIMITS.securityGroupRules);
  });

  it("keep every dashboard within CloudWatch's widget limits", () => {
    for (const [name, template] of templates) {
      for (const resource of Object.values(template.Resources as Record<string, any>)) {
        if (resource.Type !== 'AWS::CloudWatch::Dashboard') continue;
        const body = (resource.Properties.DashboardBody['Fn::Join'][1] as unknown[])
          .map((part) => (typeof part === 'string' ? part : 'ref'))
          .join('');
        for (const widget of JSON.parse(body).widgets) {
          const items = widget.type === 'alarm' ? widget.properties.alarms : widget.properties.metrics;
          const limit = widget.type === 'alarm' ? LIMITS.alarmsPerWidget : LIMITS.metricsPerGraph;
          expect(items.length, `${name}: ${widget.properties.title}`).toBeLessThanOrEqual(limit);
        }
      }
    }
  });
});
