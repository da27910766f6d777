const MINUTE = 60_000;
const DAY = 86_400_000;
/** A zone's rules repeat yearly; looking a few years ahead also catches changes already announced. */
const YEARS_AHEAD = 5;

/** Wall-clock time that a zone's clocks jump over, as Date.UTC-style readings of the wall clock: [start, end). */
interface WallClockGap {
  start: number;
  end: number;
}

const wallClocks = new Map<string, Intl.DateTimeFormat>();

export interface WallClockReading {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
}

/** What a wall clock in `timeZone` shows at `instant`. */
export function wallClock(instant: number, timeZone: string): WallClockReading {
  let format = wallClocks.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    wallClocks.set(timeZone, format);
  }
  const parts = format.formatToParts(instant);
  const part = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value);
  return { year: part('year'), month: part('month'), day: part('day'), hour: part('hour'), minute: part('minute') };
}

/** How many minutes the wall clock in `timeZone` is ahead of UTC at a whole-minute instant. */
function utcOffsetMinutes(instant: number, timeZone: string): number {
  const { year, month, day, hour, minute } = wallClock(instant, timeZone);
  return (Date.UTC(year, month - 1, day, hour, minute) - instant) / MINUTE;
}

const gapsByZone = new Map<string, WallClockGap[]>();

/** The gaps in a zone's wall clock during YEARS_AHEAD years from midnight UTC `from`. */
function wallClockGaps(timeZone: string, from: number): WallClockGap[] {
  const key = `${timeZone} ${from}`;
  const known = gapsByZone.get(key);
  if (known) return known;
  const gaps: WallClockGap[] = [];
  // Offsets change a few times a year and never twice in a day, so a daily sample sees every change.
  let offset = utcOffsetMinutes(from, timeZone);
  for (let day = from; day < from + YEARS_AHEAD * 366 * DAY; day += DAY) {
    const next = utcOffsetMinutes(day + DAY, timeZone);
    if (next > offset) {
      // Bisect for the first minute of the new offset.
      let [before, after] = [day, day + DAY];
      while (after - before > MINUTE) {
        const middle = before + Math.floor((after - before) / 2 / MINUTE) * MINUTE;
        if (utcOffsetMinutes(middle, timeZone) === offset) before = middle;
        else after = middle;
      }
      gaps.push({ start: after + offset * MINUTE, end: after + next * MINUTE });
    }
    offset = next;
  }
  gapsByZone.set(key, gaps);
  return gaps;
}

const minuteOfDay = (wallClock: number) => (wallClock % DAY) / MINUTE;
const hhmm = (minutes: number) => `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

/**
 * EventBridge Scheduler skips a run whose wall-clock time does not exist because daylight saving moves the
 * clocks over it. Says which of a daily schedule's `times` (minutes after midnight) the zone first skips in
 * the next few years, on which day, and a time that is safe; undefined when the zone skips none of them.
 */
export function skippedRunProblem(times: readonly number[], timeZone: string, now = Date.now()): string | undefined {
  for (const gap of wallClockGaps(timeZone, Math.floor(now / DAY) * DAY)) {
    const skipped = times
      .map((time) => {
        // The first reading of `time` on the wall clock from the gap's start on.
        const at = Math.floor(gap.start / DAY) * DAY + time * MINUTE;
        return { time, at: at < gap.start ? at + DAY : at };
      })
      .filter(({ at }) => at < gap.end)
      .sort((a, b) => a.at - b.at);
    const [first] = skipped;
    if (!first) continue;
    const span = `${hhmm(minuteOfDay(gap.start))}-${hhmm(minuteOfDay(gap.end))}`;
    const safe = hhmm((first.time + (gap.end - gap.start) / MINUTE) % (DAY / MINUTE));
    const [listed, exist, runs] =
      skipped.length === 1
        ? [hhmm(first.time), 'does not exist', 'that run']
        : [skipped.map(({ time }) => hhmm(time)).join(', '), 'do not exist', 'those runs'];
    const date = new Date(first.at).toISOString().slice(0, 10);
    return `${listed} ${exist} in ${timeZone} on ${date} (clocks skip ${span}), so EventBridge Scheduler would skip ${runs}; pick a time outside ${span}, such as ${safe}`;
  }
  return undefined;
}
