import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { KMSClient } from '@aws-sdk/client-kms';
import { GetFunctionUrlConfigCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { requestDecision } from '../../../../lambdas/core/operator/approve-client.js';
import { answerDecisionRequest } from '../../../../lambdas/core/operator/approve-url.js';
import { executionStarter } from '../../../../lambdas/core/operator/starter.js';
import { kmsSeal } from '../../../../lambdas/core/workflows/approval.js';
import { answerAsHmacKey, APPROVAL_KEY } from '../../../support/kms.js';

const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:lifeline-cutover:hand-started-0001';
const STARTED_AT = new Date('2026-12-05T09:00:00.000Z');
const ALICE = 'arn:aws:sts::123456789012:assumed-role/oncall/alice';
const BOB = 'arn:aws:sts::123456789012:assumed-role/release-managers/bob';
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAaHR0cHM6Ly9zdGF0ZXMuZXUtd2VzdC0xLmFtYXpvbmF3cy5jb20=';
const FUNCTION_URL = 'https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/';

const sfn = mockClient(SFNClient);
const kms = mockClient(KMSClient);
const cloudTrail = mockClient(CloudTrailClient);
const lambda = mockClient(LambdaClient);

/** A CloudTrail event as LookupEvents returns it: the record itself is JSON text in CloudTrailEvent. */
function startExecutionEvent(executionArn: string, userArn: string, minutes: number) {
  const at = new Date(STARTED_AT.getTime() + minutes * 60_000);
  return {
    EventId: `0e6d3a0c-${minutes}`,
    EventName: 'StartExecution',
    EventTime: at,
    EventSource: 'states.amazonaws.com',
    Username: userArn.split('/').at(-1),
    CloudTrailEvent: JSON.stringify({
      eventVersion: '1.09',
      userIdentity: { type: 'AssumedRole', principalId: 'AROAEXAMPLE:alice', arn: userArn, accountId: '123456789012' },
      eventTime: at.toISOString(),
      eventSource: 'states.amazonaws.com',
      eventName: 'StartExecution',
      awsRegion: 'eu-west-1',
      requestParameters: { stateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:lifeline-cutover' },
      responseElements: { executionArn, startDate: at.toISOString() },
    }),
  };
}

/** cutover.asl.json's WaitForApproval in the history, newest first. */
const waitingHistory = [
  {
    id: 4,
    type: 'TaskSubmitted' as const,
    timestamp: STARTED_AT,
    taskSubmittedEventDetails: { resourceType: 'sns', resource: 'publish.waitForTaskToken' },
  },
  {
    id: 3,
    type: 'TaskStarted' as const,
    timestamp: STARTED_AT,
    taskStartedEventDetails: { resourceType: 'sns', resource: 'publish.waitForTaskToken' },
  },
  {
    id: 2,
    type: 'TaskScheduled' as const,
    timestamp: STARTED_AT,
    taskScheduledEventDetails: {
      resourceType: 'sns',
      resource: 'publish.waitForTaskToken',
      region: 'eu-west-1',
      parameters: JSON.stringify({
        TopicArn: 'arn:aws:sns:eu-west-1:123456789012:lifeline-notifications',
        Message: { question: 'Approve to switch shop-api?', executionArn: EXECUTION },
        MessageAttributes: { taskToken: { DataType: 'String', StringValue: TOKEN } },
      }),
    },
  },
  { id: 1, type: 'TaskStateEntered' as const, timestamp: STARTED_AT, stateEnteredEventDetails: { name: 'WaitForApproval', input: '{}' } },
];

beforeEach(() => {
  sfn.reset();
  kms.reset();
  cloudTrail.reset();
  lambda.reset();
  answerAsHmacKey(kms);
  sfn.on(DescribeExecutionCommand, { executionArn: EXECUTION }).resolves({
    executionArn: EXECUTION,
    stateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:lifeline-cutover',
    status: 'RUNNING',
    startDate: STARTED_AT,
  });
  sfn.on(GetExecutionHistoryCommand, { executionArn: EXECUTION }).resolves({ events: waitingHistory });
  sfn.on(SendTaskSuccessCommand).resolves({});
});

describe('who started an execution (approval.separateDuties)', () => {
  const deps = () => ({ sfn: new SFNClient({ region: 'eu-west-1' }), cloudTrail: new CloudTrailClient({ region: 'eu-west-1' }) });

  it("is the identity of CloudTrail's StartExecution whose response names it, looked for around its start, across pages", async () => {
    cloudTrail
      .on(LookupEventsCommand, {}, false)
      .resolves({ Events: [startExecutionEvent(`${EXECUTION}-other`, BOB, 0)], NextToken: 'more' })
      .on(LookupEventsCommand, { NextToken: 'more' }, false)
      .resolves({ Events: [startExecutionEvent(EXECUTION, ALICE, 0)] });
    await expect(executionStarter(deps(), EXECUTION)).resolves.toBe(ALICE);
    const [first] = cloudTrail.commandCalls(LookupEventsCommand);
    expect(first!.args[0].input).toMatchObject({
      LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'StartExecution' }],
      StartTime: new Date('2026-12-05T08:55:00.000Z'),
      EndTime: new Date('2026-12-05T09:05:00.000Z'),
    });
  });

  it('is StarterUnknown, saying to try again, while CloudTrail has not recorded the start', async () => {
    cloudTrail.on(LookupEventsCommand).resolves({ Events: [startExecutionEvent(`${EXECUTION}-other`, BOB, 1)] });
    await expect(executionStarter(deps(), EXECUTION)).rejects.toMatchObject({
      name: 'StarterUnknown',
      message: expect.stringContaining('approve again in a few minutes'),
    });
  });
});

describe('the approve function behind its URL', () => {
  const deps = (separateDuties = false) => {
    const sfnClient = new SFNClient({ region: 'eu-west-1' });
    const cloudTrailClient = new CloudTrailClient({ region: 'eu-west-1' });
    return {
      sfn: sfnClient,
      seal: kmsSeal(new KMSClient({ region: 'eu-west-1' }), APPROVAL_KEY),
      starterOf: separateDuties ? (arn: string) => executionStarter({ sfn: sfnClient, cloudTrail: cloudTrailClient }, arn) : undefined,
    };
  };
  /** A function URL event (payload 2.0) as Lambda sends it once it authenticated the caller. */
  const urlEvent = (userArn: string, body: unknown, base64 = false) => ({
    version: '2.0',
    routeKey: '$default',
    rawPath: '/',
    headers: { 'content-type': 'application/json' },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abcdefghijklmnopqrstuvwxyz012345',
      authorizer: {
        iam: { accessKey: 'ASIAEXAMPLE', accountId: '123456789012', callerId: 'AROAEXAMPLE:x', userArn, userId: 'AROAEXAMPLE:x' },
      },
      http: { method: 'POST', path: '/', protocol: 'HTTP/1.1', sourceIp: '198.51.100.7', userAgent: 'lifeline' },
      requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
      time: '05/Dec/2026:09:03:00 +0000',
      timeEpoch: 1796461380000,
    },
    body: base64 ? Buffer.from(JSON.stringify(body)).toString('base64') : JSON.stringify(body),
    isBase64Encoded: base64,
  });

  it('records the caller Lambda authenticated, whatever the body says, and signs the decision', async () => {
    const body = { executionArn: EXECUTION, approve: true, comment: 'as agreed in the incident channel' };
    const result = await answerDecisionRequest(urlEvent(BOB, body, true), deps());
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body)).toEqual({ executionArn: EXECUTION, state: 'WaitForApproval', approver: BOB, decision: 'approved' });
    const output = JSON.parse(sfn.commandCalls(SendTaskSuccessCommand)[0]!.args[0].input.output!);
    expect(output).toMatchObject({ approver: BOB, comment: 'as agreed in the incident channel', signature: expect.any(String) });
    // A body naming an approver is refused: the approver is not the caller's to say.
    const named = await answerDecisionRequest(urlEvent(BOB, { ...body, approver: ALICE }), deps());
    expect(named.statusCode).toBe(400);
    expect(JSON.parse(named.body)).toMatchObject({ error: 'InvalidInput' });
  });

  it('decides nothing for an event without an authenticated caller (not from the URL)', async () => {
    const result = await answerDecisionRequest({ executionArn: EXECUTION, approve: true, comment: null }, deps());
    expect(result.statusCode).toBe(403);
    expect(JSON.parse(result.body)).toMatchObject({ error: 'NotAllowedToApprove' });
    expect(sfn.calls()).toHaveLength(0);
  });

  it('with separated duties, refuses the starter (403) and takes anyone else', async () => {
    cloudTrail.on(LookupEventsCommand).resolves({ Events: [startExecutionEvent(EXECUTION, ALICE, 0)] });
    const body = { executionArn: EXECUTION, approve: true, comment: null };
    const refused = await answerDecisionRequest(urlEvent(ALICE, body), deps(true));
    expect(refused.statusCode).toBe(403);
    expect(JSON.parse(refused.body)).toMatchObject({ error: 'NotAllowedToApprove' });
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    const taken = await answerDecisionRequest(urlEvent(BOB, body), deps(true));
    expect(JSON.parse(taken.body)).toMatchObject({ approver: BOB, decision: 'approved' });
  });
});

describe('lifeline approve: the request it signs', () => {
  const credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
  const client = () => new LambdaClient({ region: 'eu-west-1', credentials });

  it("POSTs the decision to the deployment's approve function URL, signed with SigV4 for lambda in the execution's region", async () => {
    lambda
      .on(GetFunctionUrlConfigCommand, { FunctionName: 'lifeline-approve' })
      .resolves({ FunctionUrl: FUNCTION_URL, AuthType: 'AWS_IAM' });
    const sent: { url: string; init: RequestInit }[] = [];
    const fetch = (url: URL | string, init?: RequestInit) => {
      sent.push({ url: String(url), init: init! });
      const recorded = { executionArn: EXECUTION, state: 'WaitForApproval', approver: BOB, decision: 'approved' };
      return Promise.resolve(new Response(JSON.stringify(recorded), { status: 200, headers: { 'content-type': 'application/json' } }));
    };
    const recorded = await requestDecision(
      EXECUTION,
      { approve: true, comment: 'ok' },
      { lambda: client(), fetch: fetch as typeof globalThis.fetch },
    );
    expect(recorded.approver).toBe(BOB);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.url).toBe(FUNCTION_URL);
    expect(JSON.parse(sent[0]!.init.body as string)).toEqual({ executionArn: EXECUTION, approve: true, comment: 'ok' });
    const headers = sent[0]!.init.headers as Record<string, string>;
    expect(headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\/\d{8}\/eu-west-1\/lambda\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
    );
    expect(headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
  });

  it('says the approvers policy is missing when Lambda refuses the caller, and passes on the function’s own error by name', async () => {
    lambda.on(GetFunctionUrlConfigCommand).resolves({ FunctionUrl: FUNCTION_URL, AuthType: 'AWS_IAM' });
    const forbidden = () => Promise.resolve(new Response(JSON.stringify({ Message: 'Forbidden' }), { status: 403 }));
    await expect(
      requestDecision(EXECUTION, { approve: false, reason: 'no' }, { lambda: client(), fetch: forbidden }),
    ).rejects.toMatchObject({
      name: 'NotAllowedToApprove',
      message: expect.stringContaining('an approver needs the lifeline-approvers policy'),
    });
    const starterUnknown = () =>
      Promise.resolve(
        new Response(JSON.stringify({ error: 'StarterUnknown', message: 'approve again in a few minutes' }), { status: 409 }),
      );
    await expect(
      requestDecision(EXECUTION, { approve: true, comment: null }, { lambda: client(), fetch: starterUnknown }),
    ).rejects.toMatchObject({
      name: 'StarterUnknown',
    });
  });

  it('refuses an execution that is not of a Lifeline workflow before calling AWS', async () => {
    const other = 'arn:aws:states:eu-west-1:123456789012:execution:billing-export:run-1';
    await expect(requestDecision(other, { approve: true, comment: null }, { lambda: client() })).rejects.toMatchObject({
      name: 'InvalidInput',
    });
    expect(lambda.calls()).toHaveLength(0);
  });
});
