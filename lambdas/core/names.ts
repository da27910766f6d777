import { z } from 'zod';

/** A deployment's name (the config's `name`): the prefix of its stacks' resources, by which the CLI also finds them. */
export const DeploymentName = z.string().regex(/^[a-z][a-z0-9-]{0,19}$/, 'must be 1-20 lowercase letters, digits or "-"');

export const DEFAULT_DEPLOYMENT_NAME = 'lifeline';

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

/** The cutover workflow's state machine, and its steps function in the applications' network. */
export function cutoverWorkflowName(deployment: string): string {
  return `${deployment}-cutover`;
}
