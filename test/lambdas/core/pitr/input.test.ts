import { describe, expect, it } from 'vitest';
import { defaultTargetIdentifier, PITR_INPUT_EXAMPLES, PitrInput, RdsIdentifier } from '../../../../lambdas/core/pitr/input.js';
import { parseInput } from '../../../../lambdas/core/validation.js';

describe('the PITR input', () => {
  it.each(PITR_INPUT_EXAMPLES)('parses the console example %j', (example) => {
    expect(() => parseInput(PitrInput, example, 'PITR input')).not.toThrow();
  });

  it('takes a time with a zone, latest, a named snapshot or the latest automated or manual one', () => {
    const point = (restorePoint: unknown) => PitrInput.parse({ database: 'shop', restorePoint }).restorePoint;
    expect(point('2026-11-23T09:41:00Z')).toBe('2026-11-23T09:41:00Z');
    expect(point('latest')).toBe('latest');
    expect(point({ snapshot: { identifier: 'before-release' } })).toEqual({ snapshot: { identifier: 'before-release' } });
    expect(point({ snapshot: { latest: 'manual' } })).toEqual({ snapshot: { latest: 'manual' } });
  });

  it.each([
    [{ database: 'shop', restorePoint: '2026-11-23T09:41:00' }, /restorePoint/],
    [{ database: 'shop', restorePoint: { snapshot: { latest: 'weekly' } } }, /restorePoint/],
    [{ database: 'shop', restorePoint: 'latest', target: 'shop-pitr--x' }, /target: must be letters, digits and single hyphens/],
    [{ database: 'shop', restorePoint: 'latest', target: 'shop-pitr-' }, /target: must not end with a hyphen/],
    [{ database: 'shop', restorePoint: 'latest', approvalTimeoutHours: 0 }, /approvalTimeoutHours/],
    [{ database: 'shop', restorePoint: 'latest', region: 'eu-west-1' }, /region|Unrecognized/],
    [
      { database: 'shop', restorePoint: 'latest', markRolledBack: ['20261123_add_points'] },
      /markRolledBack: is for restores from a backup \(the restore workflow\): .* a point-in-time recovery reads no backups/,
    ],
    [
      {
        database: 'shop',
        restorePoint: 'latest',
        smokeChecks: [
          { name: 'a', sql: 'SELECT true' },
          { name: 'a', sql: 'SELECT true' },
        ],
      },
      /smokeChecks\[1\]\.name: "a" is used twice/,
    ],
  ])('refuses %j, naming the field', (input, message) => {
    expect(() => parseInput(PitrInput, input, 'PITR input')).toThrow(message);
  });

  it('keeps RDS identifiers in the lowercase RDS stores them in', () => {
    expect(RdsIdentifier.parse('Shop-Recovered')).toBe('shop-recovered');
  });

  it('takes a target of its own only with "-pitr-", where the deployed role may act', () => {
    expect(PitrInput.parse({ database: 'shop', restorePoint: 'latest', target: 'Shop-PITR-Before-Release' }).target).toBe(
      'shop-pitr-before-release',
    );
    expect(() => parseInput(PitrInput, { database: 'shop', restorePoint: 'latest', target: 'shop-before-release' }, 'PITR input')).toThrow(
      /target: must contain "-pitr-"/,
    );
  });

  it('names the default target after the source and the UTC second the execution started, within 63 characters', () => {
    const at = new Date('2026-11-23T10:50:37.123Z');
    expect(defaultTargetIdentifier('shop-production', at)).toBe('shop-production-pitr-20261123105037');
    const long = defaultTargetIdentifier(`a${'-b'.repeat(40)}`, at);
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^a(-b)+-pitr-20261123105037$/);
    expect(() => RdsIdentifier.parse(long)).not.toThrow();
  });
});
