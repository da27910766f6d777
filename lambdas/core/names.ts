import { z } from 'zod';

/** The names of a deployment's resources, which the stacks create and the runtime and the CLI find them by. */

/** A deployment's name (the config's `name`): the prefix of its stacks' resources, by which the CLI also finds them. */
export const DeploymentName = z.string().regex(/^[a-z][a-z0-9-]{0,19}$/, 'must be 1-20 lowercase letters, digits or "-"');

export const DEFAULT_DEPLOYMENT_NAME = 'lifeline';

/** An application's name in the config: what cutover switches and what `cutover` in a restore input names. */
export const ApplicationName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be 1-32 lowercase letters, digits or "-", starting with a letter');

/** The restore workflow's state machine, and its steps function outside any VPC. */
export function restoreWorkflowName(deployment: string): string {
  return `${deployment}-restore`;
}

/**
 * Restore group `stack`'s steps function inside one network, for the steps that connect to its databases: at most
 * 20 + 12 + 32 characters. The state machine may invoke `<deployment>-restore*` tagged with its deployment.
 */
export function restoreNetworkFunctionName(deployment: string, stack: number, network: string): string {
  return `${restoreWorkflowName(deployment)}${stack}-${network}`;
}

/** Restore group `stack`'s runner task definition family; `*`, every group's, as an IAM pattern. */
export function restoreRunnerFamily(deployment: string, stack: number | '*'): string {
  return `${deployment}-restore-runner-${stack}`;
}

/** The task definition family of an application's migrations (config `migrations`); `*`, every application's, as an IAM pattern. */
export function migrationsFamily(deployment: string, application: string): string {
  return `${deployment}-migrations-${application}`;
}

/** The secret an application's migrations task reads DATABASE_URL from: the restore being migrated (restore/migrations.ts). */
export function migrationsTargetSecretName(deployment: string, application: string): string {
  return `lifeline/${deployment}/migrations/${application}`;
}

/** The PITR workflow's state machine, its steps function outside any VPC, and the prefix of its steps functions' names. */
export function pitrWorkflowName(deployment: string): string {
  return `${deployment}-pitr`;
}

/** The PITR steps function inside one network, where Validate connects to the restored database: at most 20 + 6 + 32 characters. */
export function pitrNetworkFunctionName(deployment: string, network: string): string {
  return `${pitrWorkflowName(deployment)}-${network}`;
}

/** The cutover workflow's state machine, and its steps function in the applications' network. */
export function cutoverWorkflowName(deployment: string): string {
  return `${deployment}-cutover`;
}

/** The function behind the approvals' function URL, which `lifeline approve` and `reject` call: at most 20 + 8 characters. */
export function approveFunctionName(deployment: string): string {
  return `${deployment}-approve`;
}

/** The function VerifyApproval runs after every WaitForApproval, which checks the approve function's signature. */
export function approvalVerifyFunctionName(deployment: string): string {
  return `${deployment}-approval-verify`;
}

/** The managed policy a person needs to list and decide approvals (and nothing else). */
export function approversPolicyName(deployment: string): string {
  return `${deployment}-approvers`;
}

/** The tag every resource of a deployment bears, its value the config's name. */
export const DEPLOYMENT_TAG = 'lifeline';

/** Lambda function and Scheduler schedule names are limited to 64 characters. */
export const MAX_RESOURCE_NAME = 64;

export function backupFunctionName(prefix: string, database: string): string {
  return `${prefix}-backup-${database}`;
}

/** A scheduled database's staleness (RPO) alarm, which also starts one immediate backup (core's alarms/). */
export function stalenessAlarmName(prefix: string, database: string): string {
  return `${prefix}-${database}-backup-stale`;
}

/** The function that starts runs for alarms (core's alarms/), and the prefix of what its stack names. */
export function alarmStarterName(deployment: string): string {
  return `${deployment}-alarm-runs`;
}

/**
 * The vault's name, fixed per account and region: functions, policies and the CLI know it without a
 * cross-stack reference. The bucket is retained when its stack is deleted, so the name stays taken.
 */
export function vaultBucketName(prefix: string, account: string, region: string): string {
  return `${prefix}-vault-${account}-${region}`;
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

/**
 * The IAM path of the applications' migrations task and execution roles, which the restore and PITR workflows may
 * pass: apart from the runtime's, since those tasks run the application's image and need nothing of the vault.
 */
export function migrationsRolePath(prefix: string): string {
  return `/${prefix}-migrations/`;
}

/** The table that holds one lock per application while its cutover runs. */
export function cutoverLockTableName(prefix: string): string {
  return `${prefix}-cutover-locks`;
}

/** The SSM path of a deployment's restore catalog. */
export function restoreCatalogRoot(deployment: string): string {
  return `/lifeline/${deployment}/restore`;
}

/** The SSM path under which a restore group (backups stack `stack`, 1-based) keeps one parameter per database. */
export function restoreCatalogPath(deployment: string, stack: number): string {
  return `${restoreCatalogRoot(deployment)}/${stack}`;
}

/** The restore drill workflow's state machine and steps function (`<name>-drill`), and its runner's task definition family. */
export function drillWorkflowName(deployment: string): string {
  return `${deployment}-drill`;
}

/** The schedules of a database's drills and of the daily check that one passed within its days. */
export function drillScheduleNames(deployment: string, database: string): { drill: string; check: string } {
  return { drill: `${drillWorkflowName(deployment)}-${database}`, check: `${drillWorkflowName(deployment)}-check-${database}` };
}

export function drillRunnerFamily(deployment: string): string {
  return `${deployment}-drill-runner`;
}
