/**
 * What the workflow tests share: the deployment's placeholders as the real .asl.json files are filled in with,
 * asl-validator, and connections resolved as the runner resolves them.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createRequire } from 'node:module';
import type { S3Client } from '@aws-sdk/client-s3';
import { runnerExitCode } from '../../lambdas/core/exit-codes.js';
import { RestoreJob, runRestoreJob } from '../../lambdas/core/restore/job.js';
import {
  inProcessTask,
  type CallbackAnswer,
  type CallbackRequest,
  type Json,
  type LambdaHandler,
} from '../../lambdas/core/workflows/local.js';
import { answerDecision } from '../../lambdas/core/operator/approvals.js';
import { localSeal } from '../../lambdas/core/workflows/approval.js';
import { runVerifyApprovalStep } from '../../lambdas/core/workflows/approval-step.js';
import { connectionFromSecret, type SecretDefaults } from '../../lambdas/core/postgres/connection-secrets.js';

const arn = (service: string, resource: string) => `arn:aws:${service}:us-east-1:000000000000:${resource}`;

/** The restore workflow's steps function outside any VPC, and its group's steps function in the databases' network. */
export const RESTORE_STEPS_FUNCTION = arn('lambda', 'function:lifeline-restore-steps');
export const RESTORE_NETWORK_STEPS_FUNCTION = arn('lambda', 'function:lifeline-restore1-private');
export const CUTOVER_STEPS_FUNCTION = arn('lambda', 'function:lifeline-cutover-steps');
export const CUTOVER_STATE_MACHINE = arn('states', 'stateMachine:lifeline-cutover');
/** VerifyApproval's function, checking approvals with this process's key (the local seal), as local runs do. */
export const APPROVAL_VERIFY_FUNCTION = arn('lambda', 'function:lifeline-approval-verify');

/** Spread into a workflow's `functions`: VerifyApproval checks what `approve` signed. */
export const APPROVAL_FUNCTIONS: Record<string, LambdaHandler> = {
  [APPROVAL_VERIFY_FUNCTION]: (event, context) => runVerifyApprovalStep(event, { seal: localSeal() }, context.getRemainingTimeInMillis()),
};

export const RESTORE_SUBSTITUTIONS = {
  RestoreStepsFunctionArn: RESTORE_STEPS_FUNCTION,
  RunnerClusterArn: arn('ecs', 'cluster/lifeline-runner'),
  ApprovalsTopicArn: arn('sns', 'lifeline-approvals'),
  NotificationsTopicArn: arn('sns', 'lifeline-notifications'),
  CutoverStateMachineArn: CUTOVER_STATE_MACHINE,
  ApprovalVerifyFunctionArn: APPROVAL_VERIFY_FUNCTION,
};

/** RunRestore as ECS would run the runner's container: its job, in this process, answered in runTask.sync's shape. */
export function restoreRunnerInProcess(s3: S3Client, bucket: string): (parameters: Json) => Promise<Json> {
  return inProcessTask(async (environment) => {
    const job = RestoreJob.parse(JSON.parse(environment.LIFELINE_RESTORE_JOB!));
    await runRestoreJob(job, { s3, bucket, connection: runnerConnection });
  }, runnerExitCode);
}

/** Spread into a restore's `tasks` when its applications have no migrations: the workflow must never run them. */
export const NO_MIGRATIONS = {
  RunMigrations: () => Promise.reject(new Error('RunMigrations ran for a restore without migrations')),
};

export const CUTOVER_SUBSTITUTIONS = {
  CutoverStepsFunctionArn: CUTOVER_STEPS_FUNCTION,
  LockTableName: 'lifeline-cutover-locks',
  NotificationsTopicArn: RESTORE_SUBSTITUTIONS.NotificationsTopicArn,
  AlarmTopicArn: arn('sns', 'lifeline-alarms'),
  ApprovalVerifyFunctionArn: APPROVAL_VERIFY_FUNCTION,
};

/** asl-validator's verdict on a definition (its placeholders filled in): errors as text, '' when valid. */
export function aslErrors(definition: unknown): string {
  const validate = createRequire(import.meta.url)('asl-validator') as (definition: unknown) => {
    isValid: boolean;
    errorsText(separator: string): string;
  };
  const result = validate(definition);
  return result.isValid ? '' : result.errorsText('\n') || 'invalid';
}

/** As the runner resolves secrets: Secrets Manager (mocked or faked by the test), RDS secret JSON, the job's server filling in. */
export function runnerConnection(secretArn: string, defaults: SecretDefaults) {
  return connectionFromSecret(new SecretsManagerClient({}), secretArn, defaults);
}

/** The on-call engineer who approves in the workflow tests. */
export const ONCALL_APPROVER = 'arn:aws:sts::000000000000:assumed-role/oncall/alice';

/** An on-call engineer's approval of the request, signed as the approve function signs it (here with the local seal). */
export function approve(request: CallbackRequest): Promise<CallbackAnswer> {
  return answerDecision(request, { identity: ONCALL_APPROVER }, { approve: true, comment: 'counts look right' }, { seal: localSeal() });
}

/**
 * The Lambda tasks of a definition that would fail on a function idle in its VPC: its first invocation answers
 * Lambda.ResourceNotReadyException while it wakes, so each must retry that for a minute or more.
 */
export function tasksFailingAnIdleFunction(definition: { States: Record<string, unknown> }): string[] {
  type Task = { Type: string; Resource: string; Retry?: { ErrorEquals: string[]; IntervalSeconds?: number; MaxAttempts?: number }[] };
  return Object.entries(definition.States as Record<string, Task>)
    .filter(
      ([, state]) =>
        state.Type === 'Task' && (state.Resource.startsWith('arn:aws:lambda:') || state.Resource === 'arn:aws:states:::lambda:invoke'),
    )
    .filter(([, state]) => {
      const retrier = state.Retry?.find((r) => r.ErrorEquals.includes('Lambda.ResourceNotReadyException'));
      return !retrier || (retrier.IntervalSeconds ?? 1) * (retrier.MaxAttempts ?? 3) < 60;
    })
    .map(([name]) => name);
}
