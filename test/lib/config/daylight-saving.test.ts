import { describe, expect, it } from 'vitest';
import { skippedRunProblem } from '../../../lib/config/daylight-saving.js';

const NOW = Date.UTC(2026, 10, 23);
const EVERY_MINUTE = Array.from({ length: 24 * 60 }, (_, minute) => minute);
const at = (hour: number, minute: number) => hour * 60 + minute;

/** The minutes of the day that are refused one at a time, as [first, last] stretches. */
function refusedStretches(timeZone: string, now = NOW): [number, number][] {
  const stretches: [number, number][] = [];
  for (const minute of EVERY_MINUTE) {
    if (skippedRunProblem([minute], timeZone, now) === undefined) continue;
    const last = stretches.at(-1);
    if (last && last[1] === minute - 1) last[1] = minute;
    else stretches.push([minute, minute]);
  }
  return stretches;
}

describe('a daily run daylight saving skips', () => {
  it('is named with the first day it happens, the gap and a safe time', () => {
    expect(skippedRunProblem([at(2, 30)], 'Europe/Berlin', NOW)).toBe(
      '02:30 does not exist in Europe/Berlin on 2027-03-28 (clocks skip 02:00-03:00), so EventBridge Scheduler would skip that run; pick a time outside 02:00-03:00, such as 03:30',
    );
    // After this year's change, the next one.
    expect(skippedRunProblem([at(2, 30)], 'Europe/Berlin', Date.UTC(2027, 3, 1))).toMatch(/ on 2028-03-26 /);
    expect(skippedRunProblem([at(0, 0), at(2, 0), at(2, 45)], 'Europe/Berlin', NOW)).toBe(
      '02:00, 02:45 do not exist in Europe/Berlin on 2027-03-28 (clocks skip 02:00-03:00), so EventBridge Scheduler would skip those runs; pick a time outside 02:00-03:00, such as 03:00',
    );
  });

  it.each([
    // Northern and southern spring, a half-hour change, a change at midnight.
    ['Europe/Berlin', [[at(2, 0), at(2, 59)]], '2027-03-28'],
    ['America/New_York', [[at(2, 0), at(2, 59)]], '2027-03-14'],
    ['Pacific/Auckland', [[at(2, 0), at(2, 59)]], '2027-09-26'],
    ['Australia/Lord_Howe', [[at(2, 0), at(2, 29)]], '2027-10-03'],
    ['America/Santiago', [[at(0, 0), at(0, 59)]], '2027-09-05'],
  ] as const)('refuses exactly the times in the spring gap of %s (times that repeat in autumn run once)', (timeZone, stretches, day) => {
    expect(refusedStretches(timeZone)).toEqual(stretches);
    expect(skippedRunProblem([stretches[0][0]], timeZone, NOW)).toContain(` on ${day} `);
  });

  it.each(['UTC', 'Asia/Kolkata', 'Asia/Tokyo'])('never happens in %s, which keeps one offset', (timeZone) => {
    expect(skippedRunProblem(EVERY_MINUTE, timeZone, NOW)).toBeUndefined();
  });
});
