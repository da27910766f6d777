import { z } from 'zod';
import { ApplicationName, DeploymentName, stalenessAlarmName } from '../names.js';
import { DatabaseLabel } from '../vault/keys.js';

/** What an alarm's transition into ALARM starts for its database. */
export const ALARM_ACTIONS = ['backup', 'prepare-restore', 'prepare-pitr'] as const;
export const AlarmAction = z.enum(ALARM_ACTIONS);
export type AlarmAction = z.infer<typeof AlarmAction>;

/** A CloudWatch alarm's name: 1-255 characters, none of them a control character. */
export const AlarmName = z
  .string()
  .min(1)
  .max(255)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\x00-\x1f\x7f]+$/, 'must be a CloudWatch alarm name: 1-255 characters without control characters');

/** The longest look back before an alarm: a week, as far as an approval may wait. */
export const MAX_LOOKBACK_MINUTES = 10_080;

/** One configured alarm: which database it is about, what it starts, and how far before its transition to recover to. */
export const AlarmRoute = z.strictObject({
  alarmName: AlarmName,
  database: DatabaseLabel,
  action: AlarmAction,
  /** The restore point of `prepare-restore` and `prepare-pitr`: this many minutes before the alarm's transition. */
  lookbackMinutes: z.number().int().min(0).max(MAX_LOOKBACK_MINUTES),
  /** The application a `prepare-*` run cuts over once approved; a run without one restores beside the source. */
  cutover: ApplicationName.optional(),
});
export type AlarmRoute = z.infer<typeof AlarmRoute>;

/** The application a `prepare-*` run cuts over: the one the alarm names, or else the database's only application. */
export function alarmCutover(named: string | undefined, applications: readonly string[]): string | undefined {
  return named ?? (applications.length === 1 ? applications[0] : undefined);
}

/** The starter function's settings, one JSON environment variable, written by lib/alarms from the config. */
export const AlarmStarterSettings = z.strictObject({
  deployment: DeploymentName,
  routes: z.array(AlarmRoute),
  /** The DynamoDB table of cool-downs and claims (cooldown.ts). */
  cooldownTable: z.string().min(1),
  /** With `restore` in the config. */
  restoreStateMachineArn: z.string().optional(),
  /** With `pitr` in the config. */
  pitrStateMachineArn: z.string().optional(),
});
export type AlarmStarterSettings = z.infer<typeof AlarmStarterSettings>;

export const ALARM_STARTER_SETTINGS_VARIABLE = 'LIFELINE_ALARM_SETTINGS';

/**
 * What `alarmName` starts: a configured route, or else, for a scheduled database's staleness alarm
 * (`<deployment>-<database>-backup-stale`), one immediate backup. Undefined for any other alarm.
 */
export function routeFor(settings: AlarmStarterSettings, alarmName: string): AlarmRoute | undefined {
  const configured = settings.routes.find((route) => route.alarmName === alarmName);
  if (configured) return configured;
  const [prefix, suffix] = stalenessAlarmName(settings.deployment, '\0').split('\0') as [string, string];
  if (!alarmName.startsWith(prefix) || !alarmName.endsWith(suffix)) return undefined;
  const database = DatabaseLabel.safeParse(alarmName.slice(prefix.length, alarmName.length - suffix.length));
  return database.success ? { alarmName, database: database.data, action: 'backup', lookbackMinutes: 0 } : undefined;
}
