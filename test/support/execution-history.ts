import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  ExecutionDoesNotExist,
  type GetExecutionHistoryCommandInput,
  type HistoryEvent,
  type HistoryEventType,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';

/**
 * Step Functions' record of executions, answering DescribeExecution and GetExecutionHistory in the shapes the API
 * returns: events numbered from 1 with their previousEventId, oldest first unless reverseOrder, 100 a page unless
 * maxResults (at most 1,000), nextToken while more remain, and each event's input or output only with
 * includeExecutionData. Executions are written event by event as the service writes them (RecordedExecution).
 */

const metadata = { $metadata: {} };

/** How a Task state's work shows in its history. */
export type TaskResource =
  /** A Lambda function ARN as the state's Resource: LambdaFunctionScheduled, Started, Succeeded or Failed. */
  | { kind: 'lambda'; functionArn: string; timeoutSeconds: number }
  /** A service integration (`arn:aws:states:::lambda:invoke`, `ecs:runTask.sync`, ...): TaskScheduled, Started, (Submitted), Succeeded. */
  | { kind: 'service'; resourceType: string; resource: string; timeoutSeconds: number; parameters?: unknown; submitted?: unknown };

/** What became of a Task state's work: its state's output, a failure Step Functions saw, or nothing yet. */
export type TaskOutcome = { output: unknown; result?: unknown } | { failed: { error: string; cause: string } } | { running: true };

export class RecordedExecution {
  readonly events: HistoryEvent[] = [];
  status = 'RUNNING';
  error: string | undefined;
  cause: string | undefined;
  private clock: number;

  constructor(
    readonly executionArn: string,
    readonly stateMachineArn: string,
    readonly input: unknown,
    startedAt: Date,
  ) {
    this.clock = startedAt.getTime();
    this.add('ExecutionStarted', {
      executionStartedEventDetails: { input: JSON.stringify(input), inputDetails: { truncated: false }, roleArn: 'arn:aws:iam::0:role/x' },
    });
  }

  /** When the next event happens: `seconds` after the last one. */
  after(seconds: number): this {
    this.clock += seconds * 1000;
    return this;
  }

  get now(): Date {
    return new Date(this.clock);
  }

  private add(type: HistoryEventType, details: Partial<HistoryEvent>): void {
    const id = this.events.length + 1;
    this.events.push({ id, previousEventId: id - 1, timestamp: new Date(this.clock), type, ...details });
  }

  private entered(type: string, name: string, input: unknown): void {
    this.add(`${type}StateEntered` as HistoryEventType, {
      stateEnteredEventDetails: { name, input: JSON.stringify(input), inputDetails: { truncated: false } },
    });
  }

  private exited(type: string, name: string, output: unknown): void {
    this.add(`${type}StateExited` as HistoryEventType, {
      stateExitedEventDetails: { name, output: JSON.stringify(output), outputDetails: { truncated: false } },
    });
  }

  /** A Pass, Choice or Wait state: entered with `input`, left with `output`. */
  flow(type: 'Pass' | 'Choice' | 'Wait', name: string, input: unknown, output: unknown = input): this {
    this.entered(type, name, input);
    this.exited(type, name, output);
    return this;
  }

  /** A Task state entered with `input`, its work through `resource`, ending as `outcome` says. */
  task(name: string, input: unknown, resource: TaskResource, outcome: TaskOutcome): this {
    this.entered('Task', name, input);
    if (resource.kind === 'lambda') {
      this.add('LambdaFunctionScheduled', {
        lambdaFunctionScheduledEventDetails: {
          resource: resource.functionArn,
          input: JSON.stringify(input),
          inputDetails: { truncated: false },
          timeoutInSeconds: resource.timeoutSeconds,
        },
      });
      this.add('LambdaFunctionStarted', {});
    } else {
      const { resourceType, resource: action } = resource;
      this.add('TaskScheduled', {
        taskScheduledEventDetails: {
          resourceType,
          resource: action,
          region: 'us-east-1',
          parameters: JSON.stringify(resource.parameters ?? {}),
          timeoutInSeconds: resource.timeoutSeconds,
        },
      });
      this.add('TaskStarted', { taskStartedEventDetails: { resourceType, resource: action } });
      if (resource.submitted !== undefined) {
        this.add('TaskSubmitted', {
          taskSubmittedEventDetails: {
            resourceType,
            resource: action,
            output: JSON.stringify(resource.submitted),
            outputDetails: { truncated: false },
          },
        });
      }
    }
    if ('running' in outcome) return this;
    if ('failed' in outcome) {
      const { error, cause } = outcome.failed;
      if (resource.kind === 'lambda') this.add('LambdaFunctionFailed', { lambdaFunctionFailedEventDetails: { error, cause } });
      else
        this.add('TaskFailed', {
          taskFailedEventDetails: { resourceType: resource.resourceType, resource: resource.resource, error, cause },
        });
      return this;
    }
    const result = JSON.stringify(outcome.result ?? outcome.output);
    if (resource.kind === 'lambda') {
      this.add('LambdaFunctionSucceeded', { lambdaFunctionSucceededEventDetails: { output: result, outputDetails: { truncated: false } } });
    } else {
      this.add('TaskSucceeded', {
        taskSucceededEventDetails: {
          resourceType: resource.resourceType,
          resource: resource.resource,
          output: result,
          outputDetails: { truncated: false },
        },
      });
    }
    this.exited('Task', name, outcome.output);
    return this;
  }

  /** A Fail state: entered with `input`, the execution failing as it says. */
  fail(name: string, input: unknown, error: string, cause: string): this {
    this.entered('Fail', name, input);
    return this.end('FAILED', { error, cause });
  }

  /** The execution's end: ExecutionAborted, ExecutionFailed, ExecutionTimedOut or ExecutionSucceeded. */
  end(status: 'ABORTED' | 'FAILED' | 'TIMED_OUT' | 'SUCCEEDED', details: { error?: string; cause?: string; output?: unknown } = {}): this {
    this.status = status;
    this.error = details.error;
    this.cause = details.cause;
    const { error, cause } = details;
    if (status === 'ABORTED') this.add('ExecutionAborted', { executionAbortedEventDetails: { error, cause } });
    if (status === 'FAILED') this.add('ExecutionFailed', { executionFailedEventDetails: { error, cause } });
    if (status === 'TIMED_OUT') this.add('ExecutionTimedOut', { executionTimedOutEventDetails: { error, cause } });
    if (status === 'SUCCEEDED') {
      this.add('ExecutionSucceeded', {
        executionSucceededEventDetails: { output: JSON.stringify(details.output ?? {}), outputDetails: { truncated: false } },
      });
    }
    return this;
  }
}

/** Drops every input and output from an event, as GetExecutionHistory does with includeExecutionData false. */
function withoutData(event: HistoryEvent): HistoryEvent {
  return JSON.parse(
    JSON.stringify(event, (key, value: unknown) => (['input', 'output', 'parameters'].includes(key) ? undefined : value)),
    (key, value: unknown) => (key === 'timestamp' ? new Date(value as string) : value),
  ) as HistoryEvent;
}

export class FakeStepFunctions {
  readonly mock = mockClient(SFNClient);
  /** Every GetExecutionHistory request, as sent. */
  readonly historyRequests: GetExecutionHistoryCommandInput[] = [];
  private readonly executions = new Map<string, RecordedExecution>();

  constructor() {
    const find = (executionArn: string | undefined) => {
      const execution = this.executions.get(executionArn ?? '');
      if (!execution) throw new ExecutionDoesNotExist({ ...metadata, message: `Execution Does Not Exist: '${executionArn}'` });
      return execution;
    };
    this.mock.on(DescribeExecutionCommand).callsFake(({ executionArn }) => {
      const execution = find(executionArn);
      const name = execution.executionArn.split(':').at(-1);
      const ended = execution.status !== 'RUNNING';
      return {
        executionArn,
        stateMachineArn: execution.stateMachineArn,
        name,
        status: execution.status,
        startDate: execution.events[0]!.timestamp,
        ...(ended ? { stopDate: execution.events.at(-1)!.timestamp } : {}),
        input: JSON.stringify(execution.input),
        inputDetails: { included: true },
        ...(execution.error !== undefined ? { error: execution.error } : {}),
        ...(execution.cause !== undefined ? { cause: execution.cause } : {}),
        redriveCount: 0,
        redriveStatus: ended ? 'REDRIVABLE' : 'NOT_REDRIVABLE',
      };
    });
    this.mock.on(GetExecutionHistoryCommand).callsFake((request: GetExecutionHistoryCommandInput) => {
      this.historyRequests.push(request);
      const execution = find(request.executionArn);
      const size = request.maxResults === undefined || request.maxResults === 0 ? 100 : request.maxResults;
      if (size > 1000) throw Object.assign(new Error('maxResults: at most 1000'), { name: 'ValidationException' });
      const ordered = request.reverseOrder ? [...execution.events].reverse() : [...execution.events];
      const from = request.nextToken === undefined ? 0 : Number(request.nextToken.replace('page-', ''));
      const page = ordered
        .slice(from, from + size)
        .map((event) => (request.includeExecutionData === false ? withoutData(event) : structuredClone(event)));
      return { events: page, ...(from + size < ordered.length ? { nextToken: `page-${from + size}` } : {}) };
    });
  }

  /** An execution started at `startedAt` with `input`, written as the test goes. */
  start(executionArn: string, stateMachineArn: string, input: unknown, startedAt: Date): RecordedExecution {
    const execution = new RecordedExecution(executionArn, stateMachineArn, input, startedAt);
    this.executions.set(executionArn, execution);
    return execution;
  }

  reset(): void {
    this.mock.restore();
  }
}
