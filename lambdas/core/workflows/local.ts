import { randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { FUNCTION_TIMEOUT_SECONDS, type LambdaContext } from '../deadline.js';
import { LifelineError } from '../errors.js';
import { executionNameProblem, MAX_ECS_OVERRIDES_LENGTH, MAX_PAYLOAD_BYTES, payloadBytes, snsSubjectProblem } from './aws-limits.js';
import {
  endLocalExecution,
  localExecutionName,
  recordState,
  recordTask,
  startLocalExecution,
  LOCAL_STATE_MACHINE,
  type LocalExecutionRecord,
} from './local-executions.js';

/**
 * Runs a state machine's real `.asl.json` on this machine with aws-local-stepfunctions: the rehearsal of a
 * cloud runbook on a laptop (`lifeline run <workflow> --local`) and the base of the workflow tests. Lambda
 * states (a function ARN as the Resource, or `lambda:invoke` by FunctionName) call their handler functions
 * in-process; SNS publishes are printed; `.waitForTaskToken` states are
 * answered by a callback; `states:startExecution.sync:2` runs the named child state machine here too; every
 * other integration (ECS) is a function given by state name. Each answers in the shape the real service
 * returns to Step Functions. The engine is made as strict as AWS (aws-limits.ts): a state's input or output over
 * 256 KiB fails the execution with States.DataLimitExceeded, which no Catch catches and after which nothing runs;
 * an SNS subject, ECS overrides or a child execution's name that AWS would refuse fail their state as AWS fails it;
 * a Task without a timeout (AWS would wait a year) is refused before anything runs.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A Lambda handler: the event in, the result out, a thrown error's `name` becomes the state's error. Its context
 * counts down from FUNCTION_TIMEOUT_SECONDS, as the deployed functions' does.
 */
export type LambdaHandler = (event: unknown, context: LambdaContext) => Promise<unknown>;

/** What an SNS publish state sends. */
export interface Notification {
  state: string;
  topicArn: string;
  subject: string | null;
  message: Json;
}

/** A `.waitForTaskToken` state waiting for SendTaskSuccess or SendTaskFailure. */
export interface CallbackRequest {
  state: string;
  executionArn: string;
  token: string;
  /** The state's parameters, as the service (SNS) received them. */
  parameters: Json;
}

/** SendTaskSuccess's output, or SendTaskFailure's error and cause. A promise that never settles lets the state time out. */
export type CallbackAnswer = { output: Json } | { error: string; cause: string };

/** A state machine as deployed: its definition, what fills its placeholders, and what its tasks call. */
export interface LocalStateMachine {
  /** The `.asl.json` file. */
  definitionFile: string;
  /** Values for its `${Name}` placeholders, as CDK's definitionSubstitutions fill them in. */
  substitutions: Record<string, string>;
  /** Lambda handlers by function ARN: as their placeholder is replaced with, or as `lambda:invoke` names them. */
  functions: Record<string, LambdaHandler>;
  /** Handlers for the other integrations (ECS), by state name; each answers as the service would. */
  tasks?: Record<string, (parameters: Json) => Promise<Json>>;
  /** Milliseconds to wait before each retry, by state name, instead of the definition's backoff. */
  retryIntervals?: Record<string, number>;
}

export interface LocalExecutionOptions extends LocalStateMachine {
  input: unknown;
  /**
   * The state machines `states:startExecution.sync:2` may start, by ARN; each child runs here to its end with
   * this execution's notify, answer and stateMachines.
   */
  stateMachines?: Record<string, LocalStateMachine>;
  notify(notification: Notification): void;
  answer(request: CallbackRequest): Promise<CallbackAnswer>;
  /** Every state entered, in order (for progress displays). */
  onStateEntered?: (state: string) => void;
}

export interface LocalExecutionResult {
  executionArn: string;
  status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT';
  output?: unknown;
  error?: string;
  cause?: string;
  /** The states entered, in order. */
  states: string[];
}

/** A task's failure as Step Functions sees it: `name` is the error that Retry and Catch match. */
class TaskFailure extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

const LAMBDA_FUNCTION_ARN = /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+$/;
const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
const SNS_PUBLISH = 'arn:aws:states:::sns:publish';
const SNS_PUBLISH_WAITING = 'arn:aws:states:::sns:publish.waitForTaskToken';
const START_EXECUTION_SYNC = 'arn:aws:states:::states:startExecution.sync:2';
const ECS_RUN_TASK = 'arn:aws:states:::ecs:runTask';

/** The definition with its placeholders filled in; a placeholder left over is an error, as in a deployment. */
export async function loadDefinition(file: string, substitutions: Record<string, string>): Promise<StateMachineDefinition> {
  const text = (await readFile(file, 'utf8')).replace(/\$\{(\w+)\}/g, (placeholder, name: string) => substitutions[name] ?? placeholder);
  const missing = [...new Set(text.match(/\$\{\w+\}/g) ?? [])];
  if (missing.length > 0) throw new LifelineError('InvalidInput', `${file}: no value for ${missing.join(', ')}`);
  return JSON.parse(text) as StateMachineDefinition;
}

/** Lambda's error in Step Functions: the error type as the name, and Lambda's error JSON as the cause. */
function lambdaState(handler: LambdaHandler) {
  return async (event: Json): Promise<Json> => {
    try {
      const endsAt = Date.now() + FUNCTION_TIMEOUT_SECONDS * 1000;
      return ((await handler(event, { getRemainingTimeInMillis: () => endsAt - Date.now() })) ?? null) as Json;
    } catch (error) {
      const { name, message } = error instanceof Error ? error : new Error(String(error));
      throw new TaskFailure(name, JSON.stringify({ errorType: name, errorMessage: message, trace: [] }));
    }
  };
}

/**
 * A `lambda:invoke` state: the function its FunctionName names, answered as Lambda's Invoke answers Step
 * Functions (the result in Payload); a function error fails the state as lambdaState does.
 */
function invokeState(state: string, functions: Record<string, LambdaHandler>) {
  return async (parameters: Json): Promise<Json> => {
    const { FunctionName, Payload } = parameters as { FunctionName?: string; Payload?: Json };
    const handler = FunctionName === undefined ? undefined : functions[FunctionName];
    if (!handler) throw new LifelineError('InvalidInput', `state ${state}: no local handler for function ${FunctionName}`);
    const result = await lambdaState(handler)(Payload ?? null);
    const requestId = randomUUID();
    return {
      ExecutedVersion: '$LATEST',
      Payload: result,
      SdkHttpMetadata: { HttpStatusCode: 200, HttpHeaders: { 'x-amz-executed-version': '$LATEST', 'x-amzn-RequestId': requestId } },
      SdkResponseMetadata: { RequestId: requestId },
      StatusCode: 200,
    };
  };
}

/** What a publish state sends, refused as SNS refuses it when its subject breaks SNS's rules. */
function publishParameters(state: string, parameters: Json): Notification {
  const { TopicArn, Subject, Message } = parameters as { TopicArn: string; Subject?: string; Message: Json };
  const problem = Subject === undefined ? undefined : snsSubjectProblem(Subject);
  if (problem) throw new TaskFailure('SNS.InvalidParameterException', `Invalid parameter: ${problem}`);
  return { state, topicArn: TopicArn, subject: Subject ?? null, message: Message };
}

/** An execution's ARN, as Step Functions forms it from its state machine's ARN and its name. */
const executionArnOf = (stateMachineArn: string, name: string) => `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;

/**
 * A `states:startExecution.sync:2` state: the child state machine run here to its end, answered with
 * DescribeExecution as `.sync:2` returns it (Input and Output as JSON). A failed child fails the state as in
 * AWS: States.TaskFailed, with that DescribeExecution (the child's Error and Cause in it) as the cause.
 */
function startExecutionState(state: string, parent: LocalExecutionOptions) {
  return async (parameters: Json): Promise<Json> => {
    const { StateMachineArn, Name, Input } = parameters as { StateMachineArn: string; Name?: string; Input?: Json };
    const child = parent.stateMachines?.[StateMachineArn];
    if (!child) throw new LifelineError('InvalidInput', `state ${state}: no local state machine for ${StateMachineArn}`);
    const badName = Name === undefined ? undefined : executionNameProblem(Name);
    if (badName) throw new TaskFailure('StepFunctions.InvalidNameException', badName);
    const startDate = Date.now();
    const input = Input ?? {};
    const result = await execute(
      {
        ...child,
        input,
        notify: (notification) => parent.notify(notification),
        answer: (request) => parent.answer(request),
        stateMachines: parent.stateMachines,
      },
      executionArnOf(StateMachineArn, Name ?? randomUUID()),
    );
    const described = {
      ExecutionArn: result.executionArn,
      StateMachineArn,
      Name: result.executionArn.split(':').at(-1)!,
      Status: result.status,
      StartDate: startDate,
      StopDate: Date.now(),
      Input: input,
      InputDetails: { Included: true },
      ...(result.status === 'SUCCEEDED'
        ? { Output: (result.output ?? null) as Json, OutputDetails: { Included: true } }
        : { Error: result.error ?? null, Cause: result.cause ?? null }),
    };
    if (result.status !== 'SUCCEEDED') throw new TaskFailure('States.TaskFailed', JSON.stringify(described));
    return described;
  };
}

/**
 * Runs the definition once to its end; a failed or timed-out execution is a result, not an exception. The child
 * state machines it may start are checked first, as a deployment checks them: none is found wanting midway.
 */
export async function runLocalExecution(options: LocalExecutionOptions): Promise<LocalExecutionResult> {
  for (const child of Object.values(options.stateMachines ?? {})) {
    assertTasksTimeOut(child.definitionFile, await loadDefinition(child.definitionFile, child.substitutions));
  }
  return execute(options, executionArnOf(LOCAL_STATE_MACHINE, localExecutionName()));
}

/** A Task without a timeout waits 99,999,999 s in AWS (60 s in the local engine): refused, naming the states. */
function assertTasksTimeOut(file: string, definition: StateMachineDefinition): void {
  const untimed = Object.entries(definition.States)
    .filter(([, state]) => state.Type === 'Task' && state.TimeoutSeconds === undefined && state.TimeoutSecondsPath === undefined)
    .map(([name]) => name);
  if (untimed.length > 0) {
    throw new LifelineError(
      'InvalidInput',
      `${file}: Task states without TimeoutSeconds, which AWS would let wait a year: ${untimed.join(', ')}`,
    );
  }
}

/** An ECS RunTask whose overrides AWS would refuse fails its state as AWS fails it, before the task starts. */
function boundedOverrides(task: (parameters: Json) => Promise<Json>) {
  return (parameters: Json): Promise<Json> => {
    const length = JSON.stringify((parameters as { Overrides?: Json }).Overrides ?? {}).length;
    if (length > MAX_ECS_OVERRIDES_LENGTH) {
      throw new TaskFailure(
        'ECS.InvalidParameterException',
        `Container Overrides length must be at most ${MAX_ECS_OVERRIDES_LENGTH} (was ${length})`,
      );
    }
    return task(parameters);
  };
}

/** A parameter that reads `$$.State.Name`, given its state's name as AWS gives it (the local engine has no `$$.State`). */
function withStateName(value: Json, state: string): Json {
  if (Array.isArray(value)) return value.map((item) => withStateName(item, state));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, field]) =>
      key.endsWith('.$') && field === '$$.State.Name' ? [key.slice(0, -2), state] : [key, withStateName(field, state)],
    ),
  );
}

/** Where timeoutFromStateInput puts a state's input among its parameters; removed before the task sees them. */
const STATE_INPUT_FIELD = '__lifelineStateInput';

/**
 * AWS reads a Task's TimeoutSecondsPath from the state's input; the local engine reads it from the evaluated
 * Parameters. This passes the input along in the parameters, and points the path there.
 */
function timeoutFromStateInput(state: { Parameters?: unknown; TimeoutSecondsPath: string }): void {
  state.Parameters = { ...(state.Parameters as Record<string, Json>), [`${STATE_INPUT_FIELD}.$`]: '$' };
  state.TimeoutSecondsPath = `$.${STATE_INPUT_FIELD}${state.TimeoutSecondsPath.slice(1)}`;
}

/** Where a field is in a state's evaluated parameters: its keys and indexes from the top. */
type FieldPath = (string | number)[];

/** `States.JsonToString($.path)`: the path of its one argument. */
const JSON_TO_STRING = /^States\.JsonToString\((\$[^,()]*)\)$/;

/**
 * A Task's Parameters with each `"Field.$": "States.JsonToString($.path)"` made `"Field.$": "$.path"`, and where those
 * fields are (pushed onto `fields`), for serializeFields to serialize as AWS does: aws-local-stepfunctions 3 strips
 * every backslash from an intrinsic function's string result, so JSON holding a quote or a backslash (a database named
 * `Shop's "Main" DB`) would reach the task broken.
 */
function deferJsonToString(value: Json, at: FieldPath, fields: FieldPath[]): Json {
  if (Array.isArray(value)) return value.map((item, i) => deferJsonToString(item, [...at, i], fields));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, field]) => {
      const path = key.endsWith('.$') && typeof field === 'string' ? JSON_TO_STRING.exec(field)?.[1] : undefined;
      if (path === undefined) return [key, deferJsonToString(field, [...at, key], fields)];
      fields.push([...at, key.slice(0, -2)]);
      return [key, path];
    }),
  );
}

/** The evaluated parameters with the value at each of `fields` (deferJsonToString's) as JSON text, as States.JsonToString gives it. */
function serializeFields(parameters: Json, fields: FieldPath[] | undefined): Json {
  if (!fields) return parameters;
  const copy = structuredClone(parameters);
  for (const path of fields) {
    const parent = path
      .slice(0, -1)
      .reduce<Json | undefined>((node, key) => (node as Record<string | number, Json> | undefined)?.[key], copy);
    const last = path.at(-1)!;
    if (parent !== null && typeof parent === 'object' && last in parent) {
      (parent as Record<string | number, Json>)[last] = JSON.stringify((parent as Record<string | number, Json>)[last]);
    }
  }
  return copy;
}

/**
 * Runs the execution, recorded as Step Functions records it (local-executions.ts): its status, and its history while it
 * runs, answer DescribeExecution and GetExecutionHistory for it in this process.
 */
async function execute(options: LocalExecutionOptions, executionArn: string): Promise<LocalExecutionResult> {
  const stateMachineArn = executionArn.replace(':execution:', ':stateMachine:').replace(/:[^:]*$/, '');
  const record = startLocalExecution(executionArn, stateMachineArn, options.input);
  try {
    const result = await executeRecorded(options, executionArn, record);
    endLocalExecution(record, result.status);
    return result;
  } catch (error) {
    endLocalExecution(record, 'FAILED');
    throw error;
  }
}

async function executeRecorded(
  options: LocalExecutionOptions,
  executionArn: string,
  record: LocalExecutionRecord,
): Promise<LocalExecutionResult> {
  const definition = await loadDefinition(options.definitionFile, options.substitutions);
  assertTasksTimeOut(options.definitionFile, definition);
  /** The fields of each Task's parameters that States.JsonToString makes (deferJsonToString). */
  const serialized: Record<string, FieldPath[]> = {};
  for (const [name, state] of Object.entries(definition.States)) {
    if (state.Type === 'Task' && state.Parameters) {
      const fields: FieldPath[] = [];
      state.Parameters = deferJsonToString(withStateName(state.Parameters, name), [], fields);
      if (fields.length > 0) serialized[name] = fields;
      if (state.TimeoutSecondsPath) timeoutFromStateInput(state as typeof state & { TimeoutSecondsPath: string });
    }
  }
  const token = randomBytes(32).toString('base64url');
  const publish = (state: string) => (parameters: Json) => {
    options.notify(publishParameters(state, parameters));
    return Promise.resolve({ MessageId: randomUUID(), SdkResponseMetadata: { RequestId: randomUUID() } });
  };

  const handlers: Record<string, (input: Json) => Promise<Json>> = {};
  for (const [name, state] of Object.entries(definition.States)) {
    if (state.Type !== 'Task') continue;
    if (LAMBDA_FUNCTION_ARN.test(state.Resource)) {
      const handler = options.functions[state.Resource];
      if (!handler) throw new LifelineError('InvalidInput', `state ${name}: no local handler for function ${state.Resource}`);
      handlers[name] = lambdaState(handler);
    } else if (state.Resource === LAMBDA_INVOKE) {
      handlers[name] = invokeState(name, options.functions);
    } else if (state.Resource === SNS_PUBLISH) {
      handlers[name] = publish(name);
    } else if (state.Resource === SNS_PUBLISH_WAITING) {
      handlers[name] = async (parameters) => {
        await publish(name)(parameters);
        const answer = await options.answer({ state: name, executionArn, token, parameters });
        if ('error' in answer) throw new TaskFailure(answer.error, answer.cause);
        return answer.output;
      };
    } else if (state.Resource === START_EXECUTION_SYNC) {
      handlers[name] = startExecutionState(name, options);
    } else {
      const task = options.tasks?.[name];
      if (!task) throw new LifelineError('InvalidInput', `state ${name}: no local handler for ${state.Resource}`);
      handlers[name] = state.Resource.startsWith(ECS_RUN_TASK) ? boundedOverrides(task) : task;
    }
  }

  // States.DataLimitExceeded, as AWS: the execution fails where the payload grew too large, and nothing runs after.
  const limit: { exceeded?: { error: string; cause: string } } = {};
  let abort: () => void = () => undefined;
  const overLimit = (what: string, state: string, value: unknown) => {
    const bytes = payloadBytes(value);
    if (limit.exceeded || bytes <= MAX_PAYLOAD_BYTES) return;
    limit.exceeded = {
      error: 'States.DataLimitExceeded',
      cause: `The ${what} of state '${state}' has ${bytes} bytes, more than the service limit of ${MAX_PAYLOAD_BYTES} bytes.`,
    };
    abort();
  };
  const refuseOverLimit = () => {
    if (limit.exceeded) throw new TaskFailure(limit.exceeded.error, limit.exceeded.cause);
  };
  const guarded = Object.fromEntries(
    Object.entries(handlers).map(([name, handler]) => [
      name,
      async (evaluated: Json): Promise<Json> => {
        const { [STATE_INPUT_FIELD]: _stateInput, ...parameters } = evaluated as Record<string, Json>;
        const input = serializeFields(parameters, serialized[name]);
        // Let the event log catch up first: a state entered with too large an input must not act.
        await new Promise((resolve) => setImmediate(resolve));
        overLimit('task input', name, input);
        refuseOverLimit();
        const task = recordTask(record, (definition.States[name] as { Resource: string }).Resource, input);
        const result = await handler(input).catch((error: unknown) => {
          const failed = error instanceof Error ? error : new Error(String(error));
          task.failed(failed.name, failed.message);
          throw error;
        });
        task.succeeded(result);
        overLimit('result', name, result);
        refuseOverLimit();
        return result;
      },
    ]),
  );

  const execution = new StateMachine(definition).run(options.input as Json, {
    overrides: { taskResourceLocalHandlers: guarded, retryIntervalOverrides: options.retryIntervals },
    context: { Execution: { Id: executionArn, Name: executionArn.split(':').at(-1) }, Task: { Token: token } },
  });
  abort = execution.abort;
  const states: string[] = [];
  const followed = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === 'StateEntered' || event.type === 'StateExited') {
        const { name, input, output } = event.state as { name: string; input?: unknown; output?: unknown };
        const exited = event.type === 'StateExited';
        recordState(record, definition.States[name]?.Type ?? 'Task', name, exited, exited ? output : input);
      }
      if (event.type === 'StateEntered') {
        states.push(event.state.name);
        options.onStateEntered?.(event.state.name);
        overLimit('input', event.state.name, event.state.input);
      } else if (event.type === 'StateExited') {
        overLimit('output', event.state.name, event.state.output);
      }
    }
  })();
  let output: unknown;
  let failure: Error | undefined;
  try {
    output = await execution.result;
  } catch (error) {
    if (error instanceof ExecutionTimeoutError) {
      await followed;
      return { executionArn, status: 'TIMED_OUT', error: 'States.Timeout', cause: 'The execution ran past its TimeoutSeconds.', states };
    }
    if (error instanceof ExecutionError) failure = error.cause as Error;
    else if (!(error instanceof ExecutionAbortedError && limit.exceeded)) throw error;
  }
  await followed;
  if (limit.exceeded) return { executionArn, status: 'FAILED', ...limit.exceeded, states };
  if (failure) return { executionArn, status: 'FAILED', error: failure.name, cause: failure.message, states };
  return { executionArn, status: 'SUCCEEDED', output, states };
}

/** The `ecs:runTask.sync` answer for a task whose one container exited with `exitCode`: DescribeTasks' task. */
function stoppedTask(parameters: Json, exitCode: number, startedAt: Date): Json {
  const { Cluster, TaskDefinition } = parameters as { Cluster: string; TaskDefinition: string };
  const id = randomBytes(16).toString('hex');
  return {
    TaskArn: `${Cluster.replace(':cluster/', ':task/')}/${id}`,
    ClusterArn: Cluster,
    TaskDefinitionArn: TaskDefinition,
    LaunchType: 'FARGATE',
    LastStatus: 'STOPPED',
    DesiredStatus: 'STOPPED',
    StartedAt: startedAt.getTime(),
    StoppedAt: Date.now(),
    StopCode: 'EssentialContainerExited',
    StoppedReason: 'Essential container in task exited',
    Containers: [{ Name: 'runner', LastStatus: 'STOPPED', ExitCode: exitCode }],
  };
}

/**
 * An `ecs:runTask.sync` state run in this process: `run` gets the container override's environment, as the
 * runner container would; a thrown error becomes the exit code `exitCode(error)`, and the state fails as
 * Step Functions fails it (States.TaskFailed, the stopped task as the cause).
 */
export function inProcessTask(run: (environment: Record<string, string>) => Promise<void>, exitCode: (error: unknown) => number) {
  return async (parameters: Json): Promise<Json> => {
    const overrides = (parameters as { Overrides?: { ContainerOverrides?: { Environment?: { Name: string; Value: string }[] }[] } })
      .Overrides;
    const environment = Object.fromEntries((overrides?.ContainerOverrides?.[0]?.Environment ?? []).map((e) => [e.Name, e.Value]));
    const startedAt = new Date();
    try {
      await run(environment);
    } catch (error) {
      throw new TaskFailure('States.TaskFailed', JSON.stringify(stoppedTask(parameters, exitCode(error), startedAt)));
    }
    return stoppedTask(parameters, 0, startedAt);
  };
}
