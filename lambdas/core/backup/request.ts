import { z } from 'zod';
import { AlarmCause, Trigger } from '../vault/manifest.js';
import { Tier } from '../vault/tier.js';

export const TierChoice = z.enum(['auto', ...Tier.options]);
export type TierChoice = z.infer<typeof TierChoice>;

/**
 * What the backup Lambda accepts (from EventBridge Scheduler, the console, the CLI or a CI pipeline): only what
 * a caller may choose. Which database, its credentials and endpoint, the vault and the calendar's time zone are
 * fixed by the deployment (see target.ts), so whoever may invoke the function cannot point it elsewhere.
 */
export const BackupRequest = z
  .strictObject(
    {
      trigger: Trigger.default('manual'),
      tier: TierChoice.default('auto'),
      /** The alarm transition that asked for the backup (the alarm starter sends it), recorded in the manifest. */
      alarm: AlarmCause.optional(),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `unknown fields ${issue.keys.map((key) => `"${key}"`).join(', ')}: an event holds only "trigger", "tier" and "alarm"; ` +
            'the database, its secret and endpoint, the vault and the time zone are fixed by the deployment'
          : undefined,
    },
  )
  .refine((request) => request.alarm === undefined || request.trigger === 'alarm', {
    path: ['alarm'],
    message: 'only with "trigger": "alarm"',
  });
export type BackupRequest = z.infer<typeof BackupRequest>;
