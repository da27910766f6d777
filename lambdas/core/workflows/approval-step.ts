import type { KMSClient } from '@aws-sdk/client-kms';
import { clientWithin, withinStepDeadline } from '../deadline.js';
import { LifelineError } from '../errors.js';
import { kmsSeal, verifyApproval, type ApprovalSeal } from './approval.js';
import { WORKFLOW_DEFINITIONS, type Workflow } from './definitions.js';

/**
 * The approval verify function: VerifyApproval of restore, cutover and PITR, each naming its workflow (whose state's
 * TimeoutSeconds sets the step's deadline). Its KMS calls end at that deadline.
 */
export type VerifyApprovalDeps = { kms: KMSClient; keyId: string } | { seal: ApprovalSeal };

export async function runVerifyApprovalStep(event: unknown, deps: VerifyApprovalDeps, lambdaRemainingMs?: number): Promise<unknown> {
  const { workflow, ...step } = (typeof event === 'object' && event !== null ? event : {}) as { workflow?: unknown };
  if (typeof workflow !== 'string' || !(workflow in WORKFLOW_DEFINITIONS)) {
    throw new LifelineError('InvalidInput', `workflow: must be one of ${Object.keys(WORKFLOW_DEFINITIONS).join(', ')}`);
  }
  return withinStepDeadline(workflow as Workflow, step, lambdaRemainingMs, (verified, deadline) => {
    const seal = 'seal' in deps ? deps.seal : kmsSeal(deadline ? clientWithin(deps.kms, deadline) : deps.kms, deps.keyId);
    return verifyApproval(verified, seal);
  });
}
