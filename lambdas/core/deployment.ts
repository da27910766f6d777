import { z } from 'zod';

/** A deployment's name (the config's `name`): the prefix of its stacks' resources, by which the CLI also finds them. */
export const DeploymentName = z.string().regex(/^[a-z][a-z0-9-]{0,19}$/, 'must be 1-20 lowercase letters, digits or "-"');

export const DEFAULT_DEPLOYMENT_NAME = 'lifeline';

/** The restore workflow's state machine, and its steps function outside any VPC. */
export function restoreWorkflowName(deployment: string): string {
  return `${deployment}-restore`;
}

/** The cutover workflow's state machine, and its steps function in the applications' network. */
export function cutoverWorkflowName(deployment: string): string {
  return `${deployment}-cutover`;
}
