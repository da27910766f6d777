import { TIER_EXPIRATION_DAYS } from '../../lambdas/core/vault/retention.js';

/**
 * A version that stopped being current (its tier expired it, or a delete marker hid it) stays recoverable for
 * as long as its tier, so that nothing short of its tier's retention removes a backup, whatever hid it. The
 * price: every backup lingers as a noncurrent version for one more tier period after it expires, up to twice
 * the storage of the live backups. Object Lock protects the same versions for the same span on its own; this
 * keeps them when a lock was shorter (an upload that named none gets the bucket's daily default).
 */
export const NONCURRENT_VERSION_DAYS = TIER_EXPIRATION_DAYS;

/** An upload that never completed (a crashed run) holds storage until this many days after it started. */
export const INCOMPLETE_UPLOAD_DAYS = 1;
