import { constants } from 'node:os';
import { LifelineError, type LifelineErrorName } from './errors.js';

/**
 * The `lifeline` CLI's exit codes: 2 for a bad input; 130 or 143, as a shell reports a process ended by SIGINT or
 * SIGTERM, for a run that the signal `interruptedBy` stopped cleanly; 1 for any other failure.
 */
export function cliExitCode(error: unknown, interruptedBy?: 'SIGINT' | 'SIGTERM'): number {
  if (!(error instanceof LifelineError)) return 1;
  if (error.name === 'InvalidInput') return 2;
  if (error.name === 'Interrupted' && interruptedBy) return 128 + constants.signals[interruptedBy];
  return 1;
}

/**
 * The runner container's exit codes, for restores and backups alike: ECS reports only the container's exit code, so
 * whoever started the task (the restore workflow, an operator reading why a backup task stopped) learns the runner's
 * error name from it. 1 is any other failure, which the restore workflow reports as RestoreFailed.
 */
const RUNNER_EXIT_CODES = {
  RestoreFailed: 1,
  InvalidInput: 10,
  SecretUnreadable: 11,
  DatabaseUnreachable: 12,
  BackupNotFound: 13,
  StorageFailed: 14,
  ChecksumMismatch: 15,
  VerificationFailed: 16,
  Interrupted: 17,
  InvalidConfig: 18,
  DumpFailed: 19,
  BackupExists: 20,
} as const satisfies Partial<Record<LifelineErrorName, number>>;

export function runnerExitCode(error: unknown): number {
  const name = (error as Error | undefined)?.name;
  return error instanceof LifelineError && name && name in RUNNER_EXIT_CODES
    ? RUNNER_EXIT_CODES[name as keyof typeof RUNNER_EXIT_CODES]
    : 1;
}

export function runnerErrorName(code: number): LifelineErrorName {
  const entry = Object.entries(RUNNER_EXIT_CODES).find(([, value]) => value === code);
  return (entry?.[0] as LifelineErrorName | undefined) ?? 'RestoreFailed';
}

/** The codes and the error each names, for a person reading why a task stopped: "10 InvalidInput, …; 1 any other failure". */
export function runnerExitCodeLegend(): string {
  const named = Object.entries(RUNNER_EXIT_CODES).filter(([, code]) => code !== 1);
  return `${named.map(([name, code]) => `${code} ${name}`).join(', ')}; 1 any other failure`;
}
