import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { KMSClient } from '@aws-sdk/client-kms';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { LambdaContext } from '../core/deadline.js';
import { LifelineError } from '../core/errors.js';
import { answerDecisionRequest } from '../core/operator/approve-url.js';
import { executionStarter } from '../core/operator/starter.js';
import { runVerifyApprovalStep } from '../core/workflows/approval-step.js';
import { kmsSeal } from '../core/workflows/approval.js';

/** The approvals' two functions, one bundle: `approval.decide` behind the function URL, `approval.verify` for VerifyApproval. */

/** The HMAC key's ARN; the stack sets it. */
export const APPROVAL_KEY_VARIABLE = 'LIFELINE_APPROVAL_KEY';
/** `true` when the config separates duties (approval.separateDuties). */
export const SEPARATE_DUTIES_VARIABLE = 'LIFELINE_SEPARATE_DUTIES';

const kms = new KMSClient({});
const sfn = new SFNClient({});
const cloudTrail = new CloudTrailClient({});

function approvalKey(): string {
  const keyId = process.env[APPROVAL_KEY_VARIABLE];
  if (!keyId) throw new LifelineError('InvalidConfig', `${APPROVAL_KEY_VARIABLE} is not set`);
  return keyId;
}

/** The function URL's request: the caller Lambda authenticated decides what the execution waits for. */
export function decide(event: unknown): Promise<unknown> {
  const separateDuties = process.env[SEPARATE_DUTIES_VARIABLE] === 'true';
  return answerDecisionRequest(event, {
    sfn,
    seal: kmsSeal(kms, approvalKey()),
    starterOf: separateDuties ? (executionArn) => executionStarter({ sfn, cloudTrail }, executionArn) : undefined,
  });
}

/** VerifyApproval: the approval the workflow got must carry the approve function's signature. */
export function verify(event: unknown, context: LambdaContext): Promise<unknown> {
  return runVerifyApprovalStep(event, { kms, keyId: approvalKey() }, context.getRemainingTimeInMillis());
}
