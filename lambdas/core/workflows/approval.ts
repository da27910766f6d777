import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { GenerateMacCommand, VerifyMacCommand, type KMSClient } from '@aws-sdk/client-kms';
import { z } from 'zod';
import { LifelineError } from '../errors.js';

/** The human decision a `.waitForTaskToken` task is answered with (SendTaskSuccess output), in every workflow that asks one. */
export const ApprovalDecision = z.strictObject({
  /** The approver's identity as AWS authenticated it (the function URL's caller), or the local operator in a rehearsal. */
  approver: z.string().min(1),
  comment: z.string().max(1000).nullable(),
  decidedAt: z.iso.datetime({ offset: true }),
  /**
   * The approve function's HMAC (KMS, base64) of this decision for its execution and state (approvalText): what
   * VerifyApproval checks, so that a SendTaskSuccess sent by anyone else, whatever approver it names, goes nowhere.
   */
  signature: z.string().min(1).optional(),
});
export type ApprovalDecision = z.infer<typeof ApprovalDecision>;

/**
 * What a signature covers: the decision, the execution and the state that asked it, so that it approves nothing else.
 * Hashed first: KMS MACs messages of at most 4096 bytes, and a comment alone may be 4000.
 */
export function approvalText(executionArn: string, state: string, decision: ApprovalDecision): Uint8Array {
  const text = JSON.stringify(['lifeline-approval-1', executionArn, state, decision.approver, decision.comment, decision.decidedAt]);
  return createHash('sha256').update(text).digest();
}

/** Signs and checks approvals: KMS's HMAC key in AWS, a key of this process in a local run. */
export interface ApprovalSeal {
  sign(message: Uint8Array): Promise<string>;
  /** False for a signature the key did not make; throws only when the check itself could not be made. */
  verify(message: Uint8Array, signature: string): Promise<boolean>;
}

const MAC_ALGORITHM = 'HMAC_SHA_256';

/** The deployment's HMAC key: the approve function may GenerateMac, the verify function VerifyMac, nobody else either. */
export function kmsSeal(kms: KMSClient, keyId: string): ApprovalSeal {
  return {
    async sign(message) {
      const { Mac } = await kms.send(new GenerateMacCommand({ KeyId: keyId, MacAlgorithm: MAC_ALGORITHM, Message: message }));
      if (!Mac) throw new LifelineError('InvalidConfig', `KMS GenerateMac with ${keyId} returned no MAC`);
      return Buffer.from(Mac).toString('base64');
    },
    async verify(message, signature) {
      try {
        const { MacValid } = await kms.send(
          new VerifyMacCommand({ KeyId: keyId, MacAlgorithm: MAC_ALGORITHM, Message: message, Mac: Buffer.from(signature, 'base64') }),
        );
        return MacValid === true;
      } catch (error) {
        // VerifyMac answers a MAC that does not verify with this error, not with MacValid false.
        if ((error as Error).name === 'KMSInvalidMacException') return false;
        throw error;
      }
    },
  };
}

/** A key of this process: a local run signs and checks its approvals in the one process that runs it. */
const localKey = randomBytes(32);

/** The seal of local runs (`lifeline run --local`, the tests): an HMAC-SHA-256 with a key that never leaves this process. */
export function localSeal(): ApprovalSeal {
  const mac = (message: Uint8Array) => createHmac('sha256', localKey).update(message).digest();
  return {
    sign: (message) => Promise.resolve(mac(message).toString('base64')),
    verify(message, signature) {
      const expected = mac(message);
      const given = Buffer.from(signature, 'base64');
      return Promise.resolve(given.length === expected.length && timingSafeEqual(given, expected));
    },
  };
}

/** The decision, signed for the state of the execution that asked it. */
export async function signedDecision(
  executionArn: string,
  state: string,
  decision: Omit<ApprovalDecision, 'signature'>,
  seal: ApprovalSeal,
): Promise<ApprovalDecision> {
  const unsigned = ApprovalDecision.parse(decision);
  return { ...unsigned, signature: await seal.sign(approvalText(executionArn, state, unsigned)) };
}

/** VerifyApproval's event: the execution, the state that waited, and what its task was answered with. */
export const VerifyApprovalEvent = z.strictObject({
  execution: z.string().min(1),
  waited: z.string().min(1),
  approval: z.unknown(),
});

/**
 * VerifyApproval, the state after every WaitForApproval: the approval must be a decision the approve function
 * signed for this execution and state; anything else (a raw SendTaskSuccess, whatever approver it names, or a
 * decision copied from another execution) is ApprovalNotVerified, and the workflow cleans up instead of going on.
 */
export async function verifyApproval(event: unknown, seal: ApprovalSeal): Promise<{ approver: string }> {
  const parsed = VerifyApprovalEvent.safeParse(event);
  if (!parsed.success) throw new LifelineError('InvalidInput', `VerifyApproval event: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  const { execution, waited, approval } = parsed.data;
  const decision = ApprovalDecision.safeParse(approval);
  const refused = (why: string) =>
    new LifelineError(
      'ApprovalNotVerified',
      `${waited} of ${execution} was answered ${why}: only \`lifeline approve\` (the deployment's approve function) approves; nothing went on`,
    );
  if (!decision.success) throw refused('with something that is not an approval decision');
  const { signature } = decision.data;
  if (!signature) throw refused(`without a signature (approver named: ${decision.data.approver})`);
  if (!(await seal.verify(approvalText(execution, waited, decision.data), signature))) {
    throw refused(`with a signature that is not the approve function's for this execution (approver named: ${decision.data.approver})`);
  }
  return { approver: decision.data.approver };
}
