import { Aws } from 'aws-cdk-lib';

/** The tag every resource of a deployment bears, its value the config's name. */
export const DEPLOYMENT_TAG = 'lifeline';

/** Lambda function and Scheduler schedule names are limited to 64 characters. */
export const MAX_RESOURCE_NAME = 64;

export function backupFunctionName(prefix: string, database: string): string {
  return `${prefix}-backup-${database}`;
}

/**
 * The vault's name, fixed per account and region: functions, policies and the CLI know it without a
 * cross-stack reference. The bucket is retained when its stack is deleted, so the name stays taken.
 */
export function vaultBucketName(prefix: string): string {
  return `${prefix}-vault-${Aws.ACCOUNT_ID}-${Aws.REGION}`;
}

/**
 * The IAM path of every role Lifeline's runtime uses. The vault's bucket policy names these roles by path, as
 * the vault is deployed before them and cannot refer to them.
 */
export function runtimeRolePath(prefix: string): string {
  return `/${prefix}-runtime/`;
}

/** The IAM path of the restore runners' task and execution roles, which the state machine may pass: under the runtime path. */
export function restoreRunnerRolePath(prefix: string): string {
  return `${runtimeRolePath(prefix)}restore-runner/`;
}

/** The table that holds one lock per application while its cutover runs. */
export function cutoverLockTableName(prefix: string): string {
  return `${prefix}-cutover-locks`;
}
