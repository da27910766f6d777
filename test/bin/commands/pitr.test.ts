import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { localSeal, verifyApproval } from '../../../lambdas/core/workflows/approval.js';
import { runCli } from '../../support/cli.js';
import { startApproveFunctionUrl, type ApproveFunctionUrl } from '../../support/function-url.js';
import { startJsonEndpoint, type JsonEndpoint } from '../../support/json-endpoint.js';

const ACCOUNT = 'arn:aws:states:us-east-1:000000000000';
const RESTORE_MACHINE = `${ACCOUNT}:stateMachine:lifeline-restore`;
const PITR_MACHINE = `${ACCOUNT}:stateMachine:lifeline-pitr`;
/** The execution `start pitr` starts, which succeeds. */
const STARTED = `${ACCOUNT}:execution:lifeline-pitr:7a1d-started`;
/** A PITR execution waiting in WaitForApproval. */
const WAITING = `${ACCOUNT}:execution:lifeline-pitr:9c4e-waiting`;
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAfake-pitr-token';
const ONCALL = 'arn:aws:sts::000000000000:assumed-role/oncall/alice';
const TARGET = 'shop-production-pitr-20261123094100';

/** pitr.asl.json's WaitForApproval as Step Functions records it: entered with the execution's state, scheduled with the token. */
const waitState = {
  request: { database: 'shop', target: { identifier: TARGET }, cutover: 'shop-api' },
  validation: { passed: true, summary: `${TARGET}: 12 tables, migration 20261120_add_orders, as of 2026-11-23T09:41:00Z` },
};
const sns = { resourceType: 'sns', resource: 'publish.waitForTaskToken' };
const WAITING_HISTORY = [
  { id: 1, type: 'ExecutionStarted', timestamp: 1795431000 },
  { id: 2, type: 'TaskStateEntered', timestamp: 1795431000, stateEnteredEventDetails: { name: 'ValidateInput' } },
  {
    id: 3,
    type: 'TaskStateEntered',
    timestamp: 1795432000,
    stateEnteredEventDetails: { name: 'WaitForApproval', input: JSON.stringify(waitState) },
  },
  {
    id: 4,
    type: 'TaskScheduled',
    timestamp: 1795432000,
    taskScheduledEventDetails: {
      ...sns,
      region: 'us-east-1',
      timeoutInSeconds: 86400,
      parameters: JSON.stringify({
        TopicArn: 'arn:aws:sns:us-east-1:000000000000:lifeline-approvals',
        Subject: `Lifeline: approve the point-in-time recovery of shop into ${TARGET}`,
        Message: {
          question: `Approve to switch shop-api to ${TARGET}?`,
          report: waitState.validation,
          timeoutSeconds: 86400,
          executionArn: WAITING,
        },
        MessageAttributes: { taskToken: { DataType: 'String', StringValue: TOKEN } },
      }),
    },
  },
  { id: 5, type: 'TaskStarted', timestamp: 1795432000, taskStartedEventDetails: sns },
  { id: 6, type: 'TaskSubmitted', timestamp: 1795432001, taskSubmittedEventDetails: { ...sns, output: '{}' } },
];
/** A hand-started cutover waiting for its own approval: no restore behind it, its question says what it asks. */
const CUTOVER_MACHINE = `${ACCOUNT}:stateMachine:lifeline-cutover`;
const CUTOVER_WAITING = `${ACCOUNT}:execution:lifeline-cutover:hand-started`;
const CUTOVER_QUESTION = 'Approve to switch shop-api to shop_restored_20261123094100?';
const CUTOVER_HISTORY = WAITING_HISTORY.map((event) =>
  event.type === 'TaskStateEntered' && event.stateEnteredEventDetails?.name === 'WaitForApproval'
    ? { ...event, timestamp: 1795433000, stateEnteredEventDetails: { name: 'WaitForApproval', input: '{"application":"shop-api"}' } }
    : event.type === 'TaskScheduled'
      ? {
          ...event,
          timestamp: 1795433000,
          taskScheduledEventDetails: {
            ...event.taskScheduledEventDetails,
            parameters: JSON.stringify({
              TopicArn: 'arn:aws:sns:us-east-1:000000000000:lifeline-approvals',
              Message: { question: CUTOVER_QUESTION, timeoutSeconds: 86400, executionArn: CUTOVER_WAITING },
              MessageAttributes: { taskToken: { DataType: 'String', StringValue: 'AQCEAAAAKgAAAAMAAAAAAAAAAfake-cutover-token' } },
            }),
          },
        }
      : event,
);
const STARTED_HISTORY = [
  { id: 1, type: 'ExecutionStarted', timestamp: 1795431000 },
  { id: 2, type: 'TaskStateEntered', timestamp: 1795431000, stateEnteredEventDetails: { name: 'ValidateInput' } },
  { id: 3, type: 'TaskStateEntered', timestamp: 1795431001, stateEnteredEventDetails: { name: 'StartRestore' } },
  { id: 4, type: 'SucceedStateEntered', timestamp: 1795431900, stateEnteredEventDetails: { name: 'Done' } },
  { id: 5, type: 'ExecutionSucceeded', timestamp: 1795431900 },
];

/** Credentials and a region, so that a call fails only where its endpoint does. */
const AWS = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
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

let sfn: JsonEndpoint;
let sts: { url: string; server: Server };
let approveUrl: ApproveFunctionUrl;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  sts = await startSts();
  sfn = await startJsonEndpoint({
    'AWSStepFunctions.ListStateMachines': () => ({
      stateMachines: [
        { name: 'lifeline-restore', stateMachineArn: RESTORE_MACHINE, type: 'STANDARD', creationDate: 1795000000 },
        { name: 'lifeline-cutover', stateMachineArn: CUTOVER_MACHINE, type: 'STANDARD', creationDate: 1795000000 },
        { name: 'lifeline-pitr', stateMachineArn: PITR_MACHINE, type: 'STANDARD', creationDate: 1795000000 },
      ],
    }),
    'AWSStepFunctions.StartExecution': () => ({ executionArn: STARTED, startDate: 1795431000 }),
    'AWSStepFunctions.DescribeExecution': ({ executionArn }: { executionArn: string }) =>
      executionArn === STARTED
        ? {
            executionArn,
            stateMachineArn: PITR_MACHINE,
            status: 'SUCCEEDED',
            startDate: 1795431000,
            stopDate: 1795431900,
            output: '{"message":"restored"}',
          }
        : { executionArn, stateMachineArn: PITR_MACHINE, status: 'RUNNING', startDate: 1795431000 },
    'AWSStepFunctions.GetExecutionHistory': ({ executionArn, reverseOrder }: { executionArn: string; reverseOrder?: boolean }) => {
      const events = [
        ...(executionArn === STARTED ? STARTED_HISTORY : executionArn === CUTOVER_WAITING ? CUTOVER_HISTORY : WAITING_HISTORY),
      ];
      return { events: reverseOrder ? events.reverse() : events };
    },
    'AWSStepFunctions.ListExecutions': ({ stateMachineArn }: { stateMachineArn: string }) => ({
      executions:
        stateMachineArn === PITR_MACHINE
          ? [{ executionArn: WAITING, stateMachineArn, name: '9c4e-waiting', status: 'RUNNING', startDate: 1795431000 }]
          : stateMachineArn === CUTOVER_MACHINE
            ? [{ executionArn: CUTOVER_WAITING, stateMachineArn, name: 'hand-started', status: 'RUNNING', startDate: 1795433000 }]
            : [],
    }),
    'AWSStepFunctions.SendTaskSuccess': () => ({}),
  });
  const region = AWS.AWS_REGION;
  const credentials = { accessKeyId: AWS.AWS_ACCESS_KEY_ID, secretAccessKey: AWS.AWS_SECRET_ACCESS_KEY };
  approveUrl = await startApproveFunctionUrl({
    region,
    caller: { ...credentials, arn: ONCALL },
    deps: { sfn: new SFNClient({ region, endpoint: sfn.url, credentials }), seal: localSeal() },
  });
  env = { ...AWS, AWS_ENDPOINT_URL_SFN: sfn.url, AWS_ENDPOINT_URL_STS: sts.url, AWS_ENDPOINT_URL_LAMBDA: approveUrl.url };
});

beforeEach(() => {
  sfn.calls.length = 0;
});

afterAll(async () => {
  await sfn.close();
  await approveUrl.close();
  sts.server.close();
});

const startedInputs = () =>
  sfn.calls
    .filter((c) => c.target === 'AWSStepFunctions.StartExecution')
    .map((c) => ({ machine: c.body.stateMachineArn, input: JSON.parse(c.body.input) }));

describe('lifeline start pitr', () => {
  it('starts <name>-pitr with the time and the cutover, and --wait follows it to its end', async () => {
    const { code, stdout, stderr } = await runCli(
      ['start', 'pitr', '--database', 'shop', '--at', '2026-11-23T09:41:00Z', '--cutover', 'shop-api', '--wait'],
      env,
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(startedInputs()).toEqual([
      { machine: PITR_MACHINE, input: { database: 'shop', restorePoint: '2026-11-23T09:41:00Z', cutover: 'shop-api' } },
    ]);
    expect(stdout).toContain(`started ${STARTED}`);
    expect(stdout).toMatch(/ValidateInput\n.*StartRestore\n.*Done\nSUCCEEDED in 900 s/);
  });

  it('takes --latest, --snapshot or --latest-snapshot as the restore point, and --target', async () => {
    const cases = [
      ['--latest'],
      ['--snapshot', 'shop-before-release-42'],
      ['--latest-snapshot', 'automated', '--target', 'shop-pitr-before-migration'],
      ['--at', '2026-11-23T09:41:00Z', '--strategy', 'rename', '--validate-as', 'shop-api', '--final-snapshot'],
      ['--latest', '--copy-on-write', '--cutover', 'shop-api'],
    ];
    for (const flags of cases) {
      const { code, stdout } = await runCli(['start', 'pitr', '--database', 'shop', ...flags, '--json'], env);
      expect(code, flags.join(' ')).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject({ executionArn: STARTED });
    }
    expect(startedInputs().map((s) => s.input)).toEqual([
      { database: 'shop', restorePoint: 'latest' },
      { database: 'shop', restorePoint: { snapshot: { identifier: 'shop-before-release-42' } } },
      { database: 'shop', restorePoint: { snapshot: { latest: 'automated' } }, target: 'shop-pitr-before-migration' },
      { database: 'shop', restorePoint: '2026-11-23T09:41:00Z', strategy: 'rename', validateAs: 'shop-api', finalSnapshot: true },
      { database: 'shop', restorePoint: 'latest', copyOnWrite: true, cutover: 'shop-api' },
    ]);
  });

  it('refuses, before any AWS call (exit code 2), no restore point, two of them, and what the workflow would refuse', async () => {
    const refusals: [string[], string][] = [
      [[], 'give exactly one of --at, --latest, --snapshot or --latest-snapshot'],
      [['--latest', '--at', '2026-11-23T09:41:00Z'], 'give exactly one of --at, --latest, --snapshot or --latest-snapshot'],
      [['--at', 'yesterday'], 'restorePoint'],
      [['--latest', '--target', 'shop-copy'], 'target: must contain "-pitr-"'],
      [['--at', '2026-11-23T09:41:00Z', '--copy-on-write'], 'copyOnWrite: a copy-on-write clone is of the latest restorable time only'],
      [['--latest', '--strategy', 'rename', '--cutover', 'shop-api'], 'cutover: must be left out with strategy "rename"'],
      [['--latest', '--strategy', 'swap'], 'strategy: '],
    ];
    for (const [flags, message] of refusals) {
      const { code, stdout, stderr } = await runCli(['start', 'pitr', '--database', 'shop', ...flags], env);
      expect(code, flags.join(' ')).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toContain('lifeline: InvalidInput: ');
      expect(stderr).toContain(message);
    }
    expect(sfn.calls).toEqual([]);
  });
});

describe("a PITR execution's approval", () => {
  it('is listed by lifeline approvals beside the restores, with the database and the new identifier', async () => {
    const { code, stdout } = await runCli(['approvals'], env);
    expect(code).toBe(0);
    expect(stdout).toContain(WAITING);
    expect(stdout).toContain(`shop restored into ${TARGET}, waiting in WaitForApproval`);
    expect(stdout).toContain(`validation passed: ${waitState.validation.summary}`);
    // A cutover's own approval, after it: what it asks, since no restore is behind it.
    expect(stdout).toContain(`${CUTOVER_WAITING}\n  ${CUTOVER_QUESTION}, waiting in WaitForApproval`);
    expect(stdout.indexOf(WAITING)).toBeLessThan(stdout.indexOf(CUTOVER_WAITING));
    // Every workflow's executions were asked for.
    expect(sfn.calls.filter((c) => c.target === 'AWSStepFunctions.ListExecutions').map((c) => c.body.stateMachineArn)).toEqual([
      RESTORE_MACHINE,
      PITR_MACHINE,
      CUTOVER_MACHINE,
    ]);
    const json = await runCli(['approvals', '--json'], env);
    expect(JSON.parse(json.stdout).approvals).toEqual([
      expect.objectContaining({ executionArn: WAITING, database: 'shop', target: TARGET, state: 'WaitForApproval' }),
      expect.objectContaining({ executionArn: CUTOVER_WAITING, database: null, target: null, question: CUTOVER_QUESTION }),
    ]);
    expect(json.stdout).not.toContain(TOKEN);
  });

  it('is answered by lifeline approve through the approve function URL, recording the identity AWS authenticated', async () => {
    const { code, stdout, stderr } = await runCli(['approve', WAITING, '--comment', 'orders back as of 09:41'], env);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(`approved WaitForApproval of ${WAITING} as ${ONCALL}`);
    expect(approveUrl.lookedUp).toEqual(['lifeline-approve']);
    const [answer] = sfn.calls.filter((c) => c.target === 'AWSStepFunctions.SendTaskSuccess');
    expect(answer!.body.taskToken).toBe(TOKEN);
    const approval = JSON.parse(answer!.body.output);
    expect(approval).toMatchObject({ approver: ONCALL, comment: 'orders back as of 09:41' });
    // Sealed for this execution's WaitForApproval: VerifyApproval takes it there and nowhere else.
    await expect(verifyApproval({ execution: WAITING, waited: 'WaitForApproval', approval }, localSeal())).resolves.toMatchObject({
      approver: ONCALL,
    });
  });

  it("is refused by the function URL when the request is not signed with the caller's credentials", async () => {
    const { code, stderr } = await runCli(['approve', WAITING], {
      ...env,
      AWS_SECRET_ACCESS_KEY: 'not-the-callers-secret-key-00000000000000',
    });
    expect(code).not.toBe(0);
    expect(stderr).toContain('NotAllowedToApprove');
    expect(sfn.calls.filter((c) => c.target.startsWith('AWSStepFunctions.SendTask'))).toEqual([]);
  });
});
