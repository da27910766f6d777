import { z } from 'zod';
import { LifelineError } from '../errors.js';
import { ApprovalDecision } from '../workflows/approval.js';
import { decide, type DecisionDeps, type DecisionRecorded } from './approvals.js';

/**
 * The approve function behind its function URL (AuthType AWS_IAM): Lambda has checked the caller's SigV4 signature
 * and the `<name>-approvers` policy before the function runs, and names the caller in requestContext.authorizer.iam.
 * That identity, never a field of the body, is the approver recorded. A direct Invoke could hand the function any
 * event: the approvers policy grants lambda:InvokeFunction only through the URL (lambda:InvokedViaFunctionUrl), and
 * whoever may invoke it otherwise may act as anyone, as an administrator may.
 */

/** What `lifeline approve` and `reject` send: the execution and the decision. */
export const DecisionRequest = z.discriminatedUnion('approve', [
  z.strictObject({
    executionArn: z.string().min(1),
    approve: z.literal(true),
    comment: ApprovalDecision.shape.comment,
  }),
  z.strictObject({ executionArn: z.string().min(1), approve: z.literal(false), reason: z.string().min(1).max(2000) }),
]);
export type DecisionRequest = z.infer<typeof DecisionRequest>;

/** The part of a function URL event (payload 2.0) the function reads. */
const FunctionUrlEvent = z.object({
  requestContext: z.object({
    http: z.object({ method: z.string() }),
    authorizer: z.object({ iam: z.object({ userArn: z.string().min(1) }) }),
  }),
  body: z.string().optional(),
  isBase64Encoded: z.boolean().optional(),
});

export interface FunctionUrlResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** What the function answers: the decision recorded, or the error by its stable name. */
export type DecisionResponse = DecisionRecorded | { error: string; message: string };

/** HTTP statuses of the errors a caller can act on; anything else is the function's or AWS's fault (500). */
const STATUS: Record<string, number> = { InvalidInput: 400, NotAllowedToApprove: 403, StarterUnknown: 409 };

const respond = (statusCode: number, body: DecisionResponse): FunctionUrlResult => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

export async function answerDecisionRequest(event: unknown, deps: DecisionDeps): Promise<FunctionUrlResult> {
  const url = FunctionUrlEvent.safeParse(event);
  // An event without an authenticated caller (not from the URL) decides nothing.
  if (!url.success)
    return respond(403, { error: 'NotAllowedToApprove', message: 'only a SigV4-signed request to the function URL decides' });
  if (url.data.requestContext.http.method !== 'POST') return respond(405, { error: 'InvalidInput', message: 'POST a decision' });
  const identity = url.data.requestContext.authorizer.iam.userArn;
  try {
    const text = url.data.isBase64Encoded ? Buffer.from(url.data.body ?? '', 'base64').toString('utf8') : (url.data.body ?? '');
    const request = DecisionRequest.safeParse(parseJson(text));
    if (!request.success) {
      throw new LifelineError(
        'InvalidInput',
        `decision request: ${request.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    const { executionArn } = request.data;
    const decision = request.data.approve
      ? { approve: true as const, comment: request.data.comment }
      : { approve: false as const, reason: request.data.reason };
    return respond(200, await decide(executionArn, { identity }, decision, deps));
  } catch (error) {
    const { name, message } = error instanceof Error ? error : new Error(String(error));
    return respond(STATUS[name] ?? 500, { error: name, message });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
