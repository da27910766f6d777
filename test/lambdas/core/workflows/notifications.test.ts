import { describe, expect, it } from 'vitest';
import { snsSubjectProblem } from '../../../../lambdas/core/workflows/aws-limits.js';
import { notificationSubject } from '../../../../lambdas/core/workflows/notifications.js';

describe('a notification subject', () => {
  it('is left whole when SNS takes it', () => {
    expect(notificationSubject('shop restored into shop_restored_202611231050')).toBe(
      'Lifeline: shop restored into shop_restored_202611231050',
    );
  });

  it('is cut to 99 characters, marked, when the names in it are long', () => {
    const name = 'n'.repeat(63);
    const subject = notificationSubject(`${name} restored into ${name}_x`);
    expect(subject).toHaveLength(99);
    expect(subject).toMatch(/^Lifeline: n+ restored into n+\.\.\.$/);
    expect(snsSubjectProblem(subject)).toBeUndefined();
  });

  it('is one line of printable ASCII, whatever an error or a name holds', () => {
    const subject = notificationSubject('cutover of shop-api failed (a\nb\tcafé)');
    expect(subject).toBe('Lifeline: cutover of shop-api failed (a b caf?)');
    expect(snsSubjectProblem(subject)).toBeUndefined();
  });
});
