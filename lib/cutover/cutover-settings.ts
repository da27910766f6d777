import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { LifelineError } from '../../lambdas/core/errors.js';
import { parseInput } from '../../lambdas/core/validation.js';
import { CutoverSettings, type CutoverServer } from '../../lambdas/core/cutover/state.js';
import { LOCK_TABLE_VARIABLE } from '../../lambdas/core/cutover/compensation.js';
import { cutoverLockTableName } from '../../lambdas/core/names.js';
import { ALARM_TOPIC_VARIABLE } from '../../lambdas/core/workflows/compensation.js';
import type { LifelineConfig } from '../config/schema.js';
import { longestDeployedForm } from '../workflows/workflow-settings.js';

/** The variable the cutover steps handler reads its settings from. */
export const CUTOVER_SETTINGS_VARIABLE = 'LIFELINE_CUTOVER_SETTINGS';

type Application = LifelineConfig['applications'][number];

/**
 * The cutover steps' settings (core's CutoverSettings), built in this one place from the config's applications and
 * parsed with core's schema at synth time, so that the environment holds exactly what the handler will use and a
 * deployment the handler would refuse, or an environment Lambda would refuse, fails `cdk synth` instead.
 */
export function cutoverSettings(scope: IConstruct, config: LifelineConfig): CutoverSettings {
  const settingsOf = (applications: readonly Application[]): CutoverSettings =>
    parseInput(
      CutoverSettings,
      {
        applications: applications.map((app) => ({
          name: app.name,
          connectionSecretArn: app.connectionSecretArn,
          ecsServices: app.ecs === undefined ? [] : [app.ecs],
          lambdaFunctions: app.lambdaFunctions,
          ...(app.lambdaAlias === undefined ? {} : { lambdaAlias: app.lambdaAlias }),
          freeze: app.freeze,
          healthCheck: { url: app.healthCheckUrl, count: app.healthCheckCount, windowSeconds: app.healthCheckWindowSeconds },
        })),
        servers: cutoverServers(config, applications),
      },
      CUTOVER_SETTINGS_VARIABLE,
      'InvalidConfig',
    );
  const settings = settingsOf(config.applications);
  // What compensating executions adds, at its longest: the lock table's fixed name, and a topic ARN of SNS's longest.
  const compensation = { lockTableName: cutoverLockTableName(config.name), alarmTopicArn: LONGEST_TOPIC_ARN };

  const bytes = environmentBytes(scope, cutoverStepsEnvironment(scope, settings, compensation));
  if (bytes > LAMBDA_ENVIRONMENT_BYTES) {
    // How many of this config's applications would fit: the limit in the operator's own terms.
    let fit = 0;
    while (
      environmentBytes(scope, cutoverStepsEnvironment(scope, settingsOf(config.applications.slice(0, fit + 1)), compensation)) <=
      LAMBDA_ENVIRONMENT_BYTES
    ) {
      fit += 1;
    }
    throw new LifelineError(
      'InvalidConfig',
      `applications: the cutover workflow supports up to ${fit} applications per deployment for now (its settings must fit Lambda's 4 KB environment, ${LAMBDA_ENVIRONMENT_BYTES} bytes: this config's ${config.applications.length} applications need ${bytes}, its first ${fit} fit); deploy it from a config with fewer applications`,
    );
  }
  return settings;
}

/**
 * The servers a cutover may switch an application to by name: those of the applications' databases, by admin secret
 * (named, never read), the config's host (else the RDS instance or cluster whose endpoint the steps ask for) and port.
 */
export function cutoverServers(config: LifelineConfig, applications: readonly Application[] = config.applications): CutoverServer[] {
  const names = new Set(applications.map((app) => app.database));
  return config.databases
    .filter((db) => names.has(db.name))
    .map((db) => ({
      name: db.name,
      secretArn: db.secretArn,
      ...(db.host === undefined ? {} : { host: db.host }),
      port: db.port,
      rds: db.rds,
    }));
}

/** What the cutover steps function needs to compensate executions (core's cutover/compensation.ts). */
export interface CutoverCompensationEnvironment {
  readonly lockTableName: string;
  /** Where notices go: the vault's alarm topic. */
  readonly alarmTopicArn: string;
}

/** An SNS topic ARN as long as one can be (a 256-character name, the longest partition and region). */
const LONGEST_TOPIC_ARN = `arn:aws-iso-b:sns:ap-southeast-5:123456789012:${'x'.repeat(256)}`;

/** The cutover steps function's environment: its settings, and the lock table and topic its compensation uses. */
export function cutoverStepsEnvironment(
  scope: IConstruct,
  settings: CutoverSettings,
  compensation: CutoverCompensationEnvironment,
): Record<string, string> {
  return {
    [CUTOVER_SETTINGS_VARIABLE]: Stack.of(scope).toJsonString(settings),
    [LOCK_TABLE_VARIABLE]: compensation.lockTableName,
    [ALARM_TOPIC_VARIABLE]: compensation.alarmTopicArn,
  };
}

/** Lambda's limit on a function's environment: every variable's name and value together. */
const LAMBDA_ENVIRONMENT_BYTES = 4096;

/** A function environment's size as Lambda counts it (every name and value), deploy-time values at their longest. */
function environmentBytes(scope: IConstruct, environment: Record<string, string>): number {
  return Object.entries(environment).reduce(
    (sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(longestDeployedForm(scope, value)),
    0,
  );
}
