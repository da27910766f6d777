import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { GetFunctionUrlConfigCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { SignatureV4 } from '@smithy/signature-v4';
import { LifelineError } from '../errors.js';
import { approveFunctionName } from '../names.js';
import type { Decision, DecisionRecorded } from './approvals.js';
import type { DecisionRequest, DecisionResponse } from './approve-url.js';
import { parseExecutionArn } from './arns.js';

/**
 * `lifeline approve` and `reject`: the decision POSTed to the deployment's approve function URL, signed with the
 * caller's credentials (SigV4, service `lambda`), so that the function records the identity AWS authenticated.
 */

/** The deployment of a restore, cutover or PITR execution: its state machine is `<deployment>-<workflow>`. */
export function deploymentOf(executionArn: string): string {
  const { stateMachineName } = parseExecutionArn(executionArn);
  const match = /^(.+)-(restore|cutover|pitr)$/.exec(stateMachineName);
  if (!match) {
    throw new LifelineError(
      'InvalidInput',
      `${executionArn} is not an execution of a Lifeline restore, cutover or PITR state machine (<name>-restore, -cutover or -pitr)`,
    );
  }
  return match[1]!;
}

/** SignatureV4's hash from node:crypto: SHA-256, or HMAC-SHA-256 when constructed with a key (its signing keys). */
class Sha256 {
  private readonly hash: Hash | Hmac;
  constructor(key?: string | ArrayBuffer | ArrayBufferView) {
    if (key === undefined) this.hash = createHash('sha256');
    else if (typeof key === 'string') this.hash = createHmac('sha256', key);
    else
      this.hash = createHmac(
        'sha256',
        ArrayBuffer.isView(key) ? new Uint8Array(key.buffer, key.byteOffset, key.byteLength) : new Uint8Array(key),
      );
  }
  update(data: string | Uint8Array): void {
    this.hash.update(data);
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.hash.digest());
  }
}

export interface ApproveClientDeps {
  /** In the execution's region, with the caller's credentials. */
  lambda: LambdaClient;
  fetch?: typeof fetch;
}

export async function requestDecision(executionArn: string, decision: Decision, deps: ApproveClientDeps): Promise<DecisionRecorded> {
  const { region } = parseExecutionArn(executionArn);
  const functionName = approveFunctionName(deploymentOf(executionArn));
  const { FunctionUrl } = await deps.lambda.send(new GetFunctionUrlConfigCommand({ FunctionName: functionName })).catch((error: Error) => {
    throw new LifelineError(
      error.name === 'AccessDeniedException' ? 'NotAllowedToApprove' : 'InvalidConfig',
      `cannot find the URL of ${functionName} in ${region} (${error.name}: ${error.message}); an approver needs the ${functionName.replace(/-approve$/, '-approvers')} policy`,
    );
  });
  if (!FunctionUrl) throw new LifelineError('InvalidConfig', `${functionName} has no function URL`);
  const url = new URL(FunctionUrl);
  const request: DecisionRequest = decision.approve
    ? { executionArn, approve: true, comment: decision.comment }
    : { executionArn, approve: false, reason: decision.reason };
  const body = JSON.stringify(request);
  const credentials = await deps.lambda.config.credentials();
  const signer = new SignatureV4({ service: 'lambda', region, credentials, sha256: Sha256 });
  const signed = await signer.sign({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    path: url.pathname,
    query: {},
    headers: { host: url.host, 'content-type': 'application/json' },
    body,
  });
  const response = await (deps.fetch ?? fetch)(url, { method: 'POST', headers: signed.headers, body });
  const answer = (await response.json().catch(() => ({}))) as DecisionResponse | { Message?: string };
  if (response.ok && 'decision' in answer) return answer;
  // The function's own error, by its name (Lifeline's stable names, or the AWS error it met).
  if ('error' in answer) throw Object.assign(new Error(answer.message), { name: answer.error });
  // Lambda refused the request itself (403): the caller may not call the URL.
  throw new LifelineError(
    response.status === 403 ? 'NotAllowedToApprove' : 'InvalidConfig',
    `${functionName} answered ${response.status} (${(answer as { Message?: string }).Message ?? response.statusText}): an approver needs the ${functionName.replace(/-approve$/, '-approvers')} policy`,
  );
}
