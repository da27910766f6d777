import {
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  TaskTimedOut,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { decide, listApprovals, pendingApproval } from '../../../../lambdas/core/operator/approvals.js';
import { ApprovalDecision, kmsSeal, verifyApproval } from '../../../../lambdas/core/workflows/approval.js';
import { answerAsHmacKey, APPROVAL_KEY } from '../../../support/kms.js';

const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:lifeline-restore';
const execution = (name: string) => `arn:aws:states:eu-west-1:123456789012:execution:lifeline-restore:${name}`;
const WAITING = execution('waiting-0001');
const RESTORING = execution('restoring-0002');
const APPROVED = execution('approved-0003');
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAaHR0cHM6Ly9zdGF0ZXMuZXUtd2VzdC0xLmFtYXpvbmF3cy5jb20=';
const APPROVER = 'arn:aws:sts::123456789012:assumed-role/oncall/alice';
const SCHEDULED_AT = new Date('2026-11-23T10:55:00.000Z');

const sfn = mockClient(SFNClient);
const kms = mockClient(KMSClient);

/** History events as GetExecutionHistory returns them, oldest first, each with its id and the one before it. */
function history(...events: Omit<HistoryEvent, 'id' | 'previousEventId' | 'timestamp'>[]): HistoryEvent[] {
  return events.map((event, i) => ({
    ...event,
    id: i + 1,
    previousEventId: i,
    timestamp: new Date(SCHEDULED_AT.getTime() + (i - events.length + 3) * 1000),
  }));
}

const started = { type: 'ExecutionStarted' as const, executionStartedEventDetails: { input: '{"database":"shop","cutover":"shop-api"}' } };
const waitState = {
  request: { database: 'shop', cutover: 'shop-api' },
  target: { database: 'shop_restored_202611231050' },
  validation: { passed: true, summary: 'All 12 tables match the backup.' },
};
const sns = { resourceType: 'sns', resource: 'publish.waitForTaskToken' };
/** restore.asl.json's WaitForApproval: entered, scheduled with its parameters (the token an attribute), started, submitted. */
const waiting = [
  { type: 'TaskStateEntered' as const, stateEnteredEventDetails: { name: 'WaitForApproval', input: JSON.stringify(waitState) } },
  {
    type: 'TaskScheduled' as const,
    taskScheduledEventDetails: {
      ...sns,
      region: 'eu-west-1',
      timeoutInSeconds: 86400,
      parameters: JSON.stringify({
        TopicArn: 'arn:aws:sns:eu-west-1:123456789012:lifeline-approvals',
        Subject: 'Lifeline: approve the restore of shop',
        Message: {
          question: 'Approve to switch the application shop-api to shop_restored_202611231050?',
          approve: `lifeline approve ${WAITING} --comment "..."`,
          reject: `lifeline reject ${WAITING} --reason "..."`,
          report: waitState.validation,
          timeoutSeconds: 86400,
          executionArn: WAITING,
        },
        // The token travels as an attribute, which e-mail subscriptions do not show.
        MessageAttributes: { taskToken: { DataType: 'String', StringValue: TOKEN } },
      }),
    },
  },
  { type: 'TaskStarted' as const, taskStartedEventDetails: sns },
  { type: 'TaskSubmitted' as const, taskSubmittedEventDetails: { ...sns, output: '{"MessageId":"5b6f1d0e-0000-4000-8000-000000000000"}' } },
];
const ecs = { resourceType: 'ecs', resource: 'runTask.sync' };
const restoringHistory = history(
  started,
  { type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'RunRestore', input: '{}' } },
  { type: 'TaskScheduled', taskScheduledEventDetails: { ...ecs, region: 'eu-west-1', parameters: '{}' } },
  { type: 'TaskStarted', taskStartedEventDetails: ecs },
  { type: 'TaskSubmitted', taskSubmittedEventDetails: { ...ecs, output: '{}' } },
);
const approvedHistory = history(started, ...waiting, {
  type: 'TaskSucceeded',
  taskSucceededEventDetails: {
    ...sns,
    output: JSON.stringify({ approver: APPROVER, comment: null, decidedAt: SCHEDULED_AT.toISOString() }),
  },
});
const waitingHistory = history(started, ...waiting);

/** GetExecutionHistory with reverseOrder, two events a page, as a caller asking for small pages gets it. */
function answerHistory(executionArn: string, events: HistoryEvent[]) {
  const newestFirst = [...events].reverse();
  for (let page = 0; page * 2 < newestFirst.length; page++) {
    sfn
      .on(GetExecutionHistoryCommand, { executionArn, reverseOrder: true, ...(page > 0 ? { nextToken: `page-${page}` } : {}) }, false)
      .resolves({
        events: newestFirst.slice(page * 2, page * 2 + 2),
        ...(page * 2 + 2 < newestFirst.length ? { nextToken: `page-${page + 1}` } : {}),
      });
  }
}

beforeEach(() => {
  sfn.reset();
  kms.reset();
  answerAsHmacKey(kms);
  answerHistory(WAITING, waitingHistory);
  answerHistory(RESTORING, restoringHistory);
  answerHistory(APPROVED, approvedHistory);
});

const summary = (arn: string) => ({
  executionArn: arn,
  stateMachineArn: STATE_MACHINE,
  name: arn.split(':').at(-1),
  status: 'RUNNING' as const,
  startDate: new Date('2026-11-23T10:50:00Z'),
});

describe('pending approvals', () => {
  it('finds the token and the request in the history, following its pages back to where the state was entered', async () => {
    const pending = await pendingApproval(new SFNClient({ region: 'eu-west-1' }), WAITING);
    expect(pending).toEqual({
      executionArn: WAITING,
      state: 'WaitForApproval',
      since: waitingHistory[2]!.timestamp,
      database: 'shop',
      target: 'shop_restored_202611231050',
      question: 'Approve to switch the application shop-api to shop_restored_202611231050?',
      report: { passed: true, summary: 'All 12 tables match the backup.' },
      token: TOKEN,
    });
    // Newest first: submitted and started on the first page, scheduled and entered (token, request) on the second.
    expect(sfn.commandCalls(GetExecutionHistoryCommand, { executionArn: WAITING, reverseOrder: true })).toHaveLength(2);
  });

  it('lists only the running executions that wait for a human, across ListExecutions pages', async () => {
    sfn
      .on(ListExecutionsCommand, { stateMachineArn: STATE_MACHINE, statusFilter: 'RUNNING' }, false)
      .resolves({ executions: [summary(RESTORING), summary(WAITING)], nextToken: 'more' })
      .on(ListExecutionsCommand, { stateMachineArn: STATE_MACHINE, statusFilter: 'RUNNING', nextToken: 'more' }, false)
      .resolves({ executions: [summary(APPROVED)] });
    const approvals = await listApprovals(new SFNClient({ region: 'eu-west-1' }), STATE_MACHINE);
    expect(approvals.map((a) => a.executionArn)).toEqual([WAITING]);
    expect(sfn.commandCalls(ListExecutionsCommand)).toHaveLength(2);
  });

  it('finds none in an execution that runs another task or whose approval was answered', async () => {
    const client = new SFNClient({ region: 'eu-west-1' });
    expect(await pendingApproval(client, RESTORING)).toBeUndefined();
    expect(await pendingApproval(client, APPROVED)).toBeUndefined();
  });
});

describe('approve and reject', () => {
  const seal = () => kmsSeal(new KMSClient({ region: 'eu-west-1' }), APPROVAL_KEY);
  const deps = (starterOf?: (executionArn: string) => Promise<string>) => ({
    sfn: new SFNClient({ region: 'eu-west-1' }),
    seal: seal(),
    starterOf,
    now: () => new Date('2026-11-23T11:02:00.000Z'),
  });
  const alice = { identity: APPROVER };

  it('approves as the identity it is given, signed for this execution and state, with the token from the history', async () => {
    sfn.on(SendTaskSuccessCommand).resolves({});
    const recorded = await decide(WAITING, alice, { approve: true, comment: 'counts look right' }, deps());
    expect(recorded).toEqual({ executionArn: WAITING, state: 'WaitForApproval', approver: APPROVER, decision: 'approved' });
    const [call] = sfn.commandCalls(SendTaskSuccessCommand);
    expect(call!.args[0].input.taskToken).toBe(TOKEN);
    const output = ApprovalDecision.parse(JSON.parse(call!.args[0].input.output!));
    expect(output).toEqual({
      approver: APPROVER,
      comment: 'counts look right',
      decidedAt: '2026-11-23T11:02:00.000Z',
      signature: expect.any(String),
    });
    // VerifyApproval takes it here, and nowhere else: not for another execution, not with another approver named.
    const event = { execution: WAITING, waited: 'WaitForApproval', approval: output };
    await expect(verifyApproval(event, seal())).resolves.toEqual({ approver: APPROVER });
    await expect(verifyApproval({ ...event, execution: APPROVED }, seal())).rejects.toMatchObject({ name: 'ApprovalNotVerified' });
    await expect(
      verifyApproval({ ...event, approval: { ...output, approver: 'arn:aws:sts::123456789012:assumed-role/anyone/mallory' } }, seal()),
    ).rejects.toMatchObject({ name: 'ApprovalNotVerified' });
    const { signature: _, ...unsigned } = output;
    await expect(verifyApproval({ ...event, approval: unsigned }, seal())).rejects.toMatchObject({
      name: 'ApprovalNotVerified',
      message: expect.stringContaining(`answered without a signature (approver named: ${APPROVER})`),
    });
  });

  it('rejects with the error Rejected, the reason and the approver as its cause, signing nothing', async () => {
    sfn.on(SendTaskFailureCommand).resolves({});
    await decide(WAITING, alice, { approve: false, reason: 'wrong backup: we need the one before the migration' }, deps());
    expect(sfn.commandCalls(SendTaskFailureCommand).map((call) => call.args[0].input)).toEqual([
      { taskToken: TOKEN, error: 'Rejected', cause: `wrong backup: we need the one before the migration (rejected by ${APPROVER})` },
    ]);
    expect(kms.calls()).toHaveLength(0);
  });

  it('with separated duties, refuses the approval of whoever started the execution, who may still reject it', async () => {
    const starterOf = (executionArn: string) => Promise.resolve(executionArn === WAITING ? APPROVER : 'nobody');
    await expect(decide(WAITING, alice, { approve: true, comment: null }, deps(starterOf))).rejects.toMatchObject({
      name: 'NotAllowedToApprove',
      message: `${APPROVER} started ${WAITING}, and approval.separateDuties lets only someone else approve it (you may still reject it); nothing was decided`,
    });
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    expect(kms.calls()).toHaveLength(0);
    sfn.on(SendTaskSuccessCommand).resolves({}).on(SendTaskFailureCommand).resolves({});
    const bob = { identity: 'arn:aws:iam::123456789012:user/bob' };
    expect((await decide(WAITING, bob, { approve: true, comment: null }, deps(starterOf))).decision).toBe('approved');
    expect((await decide(WAITING, alice, { approve: false, reason: 'changed my mind' }, deps(starterOf))).decision).toBe('rejected');
  });

  it('with separated duties, tells people apart by IAM user or Identity Center user, never by a session name its caller chose', async () => {
    sfn.on(SendTaskSuccessCommand).resolves({});
    const approves = (starter: string, approver: string) =>
      decide(
        WAITING,
        { identity: approver },
        { approve: true, comment: null },
        deps(() => Promise.resolve(starter)),
      ).then(
        (recorded) => recorded.decision,
        (error: Error) => error.name,
      );
    const sso = (user: string) => `arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Oncall_0123456789abcdef/${user}`;
    // Whoever may assume oncall names the session: alice-2 is alice again.
    expect(await approves(APPROVER, 'arn:aws:sts::123456789012:assumed-role/oncall/alice-2')).toBe('NotAllowedToApprove');
    expect(await approves(APPROVER, 'arn:aws:sts::123456789012:assumed-role/oncall/bob')).toBe('NotAllowedToApprove');
    expect(await approves(sso('alice@example.com'), sso('bob@example.com'))).toBe('approved');
    expect(await approves(sso('alice@example.com'), sso('alice@example.com'))).toBe('NotAllowedToApprove');
    expect(await approves('arn:aws:iam::123456789012:user/alice', 'arn:aws:iam::123456789012:user/bob')).toBe('approved');
    expect(await approves(APPROVER, 'arn:aws:sts::123456789012:assumed-role/release-managers/bob')).toBe('approved');
  });

  it('refuses an execution that waits for nothing, naming it, and sends nothing', async () => {
    await expect(decide(RESTORING, alice, { approve: true, comment: null }, deps())).rejects.toMatchObject({
      name: 'InvalidInput',
      message: `execution ${RESTORING} is not waiting for an approval`,
    });
    expect(kms.calls()).toHaveLength(0);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
  });

  it('refuses what is not an execution ARN before calling AWS', async () => {
    for (const arn of [STATE_MACHINE, 'shop_restored_202611231050', `${WAITING}:extra`]) {
      await expect(decide(arn, alice, { approve: false, reason: 'no' }, deps())).rejects.toMatchObject({
        name: 'InvalidInput',
        message: `"${arn}" is not a Step Functions execution ARN (arn:aws:states:<region>:<account>:execution:<state machine>:<name>)`,
      });
    }
    expect(sfn.calls()).toHaveLength(0);
    expect(kms.calls()).toHaveLength(0);
  });

  it('says so when the decision comes after the task timed out', async () => {
    sfn.on(SendTaskSuccessCommand).rejects(new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} }));
    await expect(decide(WAITING, alice, { approve: true, comment: null }, deps())).rejects.toMatchObject({
      name: 'InvalidInput',
      message: `execution ${WAITING}: WaitForApproval no longer takes a decision (TaskTimedOut)`,
    });
  });
});
