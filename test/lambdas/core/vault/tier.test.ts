import { describe, expect, it } from 'vitest';
import { selectTier, type Tier } from '../../../../lambdas/core/vault/tier.js';

const at = (iso: string) => new Date(iso);
const backup = (iso: string, tier: Tier) => ({ startedAt: at(iso), tier });

describe('selectTier', () => {
  it('makes the first backup of a database monthly', () => {
    expect(selectTier(at('2026-03-10T02:00:00Z'), 'UTC', [])).toBe('monthly');
  });

  it('makes the first backup of a calendar month monthly even mid-week', () => {
    // 2026-04-01 is a Wednesday; the previous backup was the day before, in the same ISO week.
    const previous = [backup('2026-03-30T02:00:00Z', 'weekly'), backup('2026-03-31T02:00:00Z', 'daily')];
    expect(selectTier(at('2026-04-01T02:00:00Z'), 'UTC', previous)).toBe('monthly');
  });

  it('makes the first backup of an ISO week weekly, otherwise daily', () => {
    const previous = [backup('2026-03-01T02:00:00Z', 'monthly'), backup('2026-03-07T02:00:00Z', 'daily')]; // Sun 1st, Sat 7th
    expect(selectTier(at('2026-03-09T02:00:00Z'), 'UTC', previous)).toBe('weekly'); // Monday
    expect(selectTier(at('2026-03-10T02:00:00Z'), 'UTC', [...previous, backup('2026-03-09T02:00:00Z', 'weekly')])).toBe('daily');
  });

  it('lets a monthly backup stand for its ISO week', () => {
    // 2026-07-01 is a Wednesday: its monthly covers the week, so Thursday is daily, the next Monday weekly.
    const previous = [backup('2026-06-29T02:00:00Z', 'weekly'), backup('2026-07-01T02:00:00Z', 'monthly')];
    expect(selectTier(at('2026-07-02T02:00:00Z'), 'UTC', previous)).toBe('daily');
    expect(selectTier(at('2026-07-06T02:00:00Z'), 'UTC', previous)).toBe('weekly');
  });

  it('does not let an explicit daily backup take the month or the week away', () => {
    // A pre-migration backup forced to daily ran first on the 1st; the scheduled run must still be monthly.
    expect(selectTier(at('2026-05-01T03:00:00Z'), 'UTC', [backup('2026-05-01T01:00:00Z', 'daily')])).toBe('monthly');
    const previous = [backup('2026-05-01T03:00:00Z', 'monthly'), backup('2026-05-04T01:00:00Z', 'daily')];
    expect(selectTier(at('2026-05-04T03:00:00Z'), 'UTC', previous)).toBe('weekly');
  });

  it('uses ISO weeks that span a year boundary', () => {
    // 2026-12-28 (Mon) to 2027-01-03 (Sun) is ISO week 2026-W53.
    const previous = [backup('2026-12-28T10:00:00Z', 'weekly'), backup('2027-01-01T10:00:00Z', 'monthly')];
    expect(selectTier(at('2027-01-02T10:00:00Z'), 'UTC', previous)).toBe('daily');
    expect(selectTier(at('2027-01-04T10:00:00Z'), 'UTC', previous)).toBe('weekly');
  });

  it('decides calendar boundaries in the configured time zone', () => {
    // 23:30 UTC on March 31st is already April 1st in Berlin, but still March 31st in New York.
    const previous = [backup('2026-03-02T12:00:00Z', 'monthly'), backup('2026-03-30T12:00:00Z', 'weekly')];
    const lateMarch31Utc = at('2026-03-31T23:30:00Z');
    expect(selectTier(lateMarch31Utc, 'Europe/Berlin', previous)).toBe('monthly');
    expect(selectTier(lateMarch31Utc, 'America/New_York', previous)).toBe('daily');
    expect(selectTier(lateMarch31Utc, 'UTC', previous)).toBe('daily');
  });

  it('ignores backups that are not earlier than the one being taken', () => {
    expect(selectTier(at('2026-05-05T00:00:00Z'), 'UTC', [backup('2026-05-06T00:00:00Z', 'monthly')])).toBe('monthly');
  });

  it('rejects an unknown time zone by name', () => {
    expect(() => selectTier(new Date(), 'Mars/Olympus', [])).toThrow(
      /invalid timeZone: must be an IANA time zone such as "Europe\/Berlin", not "Mars\/Olympus"/,
    );
  });
});
