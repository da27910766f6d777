import { LifelineError } from './errors.js';

/**
 * Time kept back from Lambda's limit for stopping cleanly: stopping pg_dump, aborting the multipart upload or
 * deleting an archive without its manifest, and publishing the run's metrics.
 */
export const CLEANUP_MARGIN_MS = 30_000;

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
