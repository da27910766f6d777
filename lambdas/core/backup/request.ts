import { z } from 'zod';
import { Tier } from '../vault/tier.js';

export const TRIGGERS = ['schedule', 'manual', 'alarm', 'pre-migration', 'drill'] as const;
export const Trigger = z.enum(TRIGGERS);
export type Trigger = z.infer<typeof Trigger>;

export const TierChoice = z.enum(['auto', ...Tier.options]);
export type TierChoice = z.infer<typeof TierChoice>;

/**
 * What the backup Lambda accepts (from EventBridge Scheduler, the console, the CLI or a CI pipeline): only what
 * a caller may choose. Which database, its credentials and endpoint, the vault and the calendar's time zone are
 * fixed by the deployment (see backup-target.ts), so whoever may invoke the function cannot point it elsewhere.
 */
export const BackupRequest = z.strictObject(
  {
    trigger: Trigger.default('manual'),
    tier: TierChoice.default('auto'),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown fields ${issue.keys.map((key) => `"${key}"`).join(', ')}: an event holds only "trigger" and "tier"; ` +
          'the database, its secret and endpoint, the vault and the time zone are fixed by the deployment'
        : undefined,
  },
);
export type BackupRequest = z.infer<typeof BackupRequest>;
