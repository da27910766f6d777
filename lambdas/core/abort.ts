import { LifelineError } from './errors.js';

/**
 * The error a run stopped by its signal rejects with: the signal's reason when that is a LifelineError (a
 * Lambda deadline names its own), else Interrupted (SIGINT/SIGTERM) with `message`, which says what was undone.
 */
export function abortError(signal: AbortSignal, message: string): LifelineError {
  return signal.reason instanceof LifelineError ? signal.reason : new LifelineError('Interrupted', message);
}

/** Throws the abort's error once `signal` has fired: between steps, so a stopped run starts nothing new. */
export function throwIfAborted(signal: AbortSignal | undefined, message: string): void {
  if (signal?.aborted) throw abortError(signal, message);
}
