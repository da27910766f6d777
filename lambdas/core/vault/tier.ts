import { z } from 'zod';
import { parseInput } from '../validation.js';

export const TIERS = ['daily', 'weekly', 'monthly'] as const;
export const Tier = z.enum(TIERS);
export type Tier = z.infer<typeof Tier>;

/** A calendar date as seen on a wall clock in some time zone. */
interface LocalDate {
  year: number;
  month: number;
  day: number;
}

function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** An IANA time zone: the calendar that decides monthly and weekly tiers, and a schedule's wall clock. */
export const TimeZone = z
  .string()
  .refine(isTimeZone, { error: (issue) => `must be an IANA time zone such as "Europe/Berlin", not ${JSON.stringify(issue.input)}` });

function localDate(at: Date, timeZone: string): LocalDate {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
  }).formatToParts(at);
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return { year: part('year'), month: part('month'), day: part('day') };
}

/** ISO 8601 week: weeks start on Monday; week 1 holds the year's first Thursday. */
function isoWeek({ year, month, day }: LocalDate): string {
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = date.getUTCDay() || 7;
  date.setUTCDate(date.getUTCDate() + 4 - weekday); // the Thursday of this week decides its year
  const weekYear = date.getUTCFullYear();
  const week = Math.ceil((date.getTime() - Date.UTC(weekYear, 0, 1)) / 86_400_000 / 7 + 1 / 7);
  return `${weekYear}-W${week}`;
}

/** What tier selection needs to know of an existing (manifested) backup. */
export interface TieredBackup {
  startedAt: Date;
  tier: Tier;
}

/**
 * The tier of a backup taken at `at`: monthly when the calendar month has no monthly backup yet, weekly
 * when the ISO week has neither a weekly nor a monthly one, daily otherwise. Calendar boundaries are those
 * of `timeZone`. Only tiers count, not mere backups: an explicit daily or pre-migration backup on the 1st
 * must not cost the month its monthly copy.
 */
export function selectTier(at: Date, timeZone: string, previous: readonly TieredBackup[]): Tier {
  parseInput(TimeZone, timeZone, 'timeZone');
  const today = localDate(at, timeZone);
  const week = isoWeek(today);
  const earlier = previous
    .filter((backup) => backup.startedAt.getTime() < at.getTime())
    .map((backup) => ({ tier: backup.tier, date: localDate(backup.startedAt, timeZone) }));
  const sameMonth = (d: LocalDate) => d.year === today.year && d.month === today.month;
  if (!earlier.some((b) => b.tier === 'monthly' && sameMonth(b.date))) return 'monthly';
  if (!earlier.some((b) => b.tier !== 'daily' && isoWeek(b.date) === week)) return 'weekly';
  return 'daily';
}
