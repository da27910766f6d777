import { describe, expect, it } from 'vitest';
import { cronFieldValues, cronTimesOfDay } from '../../../lib/config/cron.js';

describe('a cron field', () => {
  it.each([
    ['*', 5, [0, 1, 2, 3, 4, 5]],
    ['7', 59, [7]],
    ['1-3', 23, [1, 2, 3]],
    ['*/15', 59, [0, 15, 30, 45]],
    ['5/20', 59, [5, 25, 45]],
    ['10-30/10', 59, [10, 20, 30]],
    ['30,0,*/20', 59, [0, 20, 30, 40]],
  ] as const)('%s selects its values up to %i', (field, max, values) => {
    expect(cronFieldValues(field, max)).toEqual(values);
  });

  it.each(['60', '5-2', '*/0', '', 'a', '1-', '/5', '1,,2', '1-2-3', 'L'])('"%s" is not a minutes field', (field) => {
    expect(cronFieldValues(field, 59)).toBeUndefined();
  });
});

describe('the times of day a cron fires at', () => {
  it('combine every hour with every minute, in minutes after midnight', () => {
    expect(cronTimesOfDay('0,30 1-2 * * ? *')).toEqual([60, 90, 120, 150]);
    expect(cronTimesOfDay('15 23 * * ? *')).toEqual([23 * 60 + 15]);
  });

  it('are unknown for fields that are not cron fields', () => {
    expect(cronTimesOfDay('0 24 * * ? *')).toBeUndefined();
    expect(cronTimesOfDay('x 2 * * ? *')).toBeUndefined();
  });
});
