import { describe, expect, it } from 'vitest';
import { routeFor, type AlarmStarterSettings } from '../../../../lambdas/core/alarms/routes.js';
import { alarmExecutionName, AlarmStateChange, transitionIntoAlarm } from '../../../../lambdas/core/alarms/transition.js';
import { executionNameProblem } from '../../../../lambdas/core/workflows/aws-limits.js';

const changedAt = new Date('2026-11-23T10:50:12.345Z');
const nameOf = (alarmName: string) => alarmExecutionName({ alarmName, changedAt });

describe('the execution an alarm transition starts', () => {
  it("keeps a plain alarm name and adds the transition's time to the millisecond", () => {
    expect(nameOf('shop-api-5xx-rate')).toBe('shop-api-5xx-rate-20261123T105012345Z');
    expect(alarmExecutionName({ alarmName: 'shop-api-5xx-rate', changedAt: new Date('2026-11-23T10:50:12.346Z') })).toBe(
      'shop-api-5xx-rate-20261123T105012346Z',
    );
  });

  it('cleans a name to what Step Functions takes and adds a hash of the whole name when it did', () => {
    const name = nameOf('shop orders: DELETE spike / eu-west-1 [prod]');
    expect(name).toMatch(/^shop-orders-DELETE-spike-eu-west-1-prod--[0-9a-f]{8}-20261123T105012345Z$/);
    expect(executionNameProblem(name)).toBeUndefined();
  });

  it('cuts a long name to 80 characters with the hash, and every name it makes is one Step Functions takes', () => {
    const long = `orders-${'x'.repeat(240)}`;
    for (const alarmName of [long, 'ümlaut ålarm', '🔥'.repeat(100), 'a'.repeat(60), 'a'.repeat(61), 'tab\there', '"quoted"#%']) {
      const name = nameOf(alarmName);
      expect(name.length).toBeLessThanOrEqual(80);
      expect(executionNameProblem(name)).toBeUndefined();
      expect(nameOf(alarmName)).toBe(name);
    }
    expect(nameOf('a'.repeat(60))).toBe(`${'a'.repeat(60)}-20261123T105012345Z`);
    expect(nameOf('a'.repeat(61))).toMatch(/^a{51}-[0-9a-f]{8}-20261123T105012345Z$/);
  });

  it('never gives two alarms the same name, however alike they clean or cut', () => {
    const alarms = [
      'shop orders',
      'shop/orders',
      'shop-orders',
      'shop:orders',
      `${'p'.repeat(70)}-one`,
      `${'p'.repeat(70)}-two`,
      'ümlaut',
      'ämlaut',
    ];
    const names = alarms.map(nameOf);
    expect(new Set(names).size).toBe(alarms.length);
  });
});

describe('the transition an event reports', () => {
  const event = (to: string, from: string) =>
    AlarmStateChange.parse({
      source: 'aws.cloudwatch',
      'detail-type': 'CloudWatch Alarm State Change',
      detail: {
        alarmName: 'shop-api-5xx-rate',
        state: { value: to, timestamp: '2026-11-23T10:50:12.345+0000' },
        previousState: { value: from, timestamp: '2026-11-23T09:00:00.000+0000' },
      },
    });

  it("reads CloudWatch's time, an offset without a colon, as the moment it is", () => {
    expect(transitionIntoAlarm(event('ALARM', 'OK'))).toEqual({ alarmName: 'shop-api-5xx-rate', changedAt });
    expect(transitionIntoAlarm(event('ALARM', 'INSUFFICIENT_DATA'))).toEqual({ alarmName: 'shop-api-5xx-rate', changedAt });
  });

  it('is none unless the alarm went into ALARM from another state', () => {
    expect(transitionIntoAlarm(event('OK', 'ALARM'))).toBeUndefined();
    expect(transitionIntoAlarm(event('ALARM', 'ALARM'))).toBeUndefined();
    expect(transitionIntoAlarm(event('INSUFFICIENT_DATA', 'OK'))).toBeUndefined();
  });
});

describe('the route of an alarm', () => {
  const settings: AlarmStarterSettings = {
    deployment: 'lifeline',
    cooldownTable: 'cooldowns',
    routes: [{ alarmName: 'shop-api-5xx-rate', database: 'shop', action: 'prepare-pitr', lookbackMinutes: 15 }],
  };

  it("is the configured one, or a backup for a scheduled database's staleness alarm, or none", () => {
    expect(routeFor(settings, 'shop-api-5xx-rate')).toMatchObject({ database: 'shop', action: 'prepare-pitr' });
    expect(routeFor(settings, 'lifeline-shop-backup-stale')).toEqual({
      alarmName: 'lifeline-shop-backup-stale',
      database: 'shop',
      action: 'backup',
      lookbackMinutes: 0,
    });
    expect(routeFor(settings, 'lifeline-shop-backup-failed')).toBeUndefined();
    expect(routeFor(settings, 'other-shop-backup-stale')).toBeUndefined();
    expect(routeFor(settings, 'lifeline-a/b-backup-stale')).toBeUndefined();
  });
});
