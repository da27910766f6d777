import { describe, expect, it } from 'vitest';
import { selectTier } from '../../lambdas/core/tier.js';

const at = (iso: string) => new Date(iso);

describe('selectTier', () => {
  it('makes the first backup of a database monthly', () => {
    expect(selectTier(at('2026-03-10T02:00:00Z'), 'UTC', [])).toBe('monthly');
  });

  it('makes the first backup of a calendar month monthly even mid-week', () => {
    // 2026-04-01 is a Wednesday; the previous backup was the day before, in the same ISO week.
    expect(selectTier(at('2026-04-01T02:00:00Z'), 'UTC', [at('2026-03-31T02:00:00Z')])).toBe('monthly');
  });

  it('makes the first backup of an ISO week weekly, otherwise daily', () => {
    const previous = [at('2026-03-01T02:00:00Z'), at('2026-03-07T02:00:00Z')]; // Sun 1st, Sat 7th
    expect(selectTier(at('2026-03-09T02:00:00Z'), 'UTC', previous)).toBe('weekly'); // Monday
    expect(selectTier(at('2026-03-10T02:00:00Z'), 'UTC', [...previous, at('2026-03-09T02:00:00Z')])).toBe('daily');
  });

  it('uses ISO weeks that span a year boundary', () => {
    // 2026-12-28 (Mon) to 2027-01-03 (Sun) is ISO week 2026-W53.
    const previous = [at('2027-01-01T10:00:00Z'), at('2026-12-28T10:00:00Z')];
    expect(selectTier(at('2027-01-02T10:00:00Z'), 'UTC', previous)).toBe('daily');
    expect(selectTier(at('2027-01-04T10:00:00Z'), 'UTC', previous)).toBe('weekly');
  });

  it('decides calendar boundaries in the configured time zone', () => {
    // 23:30 UTC on March 31st is already April 1st in Berlin, but still March 31st in New York.
    const previous = [at('2026-03-30T12:00:00Z')];
    const lateMarch31Utc = at('2026-03-31T23:30:00Z');
    expect(selectTier(lateMarch31Utc, 'Europe/Berlin', previous)).toBe('monthly');
    expect(selectTier(lateMarch31Utc, 'America/New_York', previous)).toBe('daily');
    expect(selectTier(lateMarch31Utc, 'UTC', previous)).toBe('daily');
  });

  it('ignores backups that are not earlier than the one being taken', () => {
    expect(selectTier(at('2026-05-05T00:00:00Z'), 'UTC', [at('2026-05-06T00:00:00Z')])).toBe('monthly');
  });

  it('rejects an unknown time zone by name', () => {
    expect(() => selectTier(new Date(), 'Mars/Olympus', [])).toThrow(/timeZone: "Mars\/Olympus" is not an IANA time zone/);
  });
});
