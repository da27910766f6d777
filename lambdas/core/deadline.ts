import { LifelineError } from './errors.js';
import { taskTimeoutSeconds, type Workflow } from './workflows/definitions.js';

/**
 * Time kept back from Lambda's limit for stopping cleanly: stopping pg_dump, aborting the multipart upload or
 * deleting an archive without its manifest, and publishing the run's metrics.
 */
export const CLEANUP_MARGIN_MS = 30_000;

/** Every Lifeline function's timeout: Lambda's longest, the steps' deadlines and the backup's cleanup within it. */
export const FUNCTION_TIMEOUT_SECONDS = 900;

/** The part of Lambda's context the handlers use. */
export interface LambdaContext {
  getRemainingTimeInMillis(): number;
}

export interface Deadline {
  /** Aborts with DatabaseTooLargeForLambda when the time is up. */
  signal: AbortSignal;
  /** The share of the time the run has used so far, in percent. */
  usedPercent(): number;
  clear(): void;
}

/**
 * The point at which a backup in Lambda must give up to leave nothing behind: `remainingMs` (the context's
 * getRemainingTimeInMillis()) less the cleanup margin.
 */
export function lambdaDeadline(database: string, remainingMs: number): Deadline {
  const startedAt = Date.now();
  const budgetMs = Math.max(remainingMs - CLEANUP_MARGIN_MS, 0);
  const controller = new AbortController();
  const timer = setTimeout(() => {
    const seconds = Math.round(budgetMs / 1000);
    controller.abort(
      new LifelineError(
        'DatabaseTooLargeForLambda',
        `the backup of ${database} did not finish within the ${seconds} s Lambda leaves it and was stopped, leaving nothing behind; ` +
          `Lambda cannot back it up: set "runner": "fargate" for database "${database}" in the config, and its backups run on the ` +
          'Fargate runner, which has no time limit',
      ),
    );
  }, budgetMs);
  return {
    signal: controller.signal,
    usedPercent: () => (budgetMs === 0 ? 100 : Math.round(((Date.now() - startedAt) / budgetMs) * 1000) / 10),
    clear: () => clearTimeout(timer),
  };
}

/** A workflow step's deadline: a point before Step Functions stops waiting for it, past which it changes nothing. */
export interface StepDeadline {
  /** Aborted at the deadline: SDK calls given it stop there. */
  signal: AbortSignal;
  /** Milliseconds left (0 once it has passed). */
  remainingMs(): number;
  /** StepTimedOut, naming `action`, if the deadline has passed: called before a side effect that must not start late. */
  assertBefore(action: string): void;
  /** The StepTimedOut error this deadline fails its step with. */
  timedOut(): LifelineError;
}

/**
 * The time a step keeps back from its state's TimeoutSeconds, which counts from the invocation: the function's
 * start (a container image waking in a VPC), the answer's way back, and a late statement's cancellation.
 */
export function stepBudgetMs(timeoutSeconds: number): number {
  return (timeoutSeconds - Math.max(15, timeoutSeconds / 4)) * 1000;
}

/** A deadline `budgetMs` from now; `what` names the step in its error. Its timer keeps no process alive. */
export function deadlineAfter(budgetMs: number, what: string): StepDeadline {
  const at = Date.now() + budgetMs;
  const timedOut = () =>
    new LifelineError(
      'StepTimedOut',
      `${what} stopped at its deadline (${Math.round(budgetMs / 1000)} s), before its state's timeout, so that it changes nothing after its state gave up on it`,
    );
  return {
    signal: AbortSignal.timeout(Math.max(budgetMs, 0)),
    remainingMs: () => Math.max(at - Date.now(), 0),
    assertBefore(action) {
      if (Date.now() >= at) throw new LifelineError('StepTimedOut', `${timedOut().message}: ${action} was not done`);
    },
    timedOut,
  };
}

/**
 * The deadline of the step a workflow state runs: its state's TimeoutSeconds as the `.asl.json` gives it, less
 * stepBudgetMs's margin, and never past the Lambda's own limit (`lambdaRemainingMs`, less CLEANUP_MARGIN_MS).
 */
export function stepDeadline(workflow: Workflow, state: string, lambdaRemainingMs?: number): StepDeadline {
  const budget = stepBudgetMs(taskTimeoutSeconds(workflow, state));
  const lambdaBudget = lambdaRemainingMs === undefined ? Infinity : lambdaRemainingMs - CLEANUP_MARGIN_MS;
  return deadlineAfter(Math.min(budget, lambdaBudget), `${workflow} state ${state}`);
}

/** An SDK v3 client whose every call is aborted at the deadline. */
export function clientWithin<Client extends { send: (...args: never[]) => Promise<unknown> }>(
  client: Client,
  deadline: StepDeadline,
): Client {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property !== 'send') return Reflect.get(target, property, receiver) as unknown;
      return (command: unknown, options?: object) =>
        (target.send as (command: unknown, options: object) => Promise<unknown>)(command, { ...options, abortSignal: deadline.signal });
    },
  });
}

/** A step's `deps` within `deadline`: the deadline itself, and each SDK client named in `clients` aborted at it. */
export function depsWithin<Deps extends { deadline?: StepDeadline }>(
  deps: Deps,
  deadline: StepDeadline | undefined,
  clients: readonly (keyof Deps)[],
): Deps {
  if (deadline === undefined) return deps;
  const bounded = Object.fromEntries(
    clients.map((name) => [name, clientWithin(deps[name] as { send: (...args: never[]) => Promise<unknown> }, deadline)]),
  );
  return { ...deps, ...bounded, deadline };
}

/** Runs `run`; a failure once the deadline has passed (an aborted call, a cancelled statement) is StepTimedOut. */
export async function withinDeadline<T>(deadline: StepDeadline, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw deadline.remainingMs() === 0 ? deadline.timedOut() : error;
  }
}

/**
 * Runs a workflow step within its deadline. The event's `stateName` (each Lambda state of the `.asl.json` passes
 * `$$.State.Name`) names the state whose TimeoutSeconds sets it, and is taken off before `run` sees the event; an
 * event without one (a step called outside a workflow, as EventBridge does) runs with none.
 */
export async function withinStepDeadline<T>(
  workflow: Workflow,
  event: unknown,
  lambdaRemainingMs: number | undefined,
  run: (event: unknown, deadline: StepDeadline | undefined) => Promise<T>,
): Promise<T> {
  if (typeof event !== 'object' || event === null || !('stateName' in event)) return run(event, undefined);
  const { stateName: state, ...rest } = event;
  if (typeof state !== 'string') throw new LifelineError('InvalidInput', `stateName: must name the ${workflow} state that runs the step`);
  const deadline = stepDeadline(workflow, state, lambdaRemainingMs);
  return withinDeadline(deadline, () => run(rest, deadline));
}
