import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { LifelineError } from '../../lambdas/core/errors.js';
import { PitrSettings } from '../../lambdas/core/pitr/state.js';
import { parseInput } from '../../lambdas/core/validation.js';
import type { LifelineConfig, PitrConfig } from '../config/schema.js';
import { longestDeployedForm } from '../workflows/workflow-settings.js';

/** The variable the PITR steps handler reads its settings from (lambdas/pitr/handler.ts). */
export const PITR_SETTINGS_VARIABLE = 'LIFELINE_PITR_SETTINGS';

/** Lambda's limit on a function's environment: every variable's name and value together. */
export const LAMBDA_ENVIRONMENT_BYTES = 4096;

/** Seconds between two looks at a restore (the Wait state's): RDS takes minutes, and DescribeDB* is throttled per account. */
const POLL_SECONDS = 30;

/**
 * The PITR steps' settings (core's PitrSettings), built in this one place from the config and checked against core's
 * schema at synth time, deploy-time values at their longest. `networkFunctions` names, by the config's network name,
 * the steps function that Validate runs in there (by ARN: the functions are named, not referred to). The whole
 * environment must fit Lambda's 4 KB, which holds about 30 networks: a larger config fails the synth saying so.
 */
export function pitrSettings(
  scope: IConstruct,
  config: LifelineConfig,
  pitr: PitrConfig,
  networkFunctions: ReadonlyMap<string, string>,
): PitrSettings {
  const settings = parseInput(
    PitrSettings,
    JSON.parse(
      longestDeployedForm(scope, {
        deployment: config.name,
        backupStacks: config.backupStacks,
        approvalTimeoutSeconds: (config.approval?.timeoutHours ?? 24) * 3600,
        networkFunctions: Object.fromEntries(networkFunctions),
        pollSeconds: POLL_SECONDS,
        maxWaitSeconds: pitr.maxWaitHours * 3600,
        renameSources: pitr.renameSources,
      }),
    ),
    PITR_SETTINGS_VARIABLE,
    'InvalidConfig',
  );
  // Checked at the longest above; deployed with the tokens themselves.
  const deployed: PitrSettings = { ...settings, networkFunctions: Object.fromEntries(networkFunctions) };
  const bytes = environmentBytes(scope, pitrStepsEnvironment(scope, deployed));
  if (bytes > LAMBDA_ENVIRONMENT_BYTES) {
    throw new LifelineError(
      'InvalidConfig',
      `networks: the PITR workflow's settings must fit Lambda's 4 KB environment (${LAMBDA_ENVIRONMENT_BYTES} bytes), and this config's ${networkFunctions.size} networks with databases need ${bytes}; leave out "pitr", or deploy it from a config with fewer networks`,
    );
  }
  return deployed;
}

/** The PITR steps functions' environment: the settings, and the service Powertools reports under. */
export function pitrStepsEnvironment(scope: IConstruct, settings: PitrSettings): Record<string, string> {
  return {
    [PITR_SETTINGS_VARIABLE]: Stack.of(scope).toJsonString(settings),
    POWERTOOLS_SERVICE_NAME: 'lifeline-pitr',
  };
}

/** A function environment's size as Lambda counts it (every name and value), deploy-time values at their longest. */
function environmentBytes(scope: IConstruct, environment: Record<string, string>): number {
  return Object.entries(environment).reduce(
    (sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(longestDeployedForm(scope, value)),
    0,
  );
}
