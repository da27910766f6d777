import { z } from 'zod';
import { TierChoice, Trigger } from './backup-request.js';
import { DatabaseLabel } from './keys.js';
import { ObjectLockMode } from './retention.js';
import { TimeZone } from './tier.js';
import { IsoTime } from './validation.js';
import type { BackupSelector } from './vault.js';

/** The `lifeline` CLI's options, one schema per command: the CLI takes its choices and defaults from here. */

const Bucket = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name');
const Endpoint = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
const Jobs = z.coerce.number().int().min(1).max(64);
/** `a, b,c` → ['a', 'b', 'c']. */
const NameList = z
  .string()
  .transform((text) =>
    text
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string()).min(1, 'must name at least one'));

const common = { bucket: Bucket, s3Endpoint: Endpoint.optional(), json: z.boolean().default(false) };

export const BackupCommandOptions = z.strictObject({
  ...common,
  databaseUrl: z.string().optional(),
  database: DatabaseLabel,
  tier: TierChoice.default('auto'),
  trigger: Trigger.default('manual'),
  timeZone: TimeZone.default('UTC'),
  objectLock: ObjectLockMode.optional(),
});

export const ListCommandOptions = z.strictObject({ ...common, database: DatabaseLabel.optional() });

const RestoreFlags = z.strictObject({
  ...common,
  key: z.string().min(1).optional(),
  latest: z.boolean().default(false),
  at: IsoTime.optional(),
  database: DatabaseLabel.optional(),
  targetUrl: z.string().optional(),
  createTarget: z.boolean().default(false),
  tables: NameList.optional(),
  schemas: NameList.optional(),
  privileges: z.boolean().default(true),
  jobs: Jobs.default(1),
  stagingDir: z.string().min(1).optional(),
});

/** The restore command's flags, with the backup they choose (--key, --latest or --at) as a vault selector. */
export const RestoreCommandOptions = RestoreFlags.transform(({ key, latest, at, database, ...options }, ctx) => {
  const chosen = [key !== undefined, latest, at !== undefined].filter(Boolean).length;
  if (chosen !== 1) ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of --key, --latest or --at' });
  else if (key !== undefined) return { ...options, selector: { key } as BackupSelector };
  else if (database === undefined) ctx.addIssue({ code: 'custom', path: ['database'], message: 'required with --latest and --at' });
  else return { ...options, selector: (at !== undefined ? { database, at: new Date(at) } : { database, latest: true }) as BackupSelector };
  return z.NEVER;
});
export const RESTORE_JOBS = RestoreFlags.shape.jobs;
