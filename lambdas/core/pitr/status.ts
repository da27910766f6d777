/**
 * What an RDS instance's or Aurora cluster's status means to a restore waiting for it. Comparing with `available`
 * alone loops forever on the terminal ones; the SDK's waiter misses several of them too.
 */

/** Statuses RDS never leaves by itself for a new restore: the wait ends, and Cleanup deletes what was created. */
export const TERMINAL_STATUSES = [
  'failed',
  'incompatible-restore',
  'incompatible-parameters',
  'incompatible-network',
  'incompatible-option-group',
  'incompatible-credentials',
  'inaccessible-encryption-credentials',
  'inaccessible-encryption-credentials-recoverable',
  'insufficient-capacity',
  'restore-error',
  'storage-full',
  // Someone else is deleting or has stopped what this execution restored: it will not become available.
  'deleting',
  'deleted',
  'stopping',
  'stopped',
] as const;

/** Statuses in which the restored database serves: storage-optimization runs after a storage change, online. */
export const AVAILABLE_STATUSES = ['available', 'storage-optimization'] as const;

export type StatusClass = 'available' | 'terminal' | 'waiting';

/** available, terminal, or still on its way (creating, backing-up, modifying, configuring-*, rebooting, ...). */
export function classifyStatus(status: string | undefined): StatusClass {
  const s = (status ?? '').toLowerCase();
  if ((AVAILABLE_STATUSES as readonly string[]).includes(s)) return 'available';
  if ((TERMINAL_STATUSES as readonly string[]).includes(s)) return 'terminal';
  return 'waiting';
}

/** Statuses whose instance RDS deletes only with SkipFinalSnapshot: it has no data to snapshot. */
export function requiresSkipFinalSnapshot(status: string | undefined): boolean {
  const s = (status ?? '').toLowerCase();
  return s === 'failed' || s.startsWith('incompatible-') || s === 'restore-error' || s === 'insufficient-capacity';
}
