import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * An alarm's state change as CloudWatch sends it to EventBridge (`CloudWatch Alarm State Change`), reduced to what
 * the starter reads; AWS adds fields over time, so others are allowed and ignored.
 */

/** CloudWatch writes its times as `2026-11-23T10:50:12.345+0000`, an offset without a colon, which ISO parsers in zod refuse. */
const CloudWatchTime = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/, 'must be a time such as "2026-11-23T10:50:12.345+0000"')
  .refine((text) => !Number.isNaN(Date.parse(text)), 'must be a real time');

const AlarmState = z.object({ value: z.enum(['OK', 'ALARM', 'INSUFFICIENT_DATA']), timestamp: CloudWatchTime });

export const AlarmStateChange = z.object({
  source: z.literal('aws.cloudwatch'),
  'detail-type': z.literal('CloudWatch Alarm State Change'),
  detail: z.object({
    alarmName: z.string().min(1).max(255),
    state: AlarmState,
    previousState: AlarmState,
  }),
});
export type AlarmStateChange = z.infer<typeof AlarmStateChange>;

/** One transition of one alarm into ALARM: what a run is started for, once. */
export interface AlarmTransition {
  alarmName: string;
  /** When the alarm entered ALARM (`detail.state.timestamp`). */
  changedAt: Date;
}

/** The transition an event reports, or undefined when it is not one into ALARM from another state. */
export function transitionIntoAlarm(event: AlarmStateChange): AlarmTransition | undefined {
  const { alarmName, state, previousState } = event.detail;
  if (state.value !== 'ALARM' || previousState.value === 'ALARM') return undefined;
  return { alarmName, changedAt: new Date(state.timestamp) };
}

/** Step Functions takes 80 characters; the stamp `-yyyymmddThhmmssSSSZ` takes 20 of them. */
const MAX_EXECUTION_NAME = 80;
const STAMP_LENGTH = '-yyyymmddThhmmssSSSZ'.length;
const HASH_LENGTH = 8;

/**
 * The execution a transition starts: `<alarm>-<yyyymmddThhmmssSSSZ>`, the same however often EventBridge delivers
 * the event, so that a second StartExecution answers ExecutionAlreadyExists. The alarm's name keeps letters, digits,
 * `-` and `_` (what execution names, log streams and ARNs all take); when cleaning changed or shortened it, a hash
 * of the whole name follows, so that two alarms that clean to the same text never share executions.
 */
export function alarmExecutionName({ alarmName, changedAt }: AlarmTransition): string {
  const stamp = changedAt.toISOString().replace(/[-:]/g, '').replace('.', '');
  const room = MAX_EXECUTION_NAME - STAMP_LENGTH;
  const cleaned = alarmName.replace(/[^A-Za-z0-9_-]+/g, '-');
  if (cleaned === alarmName && cleaned.length <= room) return `${cleaned}-${stamp}`;
  const hash = createHash('sha256').update(alarmName).digest('hex').slice(0, HASH_LENGTH);
  return `${cleaned.slice(0, room - HASH_LENGTH - 1)}-${hash}-${stamp}`;
}
