import { z } from 'zod';
import { LIFELINE_ERROR_NAMES, type LifelineErrorName } from '../errors.js';

/**
 * What every workflow's execution state holds and its last steps read the same way, restore and cutover
 * alike: when each step ran, and the errors Step Functions caught.
 */

/** When a step ran, for the durations in outputs and notifications. */
export const Timing = z.strictObject({ startedAt: z.iso.datetime(), finishedAt: z.iso.datetime() });
export type Timing = z.infer<typeof Timing>;

/** Seconds from one ISO time to another, to a tenth. */
export function secondsBetween(from: string, to: string): number {
  return Math.round((Date.parse(to) - Date.parse(from)) / 100) / 10;
}

/** Stamps a step's results with its timing: from now, when the step starts, to when the result is stamped. */
export function stepTimer(now: () => Date): <T>(result: T) => T & { timing: Timing } {
  const startedAt = now().toISOString();
  return (result) => ({ ...result, timing: { startedAt, finishedAt: now().toISOString() } });
}

/** A Catch's ResultPath: the error Step Functions caught. */
export const CaughtError = z.object({ Error: z.string(), Cause: z.string().optional() });
export type CaughtError = z.infer<typeof CaughtError>;

/** The JSON in a caught Cause (Lambda's error, an ECS task's or a child execution's description); undefined for plain text. */
export function causeDetails(cause: string | undefined): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(cause ?? '');
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A cause as a person reads it: Lambda's error JSON (`{"errorType": ..., "errorMessage": ..., "trace": [...]}`), which
 * Step Functions records as the cause of a function that failed where no Catch catches (a workflow's first state,
 * ValidateInput), is its message; any other cause is itself.
 */
export function readableCause(cause: string | undefined): string | undefined {
  const details = causeDetails(cause);
  return typeof details?.errorType === 'string' && typeof details.errorMessage === 'string' ? details.errorMessage : cause;
}

/**
 * The stable name and a readable cause of what was caught: a LifelineError keeps its name and message; anything
 * else (a timeout, a service error) becomes `otherwise`, its own name kept in the cause.
 */
export function nameCaught(caught: CaughtError | undefined, otherwise: LifelineErrorName): { error: LifelineErrorName; cause: string } {
  if (!caught) return { error: otherwise, cause: 'the execution failed without an error' };
  const errorMessage = causeDetails(caught.Cause)?.errorMessage;
  const message = typeof errorMessage === 'string' ? errorMessage : (caught.Cause ?? '');
  return (LIFELINE_ERROR_NAMES as readonly string[]).includes(caught.Error)
    ? { error: caught.Error as LifelineErrorName, cause: message }
    : { error: otherwise, cause: `${caught.Error}: ${message}`.trim() };
}
