import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { LifelineError } from '../../lambdas/core/errors.js';
import { METRICS_NAMESPACE, SERVICE_NAMES } from '../../lambdas/core/telemetry.js';
import { parseInput } from '../../lambdas/core/validation.js';
import { RestoreDatabase } from '../../lambdas/core/restore/catalog.js';
import { RestoreSettings } from '../../lambdas/core/restore/state.js';
import type { LifelineConfig, RestoreConfig } from '../config/schema.js';
import { longestDeployedForm } from '../workflows/workflow-settings.js';

/** The variable the restore steps handler reads its settings from. */
export const RESTORE_SETTINGS_VARIABLE = 'LIFELINE_RESTORE_SETTINGS';

/** SSM's limit on a standard parameter's value. */
export const PARAMETER_VALUE_BYTES = 4096;

/**
 * The restore steps' settings (core's RestoreSettings), built in this one place from the config and checked
 * against core's schema at synth time, deploy-time values given their longest form, so that a deployment the
 * handler would refuse fails `cdk synth` instead. They are the same few values however many databases there are.
 */
export function restoreSettings(scope: IConstruct, config: LifelineConfig, restore: RestoreConfig, bucket: string): RestoreSettings {
  const settings: RestoreSettings = {
    deployment: config.name,
    backupStacks: config.backupStacks,
    bucket,
    approvalTimeoutSeconds: (config.approval?.timeoutHours ?? 24) * 3600,
    runnerVcpus: restore.runner.vcpus,
  };
  parseInput(RestoreSettings, JSON.parse(longestDeployedForm(scope, settings)), RESTORE_SETTINGS_VARIABLE, 'InvalidConfig');
  return settings;
}

/**
 * A database's entry in the restore catalog (core's RestoreDatabase), the value of its SSM parameter: checked
 * against core's schema and SSM's 4 KB at synth time, deploy-time values at their longest, naming the database.
 */
export function restoreDatabaseEntry(scope: IConstruct, database: RestoreDatabase): string {
  const value = Stack.of(scope).toJsonString(database);
  const longest = longestDeployedForm(scope, value);
  parseInput(RestoreDatabase, JSON.parse(longest), `the restore settings of database ${database.name}`, 'InvalidConfig');
  const bytes = Buffer.byteLength(longest);
  if (bytes > PARAMETER_VALUE_BYTES) {
    throw new LifelineError(
      'InvalidConfig',
      `databases: the restore settings of "${database.name}" need up to ${bytes} bytes, over the ${PARAMETER_VALUE_BYTES} of an SSM parameter; give it fewer applications`,
    );
  }
  return value;
}

/** The restore steps functions' environment: the settings, and the service and namespace Powertools reports under. */
export function restoreStepsEnvironment(scope: IConstruct, settings: RestoreSettings): Record<string, string> {
  return {
    [RESTORE_SETTINGS_VARIABLE]: Stack.of(scope).toJsonString(settings),
    POWERTOOLS_SERVICE_NAME: SERVICE_NAMES.restore,
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
  };
}
