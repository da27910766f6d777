import { createHash, createHmac } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerDecisionRequest } from '../../lambdas/core/operator/approve-url.js';
import type { DecisionDeps } from '../../lambdas/core/operator/approvals.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const hmac = (key: Buffer | string, text: string) => createHmac('sha256', key).update(text).digest();

/**
 * The Authorization header a SigV4 signer holding `secretAccessKey` writes for this request (AWS's signature
 * version 4 algorithm, computed here from its specification, independently of the signer the CLI uses).
 */
function expectedAuthorization(request: IncomingMessage, body: string, region: string, secretAccessKey: string): string | undefined {
  const authorization = String(request.headers.authorization ?? '');
  const parts =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/lambda\/aws4_request, SignedHeaders=([^,]+), Signature=[0-9a-f]{64}$/.exec(
      authorization,
    );
  if (!parts || parts[3] !== region) return undefined;
  const [, accessKeyId, day, , signedHeaders] = parts as unknown as [string, string, string, string, string];
  const names = signedHeaders.split(';');
  const canonicalRequest = [
    request.method,
    request.url,
    '',
    ...names.map((name) => `${name}:${String(request.headers[name] ?? '').trim()}`),
    '',
    signedHeaders,
    sha256(body),
  ].join('\n');
  const scope = `${day}/${region}/lambda/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', String(request.headers['x-amz-date']), scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, day), region), 'lambda'), 'aws4_request');
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  return `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
}

export interface ApproveFunctionUrl {
  /** For AWS_ENDPOINT_URL_LAMBDA: answers GetFunctionUrlConfig with this server as the function's URL. */
  url: string;
  /** The function names GetFunctionUrlConfig was asked for. */
  lookedUp: string[];
  close(): Promise<void>;
}

/**
 * A deployment's approve function behind its function URL (AuthType AWS_IAM), on loopback, for a CLI in a child
 * process: Lambda's GetFunctionUrlConfig, and the URL itself, which checks the SigV4 signature against the caller's
 * credentials as Lambda does (403 otherwise) and hands the real handler the caller's identity.
 */
export async function startApproveFunctionUrl(props: {
  region: string;
  caller: { accessKeyId: string; secretAccessKey: string; arn: string };
  deps: DecisionDeps;
}): Promise<ApproveFunctionUrl> {
  const lookedUp: string[] = [];
  let base = '';

  const authenticated = (request: IncomingMessage, body: string) =>
    String(request.headers.authorization ?? '').includes(`Credential=${props.caller.accessKeyId}/`) &&
    expectedAuthorization(request, body, props.region, props.caller.secretAccessKey) === request.headers.authorization;

  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      void (async () => {
        const send = (status: number, answer: unknown) => {
          response.writeHead(status, { 'content-type': 'application/json' });
          response.end(JSON.stringify(answer));
        };
        const config = /^\/2021-10-31\/functions\/([^/]+)\/url$/.exec(request.url ?? '');
        if (request.method === 'GET' && config) {
          lookedUp.push(decodeURIComponent(config[1]!));
          return send(200, {
            FunctionUrl: `${base}/`,
            FunctionArn: `arn:aws:lambda:${props.region}:000000000000:function:${config[1]}`,
            AuthType: 'AWS_IAM',
            CreationTime: '2026-12-01T00:00:00.000+0000',
            LastModifiedTime: '2026-12-01T00:00:00.000+0000',
          });
        }
        if (!authenticated(request, body)) return send(403, { Message: 'Forbidden' });
        const event = {
          requestContext: { http: { method: request.method }, authorizer: { iam: { userArn: props.caller.arn } } },
          body,
          isBase64Encoded: false,
        };
        const result = await answerDecisionRequest(event, props.deps);
        response.writeHead(result.statusCode, result.headers);
        response.end(result.body);
      })();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url: base, lookedUp, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
