import type { Tier } from '../../lambdas/core/tier.js';

/**
 * Lifecycle expiration, in days, of each tier's prefix, derived from the retention invariant in DESIGN.md:
 * every calendar day of the last 7, each of the last 4 ISO weeks and each of the last 6 months has a
 * restorable backup, and nothing older than the longest tier survives.
 *
 * How long a backup must live: until the backup that replaces it in its window exists.
 *   daily   the backup of day d, until the backup of day d+7 ........................ span   7 days
 *   weekly  the first backup of ISO week w, until the first of week w+4 ................ span  28 days
 *   monthly the first backup of month m, until the first of month m+6 ....... span 181 to 184 days
 *           (Mar-Aug and Jul-Dec are 184 days long)
 * The replacing backup can be written later than the same wall-clock time `span` days on: one hour when the
 * schedule's time zone leaves daylight saving time in between, plus the run's own delay (Scheduler retries
 * for at most 1 hour, Lambda's asynchronous retries for at most 6, the run at most 15 minutes): under a day.
 *
 * S3 expires an object at the first midnight UTC after creation + N days, that is at
 * midnightUTC(created) + (N + 1) days: somewhere in (created + N days, created + N + 1 days]. For a backup
 * written just before midnight UTC that is barely more than N days, so N must cover span + delay:
 * N = span + 1 day. N = span is not enough: a schedule at 19:30 in New York writes at 23:30 UTC in summer,
 * and in November the backup 7 days later lands at 00:30 UTC, half an hour after the old one expired.
 *
 * The same rounding bounds the other side: a monthly backup is gone at most 186 days after it was written.
 */
export const TIER_EXPIRATION_DAYS = {
  daily: 7 + 1,
  weekly: 28 + 1,
  monthly: 184 + 1,
} as const satisfies Record<Tier, number>;

/**
 * Versions that a tier rule expired or an overwrite replaced stay recoverable for a day; any longer would keep
 * a second copy of the whole daily tier. Object Lock, when enabled, protects backups for longer.
 */
export const NONCURRENT_VERSION_DAYS = 1;

/** An upload that never completed (a crashed run) holds storage until this many days after it started. */
export const INCOMPLETE_UPLOAD_DAYS = 1;
