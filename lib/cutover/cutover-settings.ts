import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { LifelineError } from '../../lambdas/core/errors.js';
import { parseInput } from '../../lambdas/core/validation.js';
import { CutoverSettings } from '../../lambdas/core/cutover/state.js';
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
          freeze: app.freeze,
          healthCheck: { url: app.healthCheckUrl, count: app.healthCheckCount, windowSeconds: app.healthCheckWindowSeconds },
        })),
      },
      CUTOVER_SETTINGS_VARIABLE,
      'InvalidConfig',
    );
  const settings = settingsOf(config.applications);

  const bytes = environmentBytes(scope, cutoverStepsEnvironment(scope, settings));
  if (bytes > LAMBDA_ENVIRONMENT_BYTES) {
    // How many of this config's applications would fit: the limit in the operator's own terms.
    let fit = 0;
    while (
      environmentBytes(scope, cutoverStepsEnvironment(scope, settingsOf(config.applications.slice(0, fit + 1)))) <= LAMBDA_ENVIRONMENT_BYTES
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

/** The cutover steps function's environment: its settings. */
export function cutoverStepsEnvironment(scope: IConstruct, settings: CutoverSettings): Record<string, string> {
  return { [CUTOVER_SETTINGS_VARIABLE]: Stack.of(scope).toJsonString(settings) };
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
