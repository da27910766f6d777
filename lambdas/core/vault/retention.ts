import { z } from 'zod';
import type { Tier } from './tier.js';

/**
 * How long each tier's backups live, in days: the vault's lifecycle expiration per tier prefix, and the Object
 * Lock the runtime puts on every backup it writes. Derived from the retention invariant: every
 * calendar day of the last 7, each of the last 4 ISO weeks and each of the last 6 months has a restorable
 * backup, and nothing older than the longest tier survives.
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
 * Object Lock modes. GOVERNANCE: a locked version can be removed early only by a principal holding
 * s3:BypassGovernanceRetention; COMPLIANCE: by nobody, the account's root user included.
 */
export const ObjectLockMode = z.enum(['GOVERNANCE', 'COMPLIANCE']);
export type ObjectLockMode = z.infer<typeof ObjectLockMode>;

const DAY_MS = 86_400_000;

/**
 * Until when an object of `tier` written at `writtenAt` stays locked: N days, which ends before the lifecycle
 * rule expires it (after N days, rounded up to midnight UTC) and so never keeps it longer than its tier.
 */
export function lockedUntil(tier: Tier, writtenAt: Date): Date {
  return new Date(writtenAt.getTime() + TIER_EXPIRATION_DAYS[tier] * DAY_MS);
}
