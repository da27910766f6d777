import { randomBytes } from 'node:crypto';
import type { HistoryEvent, HistoryEventType } from '@aws-sdk/client-sfn';
import { ownerLabel, ownerState, parseOwnerLabel, thisProcess, OWNER_LABEL } from '../process-owner.js';

/**
 * The executions the local engine (local.ts) runs in this process, recorded as Step Functions records them: what
 * `lifeline run restore --local` answers DescribeExecution and GetExecutionHistory with (operator/local-aws.ts
 * localStepFunctions), so that the code that reads an execution in AWS reads a local one the same way. An execution's
 * name carries the process that runs it (process-owner.ts), so that another process tells whether it still runs:
 * a local run killed midway has ended with its process.
 */

/** The account of the local engine's stand-in ARNs. */
const LOCAL_ACCOUNT = '000000000000';

/** The state machine of the executions `runLocalExecution` starts. */
export const LOCAL_STATE_MACHINE = `arn:aws:states:us-east-1:${LOCAL_ACCOUNT}:stateMachine:local`;

/** A local execution's name: this process's label and 8 random hex digits (hex and dashes, as a UUID is). */
export function localExecutionName(): string {
  return `${ownerLabel(thisProcess())}-${randomBytes(4).toString('hex')}`;
}

const LOCAL_EXECUTION = new RegExp(`^arn:aws:states:[a-z0-9-]+:${LOCAL_ACCOUNT}:execution:[^:]+:(${OWNER_LABEL})-[0-9a-f]{8}$`);

/** Whether `executionArn` names an execution a local engine ran (in this process or another). */
export function isLocalExecution(executionArn: string): boolean {
  return LOCAL_EXECUTION.test(executionArn);
}

export interface LocalExecutionRecord {
  executionArn: string;
  stateMachineArn: string;
  /** RUNNING, then SUCCEEDED, FAILED or TIMED_OUT. */
  status: string;
  startDate: Date;
  stopDate?: Date;
  input: string;
  /** Oldest first, numbered from 1; emptied once the execution has ended (only its status is kept). */
  events: HistoryEvent[];
}

const executions = new Map<string, LocalExecutionRecord>();

/** The record of a local execution of this process, running or ended. */
export function localExecution(executionArn: string): LocalExecutionRecord | undefined {
  return executions.get(executionArn);
}

/** Appends an event to a running execution's history, as Step Functions writes it. */
export function recordEvent(record: LocalExecutionRecord, type: HistoryEventType, details: Partial<HistoryEvent> = {}): void {
  if (record.status !== 'RUNNING') return;
  const id = record.events.length + 1;
  record.events.push({ id, previousEventId: id - 1, timestamp: new Date(), type, ...details });
}

/** A local execution starting now. */
export function startLocalExecution(executionArn: string, stateMachineArn: string, input: unknown): LocalExecutionRecord {
  const text = JSON.stringify(input ?? {});
  const record: LocalExecutionRecord = { executionArn, stateMachineArn, status: 'RUNNING', startDate: new Date(), input: text, events: [] };
  executions.set(executionArn, record);
  recordEvent(record, 'ExecutionStarted', { executionStartedEventDetails: { input: text, inputDetails: { truncated: false } } });
  return record;
}

/** Its end: its status stays known to this process, its history goes. */
export function endLocalExecution(record: LocalExecutionRecord, status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT'): void {
  record.status = status;
  record.stopDate = new Date();
  record.events = [];
}

/**
 * The status of a local execution, as DescribeExecution gives one (postgres/databases.ts ExecutionStatusLookup): from
 * this process's records, else from whether the process it names still runs (one that no longer does was killed
 * before the execution ended: ABORTED). Throws for an execution it cannot tell of: one of another machine, or not
 * a local one.
 */
export function localExecutionStatus(executionArn: string): Promise<string | undefined> {
  const known = executions.get(executionArn);
  if (known) return Promise.resolve(known.status);
  const owner = parseOwnerLabel(LOCAL_EXECUTION.exec(executionArn)?.[1] ?? '');
  if (!owner) return Promise.reject(new Error(`${executionArn} is not a local execution of a lifeline that names its process`));
  // This process keeps the record of every execution it ran.
  if (ownerLabel(owner) === ownerLabel(thisProcess())) return Promise.resolve(undefined);
  const state = ownerState(owner);
  if (state === 'elsewhere')
    return Promise.reject(new Error(`${executionArn} ran on another machine, where only it can be told whether it still runs`));
  return Promise.resolve(state === 'runs' ? 'RUNNING' : 'ABORTED');
}

/** A state entered or left, as `<Type>StateEntered` or `<Type>StateExited` with its input or output. */
export function recordState(record: LocalExecutionRecord, type: string, name: string, exited: boolean, data: unknown): void {
  const text = JSON.stringify(data ?? null);
  if (exited) {
    recordEvent(record, `${type}StateExited` as HistoryEventType, {
      stateExitedEventDetails: { name, output: text, outputDetails: { truncated: false } },
    });
  } else {
    recordEvent(record, `${type}StateEntered` as HistoryEventType, {
      stateEnteredEventDetails: { name, input: text, inputDetails: { truncated: false } },
    });
  }
}

const LAMBDA_FUNCTION = /^arn:aws[a-z-]*:lambda:/;

/**
 * A Task's work on `resource` (its Resource), as its history shows it: for a function ARN, LambdaFunctionScheduled and
 * Started, then Succeeded with its output or Failed; for a service integration (`arn:aws:states:::sns:publish...`),
 * TaskScheduled and TaskStarted, then TaskSucceeded or TaskFailed. Returns what records the outcome.
 */
export function recordTask(
  record: LocalExecutionRecord,
  resource: string,
  parameters: unknown,
): { succeeded(output: unknown): void; failed(error: string, cause: string): void } {
  const parametersText = JSON.stringify(parameters ?? null);
  if (LAMBDA_FUNCTION.test(resource)) {
    recordEvent(record, 'LambdaFunctionScheduled', {
      lambdaFunctionScheduledEventDetails: { resource, input: parametersText, inputDetails: { truncated: false } },
    });
    recordEvent(record, 'LambdaFunctionStarted');
    return {
      succeeded: (output) =>
        recordEvent(record, 'LambdaFunctionSucceeded', {
          lambdaFunctionSucceededEventDetails: { output: JSON.stringify(output ?? null), outputDetails: { truncated: false } },
        }),
      failed: (error, cause) => recordEvent(record, 'LambdaFunctionFailed', { lambdaFunctionFailedEventDetails: { error, cause } }),
    };
  }
  // arn:aws:states:::sns:publish.waitForTaskToken: resourceType sns, resource publish.waitForTaskToken.
  const [resourceType = '', action = ''] = resource.replace(/^arn:aws[a-z-]*:states:::/, '').split(/:(.*)/);
  recordEvent(record, 'TaskScheduled', {
    taskScheduledEventDetails: { resourceType, resource: action, region: 'us-east-1', parameters: parametersText },
  });
  recordEvent(record, 'TaskStarted', { taskStartedEventDetails: { resourceType, resource: action } });
  return {
    succeeded: (output) =>
      recordEvent(record, 'TaskSucceeded', {
        taskSucceededEventDetails: {
          resourceType,
          resource: action,
          output: JSON.stringify(output ?? null),
          outputDetails: { truncated: false },
        },
      }),
    failed: (error, cause) =>
      recordEvent(record, 'TaskFailed', { taskFailedEventDetails: { resourceType, resource: action, error, cause } }),
  };
}
