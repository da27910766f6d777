import { describe, expect, it } from 'vitest';
import { classifyStatus, requiresSkipFinalSnapshot, TERMINAL_STATUSES } from '../../../../lambdas/core/pitr/status.js';

describe('what a restored instance status means to the wait', () => {
  it('counts storage-optimization as available: the database serves', () => {
    expect(classifyStatus('available')).toBe('available');
    expect(classifyStatus('storage-optimization')).toBe('available');
  });

  it.each([
    'failed',
    'incompatible-restore',
    'incompatible-parameters',
    'incompatible-network',
    'incompatible-option-group',
    'inaccessible-encryption-credentials',
    'insufficient-capacity',
    'restore-error',
    'storage-full',
  ])('ends the wait on %s, which RDS never leaves by itself', (status) => {
    expect(TERMINAL_STATUSES).toContain(status);
    expect(classifyStatus(status)).toBe('terminal');
  });

  it.each(['creating', 'backing-up', 'modifying', 'configuring-enhanced-monitoring', 'rebooting', undefined])(
    'keeps waiting on %s',
    (status) => {
      expect(classifyStatus(status)).toBe('waiting');
    },
  );

  it('deletes failed and incompatible-* instances with SkipFinalSnapshot only', () => {
    expect(requiresSkipFinalSnapshot('failed')).toBe(true);
    expect(requiresSkipFinalSnapshot('incompatible-parameters')).toBe(true);
    expect(requiresSkipFinalSnapshot('restore-error')).toBe(true);
    expect(requiresSkipFinalSnapshot('available')).toBe(false);
    expect(requiresSkipFinalSnapshot('storage-full')).toBe(false);
  });
});
