/**
 * The retention invariant (lambdas/core/vault/retention.ts), proved by simulation: a scheduled backup a day for 400 days (none on
 * a day whose scheduled time daylight saving skips, as EventBridge Scheduler does), each tier chosen by the
 * engine's selectTier, every object expiring exactly as the synthesized lifecycle rules and S3's rounding
 * say, and the invariant checked at every moment the vault's content can change.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { backupKey, manifestKeyFor } from '../../../lambdas/core/vault/keys.js';
import { lockedUntil } from '../../../lambdas/core/vault/retention.js';
import { selectTier, TIERS, type Tier } from '../../../lambdas/core/vault/tier.js';
import { cronTimesOfDay } from '../../../lib/config/cron.js';
import { wallClock } from '../../../lib/config/daylight-saving.js';
import { parseConfig } from '../../../lib/config/load.js';
import { exampleConfig, exampleJson, synthesize } from '../../support/stacks.js';

interface LifecycleRule {
  Id: string;
  Status: string;
  Prefix?: string;
  Filter?: { Prefix?: string };
  ExpirationInDays?: number;
}

const DAY = 86_400_000;
const MINUTE = 60_000;
const SIMULATED_DAYS = 400;
const FIRST_DAY = Date.UTC(2025, 0, 1);
/**
 * How old a backup may get: six calendar months are at most 184 days; the replacing backup may come up to a
 * day late (daylight saving, retries), and S3 rounds expiry up to the next midnight UTC.
 */
const LONGEST_TIER_DAYS = 184 + 1 + 1;

/** The vault bucket's lifecycle rules, as synthesized. */
function synthesizedRules(): LifecycleRule[] {
  const { vaultTemplate } = synthesize(exampleConfig());
  const vaults = Object.values(
    vaultTemplate.findResources('AWS::S3::Bucket', { Properties: { VersioningConfiguration: { Status: 'Enabled' } } }),
  );
  expect(vaults).toHaveLength(1);
  return vaults[0]!.Properties.LifecycleConfiguration.Rules as LifecycleRule[];
}

/**
 * When S3 removes an object from view: at the first midnight UTC after creation + N days, N being the
 * shortest expiration of the enabled rules whose prefix the key starts with.
 */
function expiresAt(key: string, created: number, rules: readonly LifecycleRule[]): number {
  const days = rules
    .filter((rule) => rule.Status === 'Enabled' && rule.ExpirationInDays !== undefined)
    .filter((rule) => key.startsWith(rule.Prefix ?? rule.Filter?.Prefix ?? ''))
    .map((rule) => rule.ExpirationInDays!);
  if (days.length === 0) return Number.POSITIVE_INFINITY;
  return Math.floor(created / DAY) * DAY + (Math.min(...days) + 1) * DAY;
}

/** The instant a wall clock in `timeZone` shows hh:mm on the given calendar day. */
function zonedInstant(year: number, month: number, day: number, [hour, minute]: readonly [number, number], timeZone: string): number {
  const wanted = Date.UTC(year, month - 1, day, hour, minute);
  let instant = wanted;
  for (let i = 0; i < 3; i++) {
    const seen = wallClock(instant, timeZone);
    instant += wanted - Date.UTC(seen.year, seen.month - 1, seen.day, seen.hour, seen.minute);
  }
  return instant;
}

/** ISO 8601 week of a calendar day: weeks start on Monday, and belong to the year of their Thursday. */
function isoWeek(year: number, month: number, day: number): string {
  const date = new Date(Date.UTC(year, month - 1, day));
  date.setUTCDate(date.getUTCDate() + 4 - (date.getUTCDay() || 7));
  const weekYear = date.getUTCFullYear();
  return `${weekYear}-W${Math.ceil(((date.getTime() - Date.UTC(weekYear, 0, 1)) / DAY + 1) / 7)}`;
}

interface Scenario {
  name: string;
  timeZone: string;
  /** The schedule's wall-clock time. */
  at: readonly [number, number];
  runMinutes: number;
  /** How late the run starts on day i (Scheduler and Lambda retries). */
  delayMinutes?: (day: number) => number;
}

/** The calendar periods a scheduled run belongs to, as seen on the schedule's wall clock. */
interface Periods {
  day: string;
  week: string;
  month: string;
}

/** A day's scheduled run, whether or not it happened. */
interface ScheduledRun extends Periods {
  /** When its manifest would have been written. */
  due: number;
}

interface Backup extends Periods {
  start: number;
  tier: Tier;
  /** Multipart uploads date from their initiation. */
  dumpCreated: number;
  manifestCreated: number;
  dumpExpires: number;
  manifestExpires: number;
  /** When the Object Lock the engine puts on each object ends. */
  dumpUnlocks: number;
  manifestUnlocks: number;
}

type Window = 'daily' | 'weekly' | 'monthly';
interface Violation {
  kind: Window | 'too old';
  at: string;
  what: string;
}

const WINDOWS: readonly [Window, number, (periods: Periods) => string][] = [
  ['daily', 7, (backup) => backup.day],
  ['weekly', 4, (backup) => backup.week],
  ['monthly', 6, (backup) => backup.month],
];

/** Restorable: the manifest is written and neither object has expired. */
const restorable = (backup: Backup, at: number) => backup.manifestCreated <= at && at < backup.dumpExpires && at < backup.manifestExpires;

/**
 * `removal`: when an object leaves the vault. `lifecycle`: when its tier's rule expires it. `when-unlocked`: as
 * soon as anything may remove it, the moment its Object Lock ends, as if an attacker deleted every object then.
 */
function simulate(
  rules: readonly LifecycleRule[],
  scenario: Scenario,
  removal: 'lifecycle' | 'when-unlocked' = 'lifecycle',
): { backups: Backup[]; violations: Violation[] } {
  const runs: ScheduledRun[] = [];
  const backups: Backup[] = [];
  for (let i = 0; i < SIMULATED_DAYS; i++) {
    const date = new Date(FIRST_DAY + i * DAY);
    const [year, month, day] = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
    const scheduled = zonedInstant(year, month, day, scenario.at, scenario.timeZone);
    const start = scheduled + (scenario.delayMinutes?.(i) ?? 0) * MINUTE;
    runs.push({
      due: start + scenario.runMinutes * MINUTE,
      day: `${year}-${month}-${day}`,
      week: isoWeek(year, month, day),
      month: `${year}-${month}`,
    });
    // EventBridge Scheduler skips a time the wall clock jumps over: no run, no backup that day.
    const shown = wallClock(scheduled, scenario.timeZone);
    if (shown.day !== day || shown.hour !== scenario.at[0] || shown.minute !== scenario.at[1]) continue;
    // The engine picks the tier from the backups it can list when the run starts.
    const existing = backups
      .filter((backup) => restorable(backup, start))
      .map((backup) => ({ startedAt: new Date(backup.start), tier: backup.tier }));
    const tier = selectTier(new Date(start), scenario.timeZone, existing);
    const key = backupKey(tier, 'shop', new Date(start));
    const manifestCreated = start + scenario.runMinutes * MINUTE;
    const local = wallClock(start, scenario.timeZone);
    const dumpUnlocks = lockedUntil(tier, new Date(start)).getTime();
    const manifestUnlocks = lockedUntil(tier, new Date(manifestCreated)).getTime();
    const [dumpExpires, manifestExpires] = [expiresAt(key, start, rules), expiresAt(manifestKeyFor(key), manifestCreated, rules)];
    backups.push({
      start,
      tier,
      dumpCreated: start,
      manifestCreated,
      dumpExpires: removal === 'lifecycle' ? dumpExpires : Math.min(dumpExpires, dumpUnlocks),
      manifestExpires: removal === 'lifecycle' ? manifestExpires : Math.min(manifestExpires, manifestUnlocks),
      dumpUnlocks,
      manifestUnlocks,
      day: `${local.year}-${local.month}-${local.day}`,
      week: isoWeek(local.year, local.month, local.day),
      month: `${local.year}-${local.month}`,
    });
  }

  // The vault changes only when a manifest lands and when an object leaves (S3 expires them at midnight UTC).
  const last = backups.at(-1)!.manifestCreated;
  const moments = backups
    .flatMap((backup) => [backup.manifestCreated, backup.dumpExpires, backup.manifestExpires])
    .filter((at) => at <= last + DAY);
  for (let midnight = FIRST_DAY; midnight <= last + DAY; midnight += DAY) moments.push(midnight);
  moments.sort((a, b) => a - b);

  const violations: Violation[] = [];
  for (const at of moments) {
    const taken = backups.filter((backup) => backup.manifestCreated <= at);
    // The periods whose backup should exist by now: those of the scheduled runs, skipped ones included.
    const due = runs.filter((run) => run.due <= at);
    for (const [kind, count, periodOf] of WINDOWS) {
      const recent = [...new Set(due.map(periodOf))].slice(-count);
      for (const period of recent) {
        if (!taken.some((backup) => periodOf(backup) === period && restorable(backup, at))) {
          violations.push({ kind, at: new Date(at).toISOString(), what: `no restorable backup of ${period}` });
        }
      }
    }
    for (const backup of taken) {
      const visible = at < backup.dumpExpires || at < backup.manifestExpires;
      if (visible && at - backup.dumpCreated > LONGEST_TIER_DAYS * DAY) {
        violations.push({ kind: 'too old', at: new Date(at).toISOString(), what: `${backup.tier} backup of ${backup.day} still there` });
      }
    }
  }
  return { backups, violations };
}

/** Pseudo-random but repeatable delays of up to 7 h 15 min: Scheduler's hour of retries, Lambda's six, the run. */
function lateRuns(day: number): number {
  return (day * 7919 + 104_729) % 436;
}

const SCENARIOS: Scenario[] = [
  { name: 'UTC at 02:00', timeZone: 'UTC', at: [2, 0], runMinutes: 10 },
  {
    name: 'New York at 19:30, near midnight UTC on both sides of daylight saving',
    timeZone: 'America/New_York',
    at: [19, 30],
    runMinutes: 14,
  },
  { name: 'Berlin at 00:45, the manifest written after midnight UTC in winter', timeZone: 'Europe/Berlin', at: [0, 45], runMinutes: 20 },
  { name: 'Auckland at 11:50, southern daylight saving', timeZone: 'Pacific/Auckland', at: [11, 50], runMinutes: 12 },
  { name: 'Kolkata at 05:29, a minute before midnight UTC', timeZone: 'Asia/Kolkata', at: [5, 29], runMinutes: 5 },
  {
    name: 'London at 02:00, starting up to 7 h 15 min late',
    timeZone: 'Europe/London',
    at: [2, 0],
    runMinutes: 15,
    delayMinutes: lateRuns,
  },
  // The example config's scheduled databases, each at the first time its cron fires.
  ...exampleConfig()
    .databases.filter((database) => database.runMode === 'scheduled')
    .map(({ name, schedule: { cron, timeZone } }): Scenario => {
      const time = cronTimesOfDay(cron)![0]!;
      return {
        name: `of the example's ${name} (${cron} in ${timeZone})`,
        timeZone,
        at: [Math.floor(time / 60), time % 60],
        runMinutes: 15,
      };
    }),
];
const NEW_YORK = SCENARIOS[1]!;

/** Schedules at a time daylight saving skips once a year, and the day it skips in the simulated 400. */
const SKIPPED_SCENARIOS: (Scenario & { skippedDay: string })[] = [
  {
    name: 'Berlin at 02:30, skipped on the last Sunday of March',
    timeZone: 'Europe/Berlin',
    at: [2, 30],
    runMinutes: 10,
    skippedDay: '2025-3-30',
  },
  {
    name: 'Auckland at 02:15, skipped on the last Sunday of September',
    timeZone: 'Pacific/Auckland',
    at: [2, 15],
    runMinutes: 10,
    skippedDay: '2025-9-28',
  },
];

/** The example config with its first database on a scenario's schedule. */
function configOn({ at: [hour, minute], timeZone }: Scenario): unknown {
  const json = exampleJson();
  json.databases[0].schedule = { cron: `${minute} ${hour} * * ? *`, timeZone };
  return json;
}

describe('retention under the synthesized lifecycle rules', () => {
  let rules: LifecycleRule[];
  beforeAll(() => {
    rules = synthesizedRules();
  });

  it('has an expiration rule for every tier prefix', () => {
    for (const tier of TIERS) {
      expect(rules.filter((rule) => rule.Prefix === `${tier}/` && rule.ExpirationInDays !== undefined)).toHaveLength(1);
    }
  });

  it.each(SCENARIOS.map((scenario) => [scenario.name, scenario] as const))('holds every day of 400 with backups %s', (_, scenario) => {
    const { backups, violations } = simulate(rules, scenario);
    expect(violations).toEqual([]);
    // The run went through every tier, months and years included.
    const tiers = new Map(TIERS.map((tier) => [tier, backups.filter((backup) => backup.tier === tier).length]));
    expect(tiers.get('monthly')).toBe(14);
    expect(tiers.get('weekly')).toBeGreaterThanOrEqual(40);
    expect(tiers.get('daily')).toBeGreaterThanOrEqual(300);
    expect(() => parseConfig(configOn(scenario))).not.toThrow();
  });

  it.each(SKIPPED_SCENARIOS.map((scenario) => [scenario.name, scenario] as const))(
    'breaks with backups %s: that day has none, so the config refuses the schedule',
    (_, scenario) => {
      const { backups, violations } = simulate(rules, scenario);
      expect(backups).toHaveLength(SIMULATED_DAYS - 1);
      expect(new Set(violations.map(({ kind, what }) => `${kind}: ${what}`))).toEqual(
        new Set([`daily: no restorable backup of ${scenario.skippedDay}`]),
      );
      expect(() => parseConfig(configOn(scenario))).toThrow(/does not exist in/);
    },
  );

  it.each(TIERS.map((tier) => [tier] as const))('breaks with one %s day less: the derived days are the fewest that work', (tier) => {
    const shorter = rules.map((rule) => (rule.Prefix === `${tier}/` ? { ...rule, ExpirationInDays: rule.ExpirationInDays! - 1 } : rule));
    const { violations } = simulate(shorter, NEW_YORK);
    expect(violations.filter((violation) => violation.kind === tier)).not.toEqual([]);
    expect(violations.filter((violation) => violation.kind !== tier)).toEqual([]);
  });

  it.each(SCENARIOS.map((scenario) => [scenario.name, scenario] as const))(
    'holds with backups %s even if each object is deleted the moment its Object Lock ends, and no lock outlives its object',
    (_, scenario) => {
      const { violations } = simulate(rules, scenario, 'when-unlocked');
      expect(violations).toEqual([]);
      for (const backup of simulate(rules, scenario).backups) {
        expect(backup.dumpUnlocks).toBeLessThanOrEqual(backup.dumpExpires);
        expect(backup.manifestUnlocks).toBeLessThanOrEqual(backup.manifestExpires);
      }
    },
  );

  it('breaks with one monthly day more: a backup would outlive the longest tier', () => {
    const longer = rules.map((rule) => (rule.Prefix === 'monthly/' ? { ...rule, ExpirationInDays: rule.ExpirationInDays! + 1 } : rule));
    const { violations } = simulate(longer, SCENARIOS[0]!);
    expect(violations.map((violation) => violation.kind)).toContain('too old');
  });
});
