import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AssetManifestArtifact, type CloudAssembly } from 'aws-cdk-lib/cx-api';
import { loadConfig, parseConfig } from '../../lib/config/load.js';
import type { LifelineConfig } from '../../lib/config/schema.js';
import { addLifelineStacks, type LifelineStacks } from '../../lib/lifeline.js';
import { scratchDirectory } from './scratch.js';

export const EXAMPLE_CONFIG_PATH = fileURLToPath(new URL('../../bin/lifeline.config.json', import.meta.url));

/** The context `npx cdk synth` gives the app, so that tests synthesize what the CLI would. */
const CDK_CONTEXT = (JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context: Record<string, unknown> })
  .context;

export function exampleConfig(): LifelineConfig {
  return loadConfig(EXAMPLE_CONFIG_PATH);
}

/** The example config as plain JSON, to be bent into invalid or alternative shapes. */
export function exampleJson(): Record<string, any> {
  return JSON.parse(JSON.stringify(exampleConfig()));
}

export interface Synthesized extends LifelineStacks {
  app: App;
  assembly: CloudAssembly;
  vaultTemplate: Template;
  backupsTemplates: Template[];
  /** When the config has a `restore` section. */
  restoreTemplate?: Template;
  /** With `restore`: one beside each backups stack. */
  restoreGroupTemplates: Template[];
  /** When the config has applications. */
  cutoverTemplate?: Template;
}

export interface SynthesisOptions {
  /** Run CloudFormation's template validation (built into CDK); findings land in the validation report. */
  validation?: boolean;
  /** Add what the CLI adds to every template: construct paths and the CDK metadata resource. */
  cliMetadata?: boolean;
}

export function synthesize(config: LifelineConfig, options: SynthesisOptions = {}): Synthesized {
  const app = new App({
    // Beside the run's other scratch files: an App left to itself leaves its output in /tmp.
    outdir: scratchDirectory('cdk.out-'),
    context: { ...CDK_CONTEXT, 'aws:cdk:enable-path-metadata': options.cliMetadata ?? false },
    analyticsReporting: options.cliMetadata ?? false,
    builtinCloudFormationValidation: options.validation ?? false,
  });
  const stacks = addLifelineStacks(app, config);
  const assembly = app.synth();
  const template = (name: string) => Template.fromJSON(assembly.getStackByName(name).template);
  return {
    app,
    assembly,
    ...stacks,
    vaultTemplate: template(stacks.vault.stackName),
    backupsTemplates: stacks.backups.map((stack) => template(stack.stackName)),
    restoreTemplate: stacks.restore && template(stacks.restore.stackName),
    restoreGroupTemplates: stacks.restoreGroups.map((stack) => template(stack.stackName)),
    cutoverTemplate: stacks.cutover && template(stacks.cutover.stackName),
  };
}

const hex = (n: number) => n.toString(16).padStart(17, '0');
/** Every hour but 02, which daylight saving skips once a year in Berlin and New York. */
const HOURS = Array.from({ length: 23 }, (_, i) => (i < 2 ? i : i + 1));

/** A config with `count` databases spread over four VPCs (one with Lifeline's endpoints), three pg versions. */
export function manyDatabasesConfig(count: number, backupStacks: number): LifelineConfig {
  return parseConfig({
    notifications: { emails: ['oncall@example.com'] },
    approval: { emails: ['dba@example.com'] },
    backupStacks,
    networks: [0, 1, 2, 3].map((n) => ({
      name: `net-${n}`,
      vpcId: `vpc-${hex(n)}`,
      subnetIds: [`subnet-${hex(2 * n)}`, `subnet-${hex(2 * n + 1)}`],
      ...(n === 3 ? { createEndpoints: { routeTableIds: [`rtb-${hex(n)}`], vpcCidrs: ['10.3.0.0/16'] } } : {}),
    })),
    databases: Array.from({ length: count }, (_, i) => {
      const name = `tenant-${String(i).padStart(4, '0')}`;
      return {
        name,
        secretArn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-${name}-AbCdEf`,
        rds: i % 2 === 0 ? { instanceIdentifier: name } : { clusterIdentifier: name },
        network: `net-${i % 4}`,
        // net-3 reaches AWS through Lifeline's endpoints only, without the RDS API: its endpoints are configured.
        ...(i % 4 === 3 ? { host: `${name}.c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com`, databaseName: 'app' } : {}),
        // Every database in a security group of its own: the worst case for rules.
        securityGroupId: `sg-${hex(i)}`,
        postgresVersion: 15 + (i % 3),
        schedule: { cron: `${i % 60} ${HOURS[i % HOURS.length]} * * ? *`, timeZone: i % 2 === 0 ? 'Europe/Berlin' : 'America/New_York' },
      };
    }),
  });
}

/**
 * A policy's length as IAM counts it: references replaced by the longest values they can take (a 64-character
 * function name, the longest region and partition names, generous ARNs for everything else).
 */
export function deployedPolicyLength(policy: unknown): number {
  const longArn = (service: string) => `"arn:aws-iso-b:${service}:ap-southeast-5:123456789012:${'x'.repeat(80)}"`;
  return JSON.stringify(policy)
    .replace(/\{"Ref":"AWS::Partition"\}/g, '"aws-iso-b"')
    .replace(/\{"Ref":"AWS::Region"\}/g, '"ap-southeast-5"')
    .replace(/\{"Ref":"AWS::AccountId"\}/g, '"123456789012"')
    .replace(
      /\{"Fn::GetAtt":\["[A-Za-z0-9]+Function[A-Za-z0-9]+","Arn"\]\}/g,
      `"arn:aws-iso-b:lambda:ap-southeast-5:123456789012:function:${'x'.repeat(64)}"`,
    )
    .replace(/\{"Fn::GetAtt":\["[A-Za-z0-9]+","[A-Za-z.]+"\]\}/g, longArn('any'))
    .replace(/\{"Fn::ImportValue":"[^"]+"\}/g, longArn('any'))
    .replace(/\{"Fn::Join":\["",\[(.*?)\]\]\}/g, (_, parts: string) => `"${parts.replace(/","|"/g, '')}"`).length;
}

export interface DockerImageSource {
  directory: string;
  dockerFile: string;
  dockerBuildArgs: Record<string, string>;
  platform: string;
}

/** The container images a stack publishes, by tag (the asset hash), as its asset manifest describes them. */
export function dockerImages(assembly: CloudAssembly, stackName: string): Map<string, DockerImageSource> {
  const manifest = assembly
    .getStackByName(stackName)
    .dependencies.find((artifact): artifact is AssetManifestArtifact => artifact instanceof AssetManifestArtifact)!;
  const { dockerImages: images = {} } = JSON.parse(readFileSync(manifest.file, 'utf8')) as {
    dockerImages?: Record<string, { source: DockerImageSource }>;
  };
  return new Map(
    Object.entries(images).map(([hash, image]) => [hash, { ...image.source, directory: join(assembly.directory, image.source.directory) }]),
  );
}

/** A deploy-time value as readable text: references become <LogicalId> or <LogicalId.Attribute>, joins are flattened. */
export function deployedText(node: unknown): string {
  if (typeof node === 'string') return node;
  const value = node as Record<string, any>;
  if (value['Fn::Join']) return (value['Fn::Join'][1] as unknown[]).map(deployedText).join(value['Fn::Join'][0]);
  if (value.Ref) return `<${value.Ref}>`;
  if (value['Fn::GetAtt']) return `<${value['Fn::GetAtt'].join('.')}>`;
  if (value['Fn::ImportValue']) return `<import ${value['Fn::ImportValue']}>`;
  return JSON.stringify(node);
}

export interface ReadableStatement {
  sid: string;
  actions: string[];
  resources: string[];
  condition?: unknown;
}

/** A role's inline policy statements, their resources as deployedText() reads them. */
export function roleStatements(resources: Record<string, any>, roleId: string): ReadableStatement[] {
  return (resources[roleId].Properties.Policies as any[]).flatMap((policy) =>
    (policy.PolicyDocument.Statement as any[]).map((statement) => ({
      sid: statement.Sid,
      actions: [statement.Action].flat(),
      resources: [statement.Resource].flat().map(deployedText),
      condition: statement.Condition,
    })),
  );
}

/** The secret of "orders", the database of fargateBackup(). */
export const ORDERS_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-orders-AbCdEf';

export interface FargateBackup {
  template: Template;
  /** The backup task's container definition, as synthesized. */
  container: Record<string, any>;
  /** Its entry point and command. */
  command: string[];
  /** Its environment, the deploy-time values (the vault's name, the dead-letter queue's URL) set to these. */
  environment(bucket: string, deadLetterQueueUrl: string): Record<string, string>;
}

/**
 * The example deployment with a single database, "orders", backed up on Fargate; `entry` completes it (its port, at
 * least) or changes it.
 */
export function fargateBackup(entry: Record<string, unknown>): FargateBackup {
  const json = exampleJson();
  json.applications = [];
  json.databases = [
    {
      name: 'orders',
      secretArn: ORDERS_SECRET_ARN,
      rds: { instanceIdentifier: 'orders-production' },
      network: 'production',
      securityGroupId: 'sg-0a1b2c3d4e5f67890',
      postgresVersion: 15,
      schedule: { cron: '30 3 * * ? *', timeZone: 'Europe/Berlin' },
      runner: 'fargate',
      ...entry,
    },
  ];
  const [template] = synthesize(parseConfig(json)).backupsTemplates;
  const [taskDefinition] = Object.values(template!.findResources('AWS::ECS::TaskDefinition'));
  const container = taskDefinition!.Properties.ContainerDefinitions[0];
  const variables = Object.fromEntries((container.Environment as { Name: string; Value: unknown }[]).map((v) => [v.Name, v.Value]));
  return {
    template: template!,
    container,
    command: [...container.EntryPoint, ...container.Command],
    environment: (bucket, deadLetterQueueUrl) => {
      const environment = { ...variables, VAULT_BUCKET: bucket, BACKUP_DEAD_LETTER_QUEUE_URL: deadLetterQueueUrl };
      for (const [name, value] of Object.entries(environment)) {
        if (typeof value !== 'string') throw new Error(`${name} is a deploy-time value: ${JSON.stringify(value)}`);
      }
      return environment;
    },
  };
}
