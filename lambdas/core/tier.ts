import { z } from 'zod';
import { LifelineError } from './errors.js';

export const TIERS = ['daily', 'weekly', 'monthly'] as const;
export const Tier = z.enum(TIERS);
export type Tier = z.infer<typeof Tier>;

/** A calendar date as seen on a wall clock in some time zone. */
interface LocalDate {
  year: number;
  month: number;
  day: number;
}

export function assertTimeZone(timeZone: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new LifelineError('InvalidInput', `timeZone: "${timeZone}" is not an IANA time zone`);
  }
}

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

/**
 * The tier of a backup taken at `at`: monthly for the first backup of a calendar month, weekly for the first
 * of an ISO week, daily otherwise. Calendar boundaries are those of `timeZone`; `previous` holds the start
 * times of the database's existing (manifested) backups.
 */
export function selectTier(at: Date, timeZone: string, previous: readonly Date[]): Tier {
  assertTimeZone(timeZone);
  const today = localDate(at, timeZone);
  const earlier = previous.filter((time) => time.getTime() < at.getTime()).map((time) => localDate(time, timeZone));
  if (!earlier.some((d) => d.year === today.year && d.month === today.month)) return 'monthly';
  const week = isoWeek(today);
  if (!earlier.some((d) => isoWeek(d) === week)) return 'weekly';
  return 'daily';
}
