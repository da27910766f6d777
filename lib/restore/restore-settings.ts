import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { LifelineError } from '../../lambdas/core/errors.js';
import { METRICS_NAMESPACE, SERVICE_NAMES } from '../../lambdas/core/telemetry.js';
import { parseInput } from '../../lambdas/core/validation.js';
import { RestoreSettings } from '../../lambdas/core/workflows/restore-state.js';
import type { DatabaseConfig, LifelineConfig } from '../config/schema.js';

/** The variable the restore steps handler reads its settings from. */
export const RESTORE_SETTINGS_VARIABLE = 'LIFELINE_RESTORE_SETTINGS';

/** Lambda's limit on a function's environment: every variable's name and value together. */
export const LAMBDA_ENVIRONMENT_BYTES = 4096;

/** What a network's restore steps run with: its function, and the subnets and security group of its runner tasks. */
export interface RestoreNetworkSettings {
  readonly stepsFunctionArn: string;
  readonly subnetIds: readonly string[];
  readonly securityGroupId: string;
}

export interface RestoreSettingsProps {
  readonly config: LifelineConfig;
  readonly bucket: string;
  readonly runnerVcpus: number;
  /** By network name: every network that holds a configured database. */
  readonly networks: ReadonlyMap<string, RestoreNetworkSettings>;
}

/** The longest values the deploy-time parts of the settings can take, to size them as Lambda will see them. */
const LONGEST = { partition: 'aws-iso-b', region: 'ap-southeast-5', account: '123456789012', other: `sg-${'f'.repeat(17)}` };

/**
 * The restore steps' settings (core's RestoreSettings), built in this one place from the config. They are checked
 * against core's schema at synth time, deploy-time values given their longest form, so that a deployment the
 * handler would refuse, or an environment Lambda would refuse, fails `cdk synth` instead.
 */
export function restoreSettings(scope: IConstruct, props: RestoreSettingsProps): RestoreSettings {
  const { config } = props;
  const settingsOf = (databases: readonly DatabaseConfig[]): RestoreSettings => ({
    bucket: props.bucket,
    approvalTimeoutSeconds: (config.approval?.timeoutHours ?? 24) * 3600,
    runnerVcpus: props.runnerVcpus,
    databases: databases.map((db) => {
      const network = props.networks.get(db.network)!;
      return {
        name: db.name,
        secretArn: db.secretArn,
        host: db.host,
        port: db.port,
        databaseName: db.databaseName,
        rds: db.rds,
        stepsFunctionArn: network.stepsFunctionArn,
        runner: { subnetIds: [...network.subnetIds], securityGroupIds: [network.securityGroupId] },
      };
    }),
    applications: config.applications
      .filter((app) => databases.some((db) => db.name === app.database))
      .map((app) => ({ name: app.name, database: app.database, connectionSecretArn: app.connectionSecretArn })),
  });
  const settings = settingsOf(config.databases);
  parseInput(RestoreSettings, JSON.parse(longestDeployedForm(scope, settings)), RESTORE_SETTINGS_VARIABLE, 'InvalidConfig');

  const bytes = environmentBytes(scope, restoreStepsEnvironment(scope, settings));
  if (bytes > LAMBDA_ENVIRONMENT_BYTES) {
    // How many of this config's databases would fit: the limit in the operator's own terms.
    let fit = 0;
    while (
      environmentBytes(scope, restoreStepsEnvironment(scope, settingsOf(config.databases.slice(0, fit + 1)))) <= LAMBDA_ENVIRONMENT_BYTES
    ) {
      fit += 1;
    }
    throw new LifelineError(
      'InvalidConfig',
      `restore: the restore workflow supports up to ${fit} databases per deployment for now (its settings must fit Lambda's 4 KB environment, ${LAMBDA_ENVIRONMENT_BYTES} bytes: this config's ${config.databases.length} databases need up to ${bytes}, its first ${fit} fit); deploy it from a config with fewer databases or leave "restore" out`,
    );
  }
  return settings;
}

/** The restore steps functions' environment: the settings, and the service and namespace Powertools reports under. */
export function restoreStepsEnvironment(scope: IConstruct, settings: RestoreSettings): Record<string, string> {
  return {
    [RESTORE_SETTINGS_VARIABLE]: Stack.of(scope).toJsonString(settings),
    POWERTOOLS_SERVICE_NAME: SERVICE_NAMES.restore,
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
  };
}

/** A value (object or string) as JSON with every deploy-time part (partition, region, account, created ids) at its longest. */
export function longestDeployedForm(scope: IConstruct, value: unknown): string {
  const stack = Stack.of(scope);
  const flatten = (node: unknown): string => {
    if (typeof node === 'string') return node;
    const value = node as Record<string, unknown>;
    if (Array.isArray(value['Fn::Join'])) {
      const [delimiter, items] = value['Fn::Join'] as [string, unknown[]];
      return items.map(flatten).join(delimiter);
    }
    if (value.Ref === 'AWS::Partition') return LONGEST.partition;
    if (value.Ref === 'AWS::Region') return LONGEST.region;
    if (value.Ref === 'AWS::AccountId') return LONGEST.account;
    return LONGEST.other;
  };
  return flatten(stack.resolve(typeof value === 'string' ? value : stack.toJsonString(value)));
}

/** A function environment's size as Lambda counts it (every name and value), deploy-time values at their longest. */
export function environmentBytes(scope: IConstruct, environment: Record<string, string>): number {
  return Object.entries(environment).reduce(
    (sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(longestDeployedForm(scope, value)),
    0,
  );
}
