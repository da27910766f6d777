import { Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { LifelineError } from '../../../lambdas/core/errors.js';
import { PitrSettings, PitrStepEvent } from '../../../lambdas/core/pitr/state.js';
import { parseConfig } from '../../../lib/config/load.js';
import type { LifelineConfig } from '../../../lib/config/schema.js';
import { LAMBDA_ENVIRONMENT_BYTES } from '../../../lib/pitr/pitr-settings.js';
import { stackCountFor } from '../../../lambdas/core/database-groups.js';
import {
  deployedPolicyLength,
  deployedText as text,
  exampleConfig,
  exampleJson,
  manyDatabasesConfig,
  synthesize,
  type Synthesized,
} from '../../support/stacks.js';

const SHOP_API_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-api/database-Xy12Ab';
const MONITORING_ROLE = 'arn:aws:iam::123456789012:role/rds-monitoring-role';
const REGIONAL = (service: string) => `arn:<AWS::Partition>:${service}:<AWS::Region>:<AWS::AccountId>:`;

/** A deploy-time value as it deploys in eu-west-1 of account 123456789012; created resources stay <references>. */
const deployed = (node: unknown) =>
  text(node).replaceAll('<AWS::Partition>', 'aws').replaceAll('<AWS::Region>', 'eu-west-1').replaceAll('<AWS::AccountId>', '123456789012');

const pitrTemplate = (synth: Synthesized) => Template.fromJSON(synth.assembly.getStackByName('lifeline-pitr').template);

const functions = (template: Template) =>
  Object.fromEntries(
    Object.entries(template.findResources('AWS::Lambda::Function')).map(([id, r]) => [
      r.Properties.FunctionName as string,
      { id, ...r.Properties },
    ]),
  ) as Record<string, Record<string, any>>;

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
const roleOf = (fn: Record<string, any>) => fn.Role['Fn::GetAtt'][0] as string;

function synthError(config: () => LifelineConfig): Error {
  try {
    synthesize(config());
  } catch (error) {
    return error as Error;
  }
  throw new Error('the config synthesized');
}

let synth: Synthesized;
let pitr: Template;

beforeAll(() => {
  synth = synthesize(exampleConfig());
  pitr = pitrTemplate(synth);
});

describe('the PITR stack', () => {
  it('is deployed with `pitr` (beside `restore`, whose catalog it reads) and not without', () => {
    expect(synth.pitr?.stackName).toBe('lifeline-pitr');
    // Deployed after the restore groups whose catalog ValidateInput reads, and the vault whose topic it notifies.
    // And after the approvals stack, whose verify function its VerifyApproval names, and the restore stack, whose
    // runners' cluster runs the applications' migrations.
    expect(synth.pitr!.dependencies.map((s) => s.stackName).sort()).toEqual([
      'lifeline-approvals',
      'lifeline-restore',
      'lifeline-restore-1',
      'lifeline-vault',
    ]);
    expect(synth.pitr!.tags.tagValues()).toMatchObject({ lifeline: 'lifeline' });
    const json = exampleJson();
    delete json.pitr;
    expect(synthesize(parseConfig(json)).pitr).toBeUndefined();
  });

  it('refuses `pitr` without `restore`, naming the field', () => {
    const json = exampleJson();
    delete json.restore;
    let error: unknown;
    try {
      parseConfig(json);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(LifelineError);
    expect((error as Error).message).toContain('pitr: needs `restore`: the PITR workflow reads the restore catalog of databases');
  });

  it('fills every placeholder of pitr.asl.json: its steps function, both topics and the cutover state machine by name', () => {
    const [machine] = Object.values(pitr.findResources('AWS::StepFunctions::StateMachine'));
    const props = machine!.Properties;
    expect(props.StateMachineName).toBe('lifeline-pitr');
    const substitutions = Object.fromEntries(Object.entries(props.DefinitionSubstitutions).map(([k, v]) => [k, deployed(v)]));
    expect(substitutions).toEqual({
      PitrStepsFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:lifeline-pitr',
      ApprovalsTopicArn: expect.stringMatching(/^<ApprovalsTopic[0-9A-F]+>$/),
      NotificationsTopicArn: expect.stringMatching(/^<import lifeline-vault:ExportsOutputRefNotificationsTopic/),
      CutoverStateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:lifeline-cutover',
      ApprovalVerifyFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:lifeline-approval-verify',
      RunnerClusterArn: expect.stringMatching(/^<import lifeline-restore:ExportsOutputFnGetAttClusterArn/),
    });
    // Every ${...} of the definition has its value.
    const definition = readFileSync(new URL('../../../state-machines/pitr.asl.json', import.meta.url), 'utf8');
    for (const [, placeholder] of definition.matchAll(/\$\{([A-Za-z]+)\}/g)) expect(Object.keys(substitutions)).toContain(placeholder);
    expect(props.LoggingConfiguration.Level).toBe('ALL');
    expect(props.TracingConfiguration).toEqual({ Enabled: true });
  });

  it('runs the PITR handler of the one image: outside any VPC for RDS, and in each network with databases for Validate', () => {
    const fns = functions(pitr);
    expect(Object.keys(fns).sort()).toEqual(['lifeline-pitr', 'lifeline-pitr-analytics', 'lifeline-pitr-production']);
    for (const fn of Object.values(fns))
      expect(fn).toMatchObject({ PackageType: 'Image', ImageConfig: { Command: ['pitr.handler'] }, Timeout: 900 });
    expect(fns['lifeline-pitr']!.VpcConfig).toBeUndefined();
    expect(fns['lifeline-pitr-production']!.VpcConfig.SubnetIds).toEqual(['subnet-0a1b2c3d4e5f67890', 'subnet-1a1b2c3d4e5f67890']);
    expect(fns['lifeline-pitr-analytics']!.VpcConfig.SubnetIds).toEqual(['subnet-2a1b2c3d4e5f67890']);
    // The same image the restore steps run.
    const restoreFn = Object.values(synth.restoreTemplate!.findResources('AWS::Lambda::Function')).find(
      (r) => r.Properties.FunctionName === 'lifeline-restore',
    )!;
    expect(text(fns['lifeline-pitr']!.Code.ImageUri)).toBe(text(restoreFn.Properties.Code.ImageUri));
  });

  it("gives every steps function the same settings, which core's PitrSettings accepts: each network's function by ARN", () => {
    const fns = functions(pitr);
    const settings = Object.values(fns).map((fn) => deployed(fn.Environment.Variables.LIFELINE_PITR_SETTINGS));
    expect(new Set(settings).size).toBe(1);
    expect(PitrSettings.parse(JSON.parse(settings[0]!))).toEqual({
      deployment: 'lifeline',
      backupStacks: 1,
      approvalTimeoutSeconds: 24 * 3600,
      networkFunctions: {
        production: 'arn:aws:lambda:eu-west-1:123456789012:function:lifeline-pitr-production',
        analytics: 'arn:aws:lambda:eu-west-1:123456789012:function:lifeline-pitr-analytics',
      },
      pollSeconds: 30,
      maxWaitSeconds: 6 * 3600,
      renameSources: false,
    });
  });

  it('lets the RDS steps restore from the configured sources only, pass the configured monitoring role, and read the catalog', () => {
    const s = statementsOf(pitr, roleOf(functions(pitr)['lifeline-pitr']!));
    const rds = REGIONAL('rds');
    expect(s.RestoreFromConfiguredInstances!.resources).toEqual([`${rds}db:shop-production`, `${rds}db:shop-staging`, `${rds}snapshot:*`]);
    expect(s.RestoreFromConfiguredClusters!.resources).toEqual([`${rds}cluster:warehouse`, `${rds}cluster-snapshot:*`]);
    expect(s.PassTheMonitoringRole!.resources).toEqual([MONITORING_ROLE]);
    expect(s.ReadTheCatalog).toEqual({
      actions: ['ssm:GetParametersByPath'],
      resources: [`${REGIONAL('ssm')}parameter/lifeline/lifeline/restore/*`],
      condition: undefined,
    });
    // No secret, and nothing that modifies or deletes outside the -pitr- identifiers its executions tag.
    const all = Object.values(s).flatMap((st) => st.actions);
    expect(all).not.toContain('secretsmanager:GetSecretValue');
    for (const statement of Object.values(s).filter((st) => st.actions.some((a) => /^rds:(Modify|Delete)/.test(a)))) {
      for (const resource of statement.resources) expect(resource).toMatch(/-pitr-/);
    }
  });

  it('compensates executions stopped, timed out or failed past their Cleanup: a rule sends the compensate step to the steps function outside any VPC, which may read its executions and notify', () => {
    const steps = functions(pitr)['lifeline-pitr']!;
    const [machine] = Object.keys(pitr.findResources('AWS::StepFunctions::StateMachine'));
    const rules = Object.values(pitr.findResources('AWS::Events::Rule'));
    expect(rules).toHaveLength(1);
    const rule = rules[0]!.Properties;
    expect(rule.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [{ Ref: machine }] },
    });
    expect(rule.Targets[0].Arn).toEqual({ 'Fn::GetAtt': [steps.id, 'Arn'] });
    const sent = rule.Targets[0].InputTransformer.InputTemplate.replace(
      '<detail-executionArn>',
      '"arn:aws:states:eu-west-1:123456789012:execution:lifeline-pitr:3f2c"',
    ).replace('<detail-status>', '"ABORTED"');
    expect(PitrStepEvent.parse(JSON.parse(sent))).toMatchObject({ step: 'compensate', status: 'ABORTED' });
    expect(Object.keys(steps.Environment.Variables)).toContain('LIFELINE_ALARM_TOPIC_ARN');
    const s = statementsOf(pitr, roleOf(steps));
    expect(s.ReadItsExecutions!.resources).toEqual([`${REGIONAL('states')}execution:lifeline-pitr:*`]);
    // The network functions only validate: no compensation, no topic.
    for (const [name, fn] of Object.entries(functions(pitr)).filter(([n]) => n !== 'lifeline-pitr')) {
      expect(Object.keys(fn.Environment.Variables), name).not.toContain('LIFELINE_ALARM_TOPIC_ARN');
      expect(statementsOf(pitr, roleOf(fn)).ReadItsExecutions, name).toBeUndefined();
    }
    pitr.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'lifeline-pitr-compensation-failed' });
  });

  it("lets Validate read only its network's applications' connection secrets, and no RDS or catalog", () => {
    const production = statementsOf(pitr, roleOf(functions(pitr)['lifeline-pitr-production']!));
    expect(production.ReadConfiguredSecrets!.resources).toEqual([SHOP_API_SECRET]);
    const analytics = statementsOf(pitr, roleOf(functions(pitr)['lifeline-pitr-analytics']!));
    // The example's warehouse has no application: its Validate would fail InvalidConfig asking for one.
    expect(analytics.ReadConfiguredSecrets).toBeUndefined();
    for (const s of [production, analytics]) {
      const actions = Object.values(s).flatMap((st) => st.actions);
      expect(actions.filter((a) => a.startsWith('rds:') || a.startsWith('ssm:'))).toEqual([]);
    }
    // shop-api's migrations: its target secret in the restore group, through that group's key, by import.
    expect(production.HoldMigrationsTargets1!).toMatchObject({
      actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret', 'secretsmanager:PutSecretValue'],
      resources: [expect.stringMatching(/^<import lifeline-restore-1:ExportsOutputRefMigrationsshopapiTargetSecret/)],
    });
    expect(production.EncryptMigrationsTargets1!.resources).toEqual([
      expect.stringMatching(/^<import lifeline-restore-1:ExportsOutputFnGetAttMigrationsKey/),
    ]);
    expect(production.AskWhetherMigrationsHoldersRun!.actions).toEqual(['states:DescribeExecution']);
    expect(Object.keys(analytics).filter((sid) => sid.includes('Migrations'))).toEqual([]);
  });

  it("reaches the restored databases through their sources' security groups, which RDS gives them", () => {
    const ingress = Object.values(pitr.findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    const toDatabases = ingress.filter((r) => String(r.GroupId).startsWith('sg-'));
    expect(toDatabases.map((r) => `${r.GroupId}:${r.FromPort}`).sort()).toEqual([
      'sg-0a1b2c3d4e5f67890:5432',
      'sg-1a1b2c3d4e5f67890:5433',
      'sg-2a1b2c3d4e5f67890:5432',
    ]);
    // The analytics network's Secrets Manager endpoint (createEndpoints) admits its Validate too.
    expect(ingress.filter((r) => r.FromPort === 443)).toHaveLength(1);
  });

  it("fits Lambda's 4 KB environment at the longest partition, region and network names, and fails the synth past it", () => {
    const fns = functions(pitr);
    const variables = fns['lifeline-pitr']!.Environment.Variables as Record<string, unknown>;
    // As Lambda counts it, at the longest partition, region and account.
    const longest = (node: unknown) =>
      text(node)
        .replaceAll('<AWS::Partition>', 'aws-iso-b')
        .replaceAll('<AWS::Region>', 'ap-southeast-5')
        .replaceAll('<AWS::AccountId>', '123456789012');
    const bytes = Object.entries(variables).reduce(
      (sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(longest(value)),
      0,
    );
    expect(bytes).toBeGreaterThan(300);
    expect(bytes).toBeLessThan(LAMBDA_ENVIRONMENT_BYTES);
    const withNetworks = (count: number) => () => {
      const json = exampleJson();
      const base = json.databases[0];
      json.networks = Array.from({ length: count }, (_, i) => ({
        name: `network-${String(i).padStart(2, '0')}-${'x'.repeat(21)}`,
        vpcId: `vpc-${i.toString(16).padStart(17, '0')}`,
        subnetIds: [`subnet-${i.toString(16).padStart(17, '0')}`],
      }));
      json.databases = json.networks.map((network: { name: string }, i: number) => ({
        ...base,
        name: `db${i}`,
        network: network.name,
        rds: { instanceIdentifier: `db${i}` },
      }));
      json.applications = [];
      json.backupStacks = 1;
      return parseConfig(json);
    };
    const error = synthError(withNetworks(40));
    expect(error).toBeInstanceOf(LifelineError);
    expect(error.name).toBe('InvalidConfig');
    expect(error.message).toMatch(
      /^networks: the PITR workflow's settings must fit Lambda's 4 KB environment \(4096 bytes\), and this config's 40 networks with databases need (\d+); leave out "pitr", or deploy it from a config with fewer networks$/,
    );
    expect(synthesize(withNetworks(20)()).pitr).toBeDefined();
  });
});

describe("the PITR stack's size", () => {
  it("lists the sources in its RDS role within IAM's 10,240 characters, and fails the synth naming how many databases fit", () => {
    const withDatabases = (count: number) => {
      const names = Array.from({ length: count }, (_, i) => `tenant-${String(i).padStart(4, '0')}`);
      return parseConfig({ ...manyDatabasesConfig(count, stackCountFor(names)), restore: {}, pitr: {} });
    };
    const error = synthError(() => withDatabases(400));
    expect(error.name).toBe('InvalidConfig');
    const match =
      /^databases: the PITR workflow supports up to (\d+) databases per deployment for now \(its RDS role lists each source, and IAM allows 10240 characters: this config's 400 databases need (\d+)\); leave out "pitr", or deploy it from a config with fewer databases$/.exec(
        error.message,
      );
    expect(match, error.message).not.toBeNull();
    const fit = Number(match![1]);
    console.info(`${fit} databases fit the PITR steps role`);
    expect(fit).toBeGreaterThan(50);
    // As many as fit synthesize, and IAM's own count of that role's policy stays within the limit.
    const synthesized = synthesize(withDatabases(fit));
    const template = pitrTemplate(synthesized);
    const role = template.toJSON().Resources[roleOf(functions(template)['lifeline-pitr']!)];
    expect(deployedPolicyLength(role.Properties.Policies)).toBeLessThanOrEqual(10_240);
  });
});

describe("the PITR stack's cdk-nag acknowledgments", () => {
  function findings(scope: IConstruct, ignoreAcknowledgments: boolean): { rule: string; path: string }[] {
    const checks = new AwsSolutionsChecks(scope);
    if (ignoreAcknowledgments) Object.assign(checks, { isAcknowledged: () => false });
    return checks
      .validateScope(scope)
      .violations.flatMap((v) => v.violatingResources.map((r) => ({ rule: v.ruleName, path: r.constructPath ?? '' })));
  }

  it('leave no finding, and are each beside the construct concerned, with its reason', () => {
    expect(findings(synth.pitr!, false)).toEqual([]);
    const acknowledged = synth
      .pitr!.node.findAll()
      .flatMap((construct) =>
        construct.node.metadata
          .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          .flatMap((entry) => Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({ construct, id, reason }))),
      );
    const paths = acknowledged.map(
      ({ construct, id }) => `${construct.node.path.replace('lifeline-pitr/', '')} ${id.replace(/^annotation::/i, '')}`,
    );
    const regional = (resource: string) => `arn:<AWS::Partition>:${resource.replace(':', ':<AWS::Region>:<AWS::AccountId>:')}`;
    const vpc = (path: string) => [
      `${path} AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*]`,
      `${path} AwsSolutions-IAM5[Resource::*]`,
    ];
    const rds = [
      '*',
      ...['snapshot:*', 'cluster-snapshot:*', 'subgrp:*', 'og:*', 'pg:*', 'cluster-pg:*', 'db:*-pitr-*', 'cluster:*-pitr-*'].map((r) =>
        regional(`rds:${r}`),
      ),
      regional('rds:snapshot:*-pitr-*-final-*'),
      regional('rds:cluster-snapshot:*-pitr-*-final-*'),
      regional('secretsmanager:secret:rds!*'),
      regional('kms:key/*'),
      regional('ssm:parameter/lifeline/lifeline/restore/*'),
      regional('states:execution:lifeline-pitr:*'),
    ];
    expect(paths.sort()).toEqual(
      [
        ...rds.map((r) => `Steps/Role AwsSolutions-IAM5[Resource::${r}]`),
        ...vpc('Steps-production/Role'),
        // shop-api's migrations, in production: a restore or another point-in-time recovery may hold its target secret.
        `Steps-production/Role AwsSolutions-IAM5[Resource::${regional('states:execution:lifeline-restore:*')}]`,
        `Steps-production/Role AwsSolutions-IAM5[Resource::${regional('states:execution:lifeline-pitr:*')}]`,
        ...vpc('Steps-analytics/Role'),
        'Compensation/DeadLetters AwsSolutions-SQS3',
        `Workflow/Role AwsSolutions-IAM5[Resource::${regional('lambda:function:lifeline-pitr*')}]`,
        `Workflow/Role AwsSolutions-IAM5[Resource::${regional('states:execution:lifeline-cutover:*')}]`,
        'Workflow/Role AwsSolutions-IAM5[Resource::*]',
        `Workflow/Role AwsSolutions-IAM5[Resource::${regional('ecs:task/*')}]`,
        `Workflow/Role AwsSolutions-IAM5[Resource::${regional('ecs:task-definition/lifeline-migrations-*:*')}]`,
        'Workflow/Role AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/lifeline-migrations/*]',
      ].sort(),
    );
    for (const { reason } of acknowledged) expect(reason.length).toBeGreaterThan(40);
  });
});
