import cutover from '../../../state-machines/cutover.asl.json' with { type: 'json' };
import drill from '../../../state-machines/drill.asl.json' with { type: 'json' };
import pitr from '../../../state-machines/pitr.asl.json' with { type: 'json' };
import restore from '../../../state-machines/restore.asl.json' with { type: 'json' };
import { LifelineError } from '../errors.js';

/**
 * The state machines as deployed, read by the code their states run: each state's TimeoutSeconds and retriers are
 * written once, in the `.asl.json`, and the steps' deadlines and the cutover's time budget are computed from them.
 */

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
}

interface StateDefinition {
  Type: string;
  TimeoutSeconds?: number;
  Retry?: Retrier[];
}

export interface WorkflowDefinition {
  TimeoutSeconds?: number;
  States: Record<string, StateDefinition>;
}

export const WORKFLOW_DEFINITIONS: Record<'restore' | 'cutover' | 'pitr' | 'drill', WorkflowDefinition> = { restore, cutover, pitr, drill };
export type Workflow = keyof typeof WORKFLOW_DEFINITIONS;

/** A Task state's TimeoutSeconds; InvalidInput, naming the state, for a name that is none of the workflow's timed Tasks. */
export function taskTimeoutSeconds(workflow: Workflow, state: string): number {
  const definition = WORKFLOW_DEFINITIONS[workflow].States[state];
  if (definition?.Type !== 'Task' || definition.TimeoutSeconds === undefined) {
    throw new LifelineError('InvalidInput', `state: "${state}" is not a Task with a TimeoutSeconds in ${workflow}.asl.json`);
  }
  return definition.TimeoutSeconds;
}

/** Step Functions' defaults for a retrier's fields: the waits before each of its attempts. */
const retrierWaits = ({ IntervalSeconds = 1, MaxAttempts = 3, BackoffRate = 2, MaxDelaySeconds }: Retrier): number[] =>
  Array.from({ length: MaxAttempts }, (_, attempt) => Math.min(IntervalSeconds * BackoffRate ** attempt, MaxDelaySeconds ?? Infinity));

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

/** An Inactive function's first invocation fails with this until it is active again: the same function, once per execution. */
const NOT_READY = 'Lambda.ResourceNotReadyException';

/**
 * The longest the Task states named can take one after the other, as the definition's timeouts and retriers allow.
 * Every attempt runs to the state's TimeoutSeconds and every retrier uses all its attempts and waits, except that
 * Lambda's own errors (`Lambda.*`, raised by the Invoke API before or instead of the function's answer) cost only
 * their waits, and waking an Inactive function (ResourceNotReady) is waited for once: all these states invoke one
 * function, active from its first answer on.
 */
export function worstCaseSeconds(workflow: Workflow, states: readonly string[]): number {
  let waking = 0;
  let total = 0;
  for (const state of states) {
    const timeout = taskTimeoutSeconds(workflow, state);
    let attempts = 1;
    for (const retrier of WORKFLOW_DEFINITIONS[workflow].States[state]!.Retry ?? []) {
      const waits = sum(retrierWaits(retrier));
      if (retrier.ErrorEquals.every((error) => error === NOT_READY)) waking = Math.max(waking, waits);
      else if (retrier.ErrorEquals.every((error) => error.startsWith('Lambda.'))) total += waits;
      else {
        attempts += retrier.MaxAttempts ?? 3;
        total += waits;
      }
    }
    total += attempts * timeout;
  }
  return total + waking;
}
