import { LifelineError, type LifelineErrorName } from './errors.js';

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

export function exitCodeFor(error: unknown): number {
  const name = (error as Error | undefined)?.name;
  return error instanceof LifelineError && name && name in RUNNER_EXIT_CODES
    ? RUNNER_EXIT_CODES[name as keyof typeof RUNNER_EXIT_CODES]
    : 1;
}

export function errorNameForExitCode(code: number): LifelineErrorName {
  const entry = Object.entries(RUNNER_EXIT_CODES).find(([, value]) => value === code);
  return (entry?.[0] as LifelineErrorName | undefined) ?? 'RestoreFailed';
}

/** The codes and the error each names, for a person reading why a task stopped: "10 InvalidInput, …; 1 any other failure". */
export function exitCodeLegend(): string {
  const named = Object.entries(RUNNER_EXIT_CODES).filter(([, code]) => code !== 1);
  return `${named.map(([name, code]) => `${code} ${name}`).join(', ')}; 1 any other failure`;
}
