import { DynamoDBClient, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.js';
import { startLockTable } from '../../support/control-planes.js';
import { startJsonEndpoint, type JsonEndpoint } from '../../support/json-endpoint.js';

const TABLE = 'lifeline-cutover-locks';
const HOLDER = 'arn:aws:states:us-east-1:000000000000:execution:lifeline-cutover:3f2c-failed';
const ONCALL = 'arn:aws:sts::000000000000:assumed-role/oncall/alice';

/** Credentials and a region, so that a call fails only where its endpoint does. */
const AWS = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
const NO_AWS = {
  ...AWS,
  AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9',
  AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:9',
  AWS_ENDPOINT_URL_SFN: 'http://127.0.0.1:9',
};

/** STS on loopback (its query protocol answers XML): GetCallerIdentity as an assumed role. */
async function startSts(): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    request.resume().on('end', () => {
      response.writeHead(200, { 'content-type': 'text/xml' });
      response.end(
        `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>${ONCALL}</Arn><UserId>AROAEXAMPLE:alice</UserId><Account>000000000000</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
      );
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

let dynamodb: DynamoDBClient;
let stopTable: () => void;
let sts: { url: string; server: Server };
let sfn: JsonEndpoint;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  ({ dynamodb, stop: stopTable } = await startLockTable(TABLE));
  sts = await startSts();
  sfn = await startJsonEndpoint({
    'AWSStepFunctions.DescribeExecution': ({ executionArn }: { executionArn: string }) => ({
      executionArn,
      stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:lifeline-cutover',
      status: 'FAILED',
      startDate: 1795431000,
      stopDate: 1795431600,
    }),
  });
  const endpoint = await dynamodb.config.endpoint!();
  env = {
    ...AWS,
    AWS_ENDPOINT_URL_DYNAMODB: `${endpoint.protocol}//${endpoint.hostname}:${endpoint.port}`,
    AWS_ENDPOINT_URL_STS: sts.url,
    AWS_ENDPOINT_URL_SFN: sfn.url,
  };
});

afterAll(async () => {
  stopTable();
  sts.server.close();
  await sfn.close();
});

describe('lifeline unlock', () => {
  it('refuses without --reason, or with an empty one, before calling AWS (exit code 2)', async () => {
    const missing = await runCli(['unlock', 'shop-api'], NO_AWS);
    expect(missing.code).toBe(2);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toBe(
      '\nlifeline: InvalidInput: --reason: is required: say why the lock may go (what you checked), for the record\n',
    );
    const empty = await runCli(['unlock', 'shop-api', '--reason', '  '], NO_AWS);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toBe('\nlifeline: InvalidInput: --reason: must say why the lock may go (what you checked)\n');
    const application = await runCli(['unlock', 'Shop API', '--reason', 'checked'], NO_AWS);
    expect(application.code).toBe(2);
    expect(application.stderr).toMatch(/^\nlifeline: InvalidInput: invalid application: must be 1-32 lowercase letters/);
  });

  it('deletes a kept lock, printing the caller’s identity and the reason, then says there is none', async () => {
    await dynamodb.send(
      new PutItemCommand({
        TableName: TABLE,
        Item: { application: { S: 'shop-api' }, executionArn: { S: HOLDER }, keptFor: { S: 'RollbackUnhealthy' } },
      }),
    );
    const cleared = await runCli(['unlock', 'shop-api', '--reason', 'old database checked, orders flowing'], env);
    expect(cleared.stderr).toBe('');
    expect(cleared.code).toBe(0);
    expect(cleared.stdout).toMatch(
      new RegExp(
        `^unlocked shop-api: deleted its cutover lock, held by ${HOLDER} \\(FAILED at 2026-11-23T11:00:00.000Z\\), kept after RollbackUnhealthy, from ${TABLE} at \\S+ as ${ONCALL}, because: old database checked, orders flowing\\n$`,
      ),
    );
    expect((await dynamodb.send(new ScanCommand({ TableName: TABLE }))).Items).toEqual([]);
    expect(sfn.calls.map((call) => [call.target, call.body])).toEqual([['AWSStepFunctions.DescribeExecution', { executionArn: HOLDER }]]);

    const again = await runCli(['unlock', 'shop-api', '--reason', 'checked', '--json'], env);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({
      application: 'shop-api',
      table: TABLE,
      unlocked: false,
      message: `shop-api holds no cutover lock in ${TABLE}: nothing to unlock`,
    });
  });

  it('looks in the lock table of the deployment --name gives', async () => {
    const { code, stderr } = await runCli(['unlock', 'shop-api', '--reason', 'checked', '--name', 'acme'], env);
    expect(code).toBe(2);
    expect(stderr).toBe(
      "\nlifeline: InvalidInput: no lock table acme-cutover-locks in this region: pass --name with the config's name and --region with the deployment's region\n",
    );
  });
});
