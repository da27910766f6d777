import { z } from 'zod';
import { DatabaseLabel } from './keys.js';
import { Tier, TimeZone } from './tier.js';

export const TRIGGERS = ['schedule', 'manual', 'alarm', 'pre-migration', 'drill'] as const;
export const Trigger = z.enum(TRIGGERS);
export type Trigger = z.infer<typeof Trigger>;

export const TierChoice = z.union([z.literal('auto'), Tier]);
export type TierChoice = z.infer<typeof TierChoice>;

/**
 * What the backup Lambda accepts (from EventBridge Scheduler, the console, the CLI or a CI pipeline).
 * Exactly one credential source: an RDS-style Secrets Manager secret, or a URL for local use.
 */
export const BackupRequest = z
  .object({
    database: DatabaseLabel,
    secretArn: z.string().regex(/^arn:aws[a-z-]*:secretsmanager:/, 'must be a Secrets Manager secret ARN').optional(),
    databaseUrl: z.string().optional(),
    /** Defaults to the function's VAULT_BUCKET. */
    bucket: z.string().min(3).optional(),
    trigger: Trigger.default('manual'),
    tier: TierChoice.default('auto'),
    /** IANA time zone whose calendar decides monthly/weekly tiers. */
    timeZone: TimeZone.default('UTC'),
  })
  .strict()
  .refine((r) => (r.secretArn === undefined) !== (r.databaseUrl === undefined), {
    message: 'give exactly one of secretArn or databaseUrl',
    path: ['secretArn'],
  });
export type BackupRequest = z.infer<typeof BackupRequest>;
