import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One call the endpoint answered: its X-Amz-Target and its JSON body. */
export interface JsonCall {
  target: string;
  body: any;
}

export interface JsonEndpoint {
  /** `http://127.0.0.1:<port>`, for an SDK's AWS_ENDPOINT_URL_<SERVICE>. */
  url: string;
  calls: JsonCall[];
  close(): Promise<void>;
}

/**
 * A loopback endpoint for AWS APIs that speak the JSON protocol (Secrets Manager, CloudWatch, SQS), for a child
 * process that aws-sdk-client-mock cannot reach: each X-Amz-Target (`secretsmanager.GetSecretValue`) answers with
 * what its handler returns, in the shape the real API returns; any other is refused as the services refuse one.
 */
export async function startJsonEndpoint(handlers: Record<string, (body: any) => unknown>): Promise<JsonEndpoint> {
  const calls: JsonCall[] = [];
  const server = createServer((request, response) => {
    let text = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    request.on('end', () => {
      const target = String(request.headers['x-amz-target'] ?? '');
      const body: unknown = text ? JSON.parse(text) : {};
      calls.push({ target, body });
      const handler = handlers[target];
      const [status, answer] = handler ? [200, handler(body)] : [400, { __type: 'UnknownOperationException', message: `no ${target}` }];
      response.writeHead(status, { 'content-type': request.headers['content-type'] ?? 'application/x-amz-json-1.0' });
      response.end(JSON.stringify(answer));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
