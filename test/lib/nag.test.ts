import { Stack, Stage, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load.js';
import { exampleConfig, exampleJson, synthesize } from '../support/stacks.js';

interface Finding {
  rule: string;
  severity: string;
  path: string;
}

function findings(scope: IConstruct, options: { ignoreAcknowledgments?: boolean } = {}): Finding[] {
  const checks = new AwsSolutionsChecks(scope);
  // The pack's own hook for acknowledgments: bypassed to see everything they hide.
  if (options.ignoreAcknowledgments) Object.assign(checks, { isAcknowledged: () => false });
  return checks.validateScope(scope).violations.flatMap((violation) =>
    violation.violatingResources.map((resource) => ({
      rule: violation.ruleName,
      severity: violation.severity ?? 'error',
      path: resource.constructPath ?? '',
    })),
  );
}

interface Acknowledgment {
  construct: IConstruct;
  id: string;
  reason: string;
}

function acknowledgments(scope: IConstruct): Acknowledgment[] {
  return scope.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          construct,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

const variants = {
  'the example config (Object Lock, created endpoints, a secret with its own key, an on-demand database)': () => exampleConfig(),
  'a plain config (the default Object Lock, NAT egress, AWS-managed secret keys)': () => {
    const json = exampleJson();
    delete json.vault.objectLock;
    for (const network of json.networks) delete network.createEndpoints;
    for (const database of json.databases) {
      delete database.secretKmsKeyArn;
      database.runMode = 'scheduled';
    }
    return parseConfig(json);
  },
  'a database backed up on Fargate beside the Lambda ones, scheduled and on demand': () => {
    const json = exampleJson();
    json.databases[0].runner = 'fargate';
    json.databases.push({ ...json.databases[2], name: 'archive', runner: 'fargate', fargate: { vcpus: 4 } });
    return parseConfig(json);
  },
  'applications restarting Lambda functions (through an alias), behind a parameter freeze or scaled to zero, checked over HTTP': () => {
    const json = exampleJson();
    json.applications[0].freeze = { mode: 'scale-to-zero' };
    json.applications.push({
      name: 'reports',
      database: 'staging',
      connectionSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:reports/database-Rp34Cd',
      lambdaFunctions: ['reports-worker'],
      lambdaAlias: 'live',
      freeze: { mode: 'parameter', parameterName: '/reports/maintenance' },
      healthCheckUrl: 'http://reports.internal:8080/health',
    });
    return parseConfig(json);
  },
};

describe.each(Object.entries(variants))('cdk-nag AwsSolutions on %s', (_, config) => {
  const { app } = synthesize(config());

  it('reports no error and no warning', () => {
    expect(findings(app)).toEqual([]);
  });

  it('is quiet only through acknowledgments on the very constructs concerned, each with its reason', () => {
    const acknowledged = acknowledgments(app);
    expect(acknowledged.length).toBeGreaterThan(0);
    const raw = findings(app, { ignoreAcknowledgments: true });
    for (const { construct, id, reason } of acknowledged) {
      // Beside the construct, never on a whole stack or app.
      expect(Stack.isStack(construct) || Stage.isStage(construct), `${id} on ${construct.node.path}`).toBe(false);
      expect(reason.length, `reason of ${id}`).toBeGreaterThan(40);
      // And needed: it hides a finding of a resource inside that construct.
      const hidden = raw.filter((finding) => finding.rule === id && finding.path.startsWith(`${construct.node.path}/`));
      expect(hidden, `${id} on ${construct.node.path} hides nothing`).not.toEqual([]);
    }
    // Everything raw is accounted for by an acknowledgment.
    for (const finding of raw) {
      expect(
        acknowledged.some(({ construct, id }) => id === finding.rule && finding.path.startsWith(`${construct.node.path}/`)),
        `${finding.rule} at ${finding.path}`,
      ).toBe(true);
    }
  });
});

describe('the acknowledged IAM wildcards', () => {
  it("are exactly a database's own tier prefixes, network interfaces, and the Describe calls", () => {
    const { app } = synthesize(exampleConfig());
    const ids = acknowledgments(app)
      .filter(({ construct }) => construct.node.path === 'lifeline-backups-1/Backup-shop/Role')
      .map(({ id }) => id);
    const vault = 'arn:<AWS::Partition>:s3:::lifeline-vault-<AWS::AccountId>-<AWS::Region>';
    expect(ids.sort()).toEqual(
      [
        `AwsSolutions-IAM5[Resource::${vault}/daily/shop/*]`,
        `AwsSolutions-IAM5[Resource::${vault}/weekly/shop/*]`,
        `AwsSolutions-IAM5[Resource::${vault}/monthly/shop/*]`,
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*]',
        'AwsSolutions-IAM5[Resource::*]',
      ].sort(),
    );
  });
});

describe("a Fargate backup's acknowledgments", () => {
  it("are the database's own tier prefixes, the metrics call and the image pull without resources, and the task definition's revisions and tasks", () => {
    const json = exampleJson();
    json.databases[0].runner = 'fargate';
    const { app } = synthesize(parseConfig(json));
    const ids = acknowledgments(app)
      .filter(({ construct }) => /^lifeline-backups-1\/(Backup-shop|Schedules\/lifeline-backup-shop-Role)/.test(construct.node.path))
      .map(({ construct, id }) => `${construct.node.path.replace('lifeline-backups-1/', '')} ${id}`);
    const vault = 'arn:<AWS::Partition>:s3:::lifeline-vault-<AWS::AccountId>-<AWS::Region>';
    const ecs = 'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>';
    expect(ids.sort()).toEqual(
      [
        ...['daily', 'weekly', 'monthly'].map((tier) => `Backup-shop/TaskRole AwsSolutions-IAM5[Resource::${vault}/${tier}/shop/*]`),
        'Backup-shop/TaskRole AwsSolutions-IAM5[Resource::*]',
        'Backup-shop/TaskDefinition AwsSolutions-ECS2',
        'Backup-shop/TaskDefinition AwsSolutions-IAM5[Resource::*]',
        `Schedules/lifeline-backup-shop-Role AwsSolutions-IAM5[Resource::${ecs}:task-definition/lifeline-backup-shop:*]`,
        `Schedules/lifeline-backup-shop-Role AwsSolutions-IAM5[Resource::${ecs}:task/<Cluster3DA9CCBA>/*]`,
      ].sort(),
    );
  });
});

describe("the restore stacks' acknowledgments", () => {
  it('are the vault read under the tier prefixes, the catalog, Lambda network interfaces, the runners, secret keys, the restores a mark names and the calls without resources', () => {
    const { app } = synthesize(exampleConfig());
    const ids = acknowledgments(app)
      .filter(({ construct }) => /^lifeline-restore(-1)?\//.test(construct.node.path))
      .map(({ construct, id }) => `${construct.node.path} ${id}`);
    const vault = 'arn:<AWS::Partition>:s3:::lifeline-vault-<AWS::AccountId>-<AWS::Region>';
    const tiers = (path: string) => ['daily', 'weekly', 'monthly'].map((tier) => `${path} AwsSolutions-IAM5[Resource::${vault}/${tier}/*]`);
    const vpc = (path: string) => [
      `${path} AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*]`,
      `${path} AwsSolutions-IAM5[Resource::*]`,
      // CreateTarget asks whether the execution a target's mark names still runs.
      `${path} AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:lifeline-restore:*]`,
    ];
    // The example's warehouse secret has a key of its own.
    const keys = (path: string) => `${path} AwsSolutions-IAM5[Resource::arn:aws:kms:eu-west-1:123456789012:key/*]`;
    const regional = (resource: string) => `arn:<AWS::Partition>:${resource.replace(':', ':<AWS::Region>:<AWS::AccountId>:')}`;
    expect(ids.sort()).toEqual(
      [
        ...tiers('lifeline-restore/Steps/Role'),
        `lifeline-restore/Steps/Role AwsSolutions-IAM5[Resource::${regional('ssm:parameter/lifeline/lifeline/restore/*')}]`,
        // Compensation: the executions it reads, the groups' steps functions that drop a target, its dead-letter queue.
        `lifeline-restore/Steps/Role AwsSolutions-IAM5[Resource::${regional('states:execution:lifeline-restore:*')}]`,
        `lifeline-restore/Steps/Role AwsSolutions-IAM5[Resource::${regional('lambda:function:lifeline-restore*')}]`,
        'lifeline-restore/Compensation/DeadLetters AwsSolutions-SQS3',
        `lifeline-restore/Workflow/Role AwsSolutions-IAM5[Resource::${regional('ecs:task/<Cluster>/*')}]`,
        `lifeline-restore/Workflow/Role AwsSolutions-IAM5[Resource::${regional('ecs:task-definition/lifeline-restore-runner-*:*')}]`,
        'lifeline-restore/Workflow/Role AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/lifeline-runtime/restore-runner/*]',
        'lifeline-restore/Workflow/Role AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/lifeline-migrations/*]',
        `lifeline-restore/Workflow/Role AwsSolutions-IAM5[Resource::${regional('lambda:function:lifeline-restore*')}]`,
        `lifeline-restore/Workflow/Role AwsSolutions-IAM5[Resource::${regional('ecs:task-definition/lifeline-migrations-*:*')}]`,
        'lifeline-restore/Workflow/Role AwsSolutions-IAM5[Resource::*]',
        `lifeline-restore/Workflow/Role AwsSolutions-IAM5[Resource::${regional('states:execution:lifeline-cutover:*')}]`,
        ...tiers('lifeline-restore-1/Runner/TaskRole'),
        keys('lifeline-restore-1/Runner/TaskRole'),
        // The execution an in-place job names, whose approval the runner checks.
        `lifeline-restore-1/Runner/TaskRole AwsSolutions-IAM5[Resource::${regional('states:execution:lifeline-restore:*')}]`,
        'lifeline-restore-1/Runner/TaskDefinition AwsSolutions-ECS2',
        'lifeline-restore-1/Runner/ExecutionRole AwsSolutions-IAM5[Resource::*]',
        // The application's migrations: its image's pull (ecr:GetAuthorizationToken has no resource), its transient target secret.
        'lifeline-restore-1/Migrations/shop-api/ExecutionRole AwsSolutions-IAM5[Resource::*]',
        'lifeline-restore-1/Migrations/shop-api/TargetSecret AwsSolutions-SMG4',
        'lifeline-restore-1/Migrations/shop-api/TaskDefinition AwsSolutions-ECS2',
        ...tiers('lifeline-restore-1/Steps-production/Role'),
        ...vpc('lifeline-restore-1/Steps-production/Role'),
        // shop-api's migrations target secret may be held by a point-in-time recovery.
        `lifeline-restore-1/Steps-production/Role AwsSolutions-IAM5[Resource::${regional('states:execution:lifeline-pitr:*')}]`,
        ...tiers('lifeline-restore-1/Steps-analytics/Role'),
        ...vpc('lifeline-restore-1/Steps-analytics/Role'),
        keys('lifeline-restore-1/Steps-analytics/Role'),
      ].sort(),
    );
  });
});

describe("the cutover stack's acknowledgments", () => {
  it('are Lambda network interfaces, the calls without resources, its own executions and those that hand over, nothing about the applications', () => {
    const { app } = synthesize(exampleConfig());
    const ids = acknowledgments(app)
      .filter(({ construct }) => construct.node.path.startsWith('lifeline-cutover/'))
      .map(({ construct, id }) => `${construct.node.path.replace('lifeline-cutover/', '')} ${id}`);
    expect(ids.sort()).toEqual(
      [
        'Steps/Role AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*]',
        'Steps/Role AwsSolutions-IAM5[Resource::*]',
        'Workflow/Role AwsSolutions-IAM5[Resource::*]',
        // Compensation: the executions it reads, its dead-letter queue.
        'Steps/Role AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:lifeline-cutover:*]',
        'Compensation/DeadLetters AwsSolutions-SQS3',
        // The restore and PITR executions whose hand-over brings an approval.
        'Steps/Role AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:lifeline-restore:*]',
        'Steps/Role AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:lifeline-pitr:*]',
      ].sort(),
    );
  });
});
