import { z } from 'zod';
import { TierChoice } from '../backup/request.js';
import { DatabaseLabel } from '../vault/keys.js';
import { ObjectLockMode } from '../vault/retention.js';
import { TimeZone } from '../vault/tier.js';
import { IsoTime } from '../validation.js';
import type { BackupSelector } from '../vault/backups.js';
import {
  ApplicationName,
  cutoverLockTableName,
  cutoverWorkflowName,
  DEFAULT_DEPLOYMENT_NAME,
  DeploymentName,
  pitrWorkflowName,
  restoreWorkflowName,
} from '../names.js';
import { STATE_MACHINE_ARN, type StateMachineRef } from './arns.js';
import { ApprovalDecision } from '../workflows/approval.js';
import { Trigger } from '../vault/manifest.js';

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

/** `lifeline drill`'s flags: the vault, the backup (the latest unless a key), the checks and the time limit. */
export const DrillCommandOptions = z.strictObject({
  ...common,
  database: DatabaseLabel,
  key: z.string().min(1).optional(),
  /** `name=sql`, repeatable. */
  smokeCheck: z.array(z.string().regex(/^[^=]{1,100}=.+$/s, 'must be name=sql')).default([]),
  timeoutMinutes: z.coerce.number().int().min(1).max(720).default(240),
  jobs: Jobs.default(2),
  stagingDir: z.string().startsWith('/').optional(),
});

/** `lifeline diff A B`'s flags: the vault for backups, the connection for `live`. */
export const DiffCommandOptions = z.strictObject({
  bucket: Bucket.optional(),
  s3Endpoint: Endpoint.optional(),
  databaseUrl: z.string().optional(),
  json: z.boolean().default(false),
});

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

/** The workflow commands' options: `start`, `approvals`, `approve`, `reject`, `status`, `run --local`. */

const StateMachineArn = z.string().regex(STATE_MACHINE_ARN, 'must be a Step Functions state machine ARN');

/** The restore state machine: --state-machine, or the one named `<--name>-restore` in the current region. */
const restoreStateMachine = {
  stateMachine: StateMachineArn.optional(),
  name: DeploymentName.default(DEFAULT_DEPLOYMENT_NAME),
};
const toRestoreStateMachine = ({ stateMachine, name }: { stateMachine?: string; name: string }): StateMachineRef =>
  stateMachine !== undefined ? { arn: stateMachine } : { name: restoreWorkflowName(name) };

/**
 * `start restore`'s flags as the workflow's input. Only their types are checked here: the input itself is
 * checked with RestoreInput, so the command refuses what the state machine would, in the same words.
 */
export const StartRestoreCommandOptions = z
  .strictObject({
    ...restoreStateMachine,
    json: z.boolean().default(false),
    database: z.string(),
    at: z.string().optional(),
    key: z.string().optional(),
    targetDatabase: z.string().optional(),
    cutover: z.string().optional(),
    jobs: z.coerce.number().optional(),
    keepOnFailure: z.boolean().default(false),
    wait: z.boolean().default(false),
  })
  .transform(({ stateMachine, name, json, wait, targetDatabase, keepOnFailure, ...fields }) => ({
    stateMachine: toRestoreStateMachine({ stateMachine, name }),
    json,
    wait,
    input: {
      ...Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)),
      ...(targetDatabase !== undefined ? { target: { database: targetDatabase } } : {}),
      ...(keepOnFailure ? { keepOnFailure } : {}),
    },
  }));

/**
 * `start pitr`'s flags as the PITR workflow's input (`<--name>-pitr`, or --state-machine): exactly one restore point.
 * As for `start restore`, the input itself is checked with PitrInput, in the words of the workflow's first state.
 */
export const StartPitrCommandOptions = z
  .strictObject({
    ...restoreStateMachine,
    json: z.boolean().default(false),
    database: z.string(),
    at: z.string().optional(),
    latest: z.boolean().default(false),
    snapshot: z.string().optional(),
    latestSnapshot: z.string().optional(),
    target: z.string().optional(),
    cutover: z.string().optional(),
    strategy: z.string().optional(),
    validateAs: z.string().optional(),
    // Commander gives a flag `true` or leaves it out; left out, the input leaves it out too (the workflow's default).
    copyOnWrite: z.literal(true).optional(),
    finalSnapshot: z.literal(true).optional(),
    approvalTimeoutHours: z.coerce.number().optional(),
    wait: z.boolean().default(false),
  })
  .transform(({ stateMachine, name, json, wait, at, latest, snapshot, latestSnapshot, ...fields }, ctx) => {
    const points = [
      at !== undefined ? at : undefined,
      latest ? 'latest' : undefined,
      snapshot !== undefined ? { snapshot: { identifier: snapshot } } : undefined,
      latestSnapshot !== undefined ? { snapshot: { latest: latestSnapshot } } : undefined,
    ].filter((point) => point !== undefined);
    if (points.length !== 1) {
      ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of --at, --latest, --snapshot or --latest-snapshot' });
      return z.NEVER;
    }
    return {
      stateMachine: stateMachine !== undefined ? { arn: stateMachine } : { name: pitrWorkflowName(name) },
      json,
      wait,
      input: {
        database: fields.database,
        restorePoint: points[0],
        ...Object.fromEntries(Object.entries(fields).filter(([key, value]) => key !== 'database' && value !== undefined)),
      },
    };
  });

/** `approvals`: --state-machine's executions, or else those of both workflows that ask approvals, `<--name>-restore` and `<--name>-pitr`. */
export const ApprovalsCommandOptions = z
  .strictObject({ ...restoreStateMachine, json: z.boolean().default(false) })
  .transform(({ json, stateMachine, name }) => ({
    json,
    stateMachines:
      stateMachine !== undefined
        ? [{ arn: stateMachine } satisfies StateMachineRef]
        : [{ name: restoreWorkflowName(name) }, { name: pitrWorkflowName(name) }, { name: cutoverWorkflowName(name) }],
  }));

export const ApproveCommandOptions = z.strictObject({
  comment: ApprovalDecision.shape.comment.unwrap().optional(),
  json: z.boolean().default(false),
});

export const RejectCommandOptions = z.strictObject({
  reason: z.string().trim().min(1, 'must say why').max(2000),
  json: z.boolean().default(false),
});

export const StatusCommandOptions = z.strictObject({ json: z.boolean().default(false) });

/** What `lifeline run <workflow> --local` takes for every workflow: its input, its settings, the approval's answer. */
const LocalRunOptions = z.strictObject({
  local: z.literal(true, 'is required: only local runs are supported (`lifeline start` runs in AWS)'),
  input: z.string().min(1),
  settings: z.string().min(1),
  approve: z.boolean().default(false),
  comment: ApprovalDecision.shape.comment.unwrap().optional(),
  reject: z.string().trim().min(1, 'must say why').max(2000).optional(),
  json: z.boolean().default(false),
});

function oneAnswer(options: { approve: boolean; reject?: string; comment?: string }, ctx: z.RefinementCtx): void {
  if (options.approve && options.reject !== undefined)
    ctx.addIssue({ code: 'custom', path: ['reject'], message: 'give --approve or --reject, not both' });
  if (options.comment !== undefined && !options.approve)
    ctx.addIssue({ code: 'custom', path: ['comment'], message: 'goes with --approve' });
}

export const RunRestoreCommandOptions = LocalRunOptions.extend({
  s3Endpoint: Endpoint.optional(),
  stagingDir: z.string().min(1).optional(),
}).superRefine(oneAnswer);

export const RunCutoverCommandOptions = LocalRunOptions.superRefine(oneAnswer);

/**
 * `lifeline unlock APP --reason TEXT`: the application, why its cutover lock may go, and where the lock table is
 * (`<--name>-cutover-locks`, in --region or the current region).
 */
export const UnlockCommandOptions = z
  .strictObject({
    application: ApplicationName,
    reason: z
      .string({ error: 'is required: say why the lock may go (what you checked), for the record' })
      .trim()
      .min(1, 'must say why the lock may go (what you checked)')
      .max(2000),
    name: DeploymentName.default(DEFAULT_DEPLOYMENT_NAME),
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be a region such as "eu-west-1"')
      .optional(),
    json: z.boolean().default(false),
  })
  .transform(({ name, ...options }) => ({ ...options, table: cutoverLockTableName(name) }));

/**
 * `lifeline cleanup`: where restores staged (--staging-dir, the temp directory by default), and the servers whose
 * databases are checked: those of a local run's settings file, and --database-url's.
 */
export const CleanupCommandOptions = z.strictObject({
  stagingDir: z.string().min(1).optional(),
  settings: z.string().min(1).optional(),
  databaseUrl: z.string().optional(),
  json: z.boolean().default(false),
});
