import { z } from 'zod';
import { SecretArn } from '../postgres/connection-secrets.js';
import { LambdaFunctionArn } from '../restore/catalog.js';
import { ApplicationName, DeploymentName } from '../names.js';
import { DatabaseLabel } from '../vault/keys.js';
import { LatestMigration } from '../vault/manifest.js';
import { MigrationState } from '../postgres/migrations.js';
import { ApprovalDecision } from '../workflows/approval.js';
import { ExecutionArn } from '../workflows/execution-history.js';
import { CaughtError, Timing } from '../workflows/execution-state.js';
import { CutoverInput } from '../cutover/input.js';
import { MigrationsReport, MigrationsRequest, MigrationsState, PreparedMigrations } from '../restore/migrations.js';
import { RunnerPlacement } from '../restore/catalog.js';

/**
 * What the PITR steps know of the deployment (the CDK stack passes it as LIFELINE_PITR_SETTINGS): where the catalog
 * of configured databases is (the restore workflow's, restore/catalog.ts), the defaults, the functions that reach
 * each network's databases, and the bounded wait.
 */
export const PitrSettings = z.strictObject({
  deployment: DeploymentName,
  backupStacks: z.number().int().min(1).max(200),
  /** The approval timeout when the input gives none (the config's approval.timeoutHours, in seconds). */
  approvalTimeoutSeconds: z.number().int().min(1),
  /** The PITR steps function in each network (by the config's network name): Validate connects from there. */
  networkFunctions: z.record(z.string(), LambdaFunctionArn),
  /** Seconds between two looks at the restore (the Wait state's). */
  pollSeconds: z.number().int().min(0).max(3600).default(30),
  /** The longest the restore may take to become available, instance and (Aurora) writer together. */
  maxWaitSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 86_400)
    .default(6 * 3600),
  /** Whether the deployment lets the rename strategy rename the configured sources (the config's pitr.renameSources). */
  renameSources: z.boolean().default(false),
});
export type PitrSettings = z.infer<typeof PitrSettings>;

/** The tag every resource a PITR execution creates carries: its value is the execution's ARN. */
export const PITR_EXECUTION_TAG = 'lifeline:pitr-execution';

export const SourceKind = z.enum(['instance', 'cluster']);
export type SourceKind = z.infer<typeof SourceKind>;

/** ValidateInput's result: the input checked against the config, every default filled in. */
export const PitrRequest = z.strictObject({
  database: DatabaseLabel,
  source: z.strictObject({ kind: SourceKind, identifier: z.string().min(1) }),
  restorePoint: z.union([
    z.strictObject({ kind: z.literal('time'), time: z.iso.datetime({ offset: true }) }),
    z.strictObject({ kind: z.literal('latest') }),
    z.strictObject({ kind: z.literal('snapshot'), identifier: z.string().min(1) }),
    z.strictObject({ kind: z.literal('latest-snapshot'), type: z.enum(['automated', 'manual']) }),
  ]),
  target: z.strictObject({ identifier: z.string().min(1) }),
  /** new-identifier: the restore keeps its own identifier (and a cutover may swap the secret); rename: it takes the source's. */
  strategy: z.enum(['new-identifier', 'rename']),
  /** Aurora, latest restorable time only: a copy-on-write clone instead of a full copy. */
  copyOnWrite: z.boolean(),
  cutover: ApplicationName.nullable(),
  /** The cut-over application's migrations, run on the restore before Validate (restore/migrations.ts); null for none. */
  migrations: MigrationsRequest.nullable(),
  /** Where RunMigrations runs: the restore runners' subnets and security groups in the source's network. */
  runner: RunnerPlacement,
  /** The connection secret of the application whose role validates the restored database (and is cut over). */
  ownerSecretArn: SecretArn.nullable(),
  smokeChecks: z.array(z.strictObject({ name: z.string(), sql: z.string() })),
  finalSnapshot: z.boolean(),
  approval: z.strictObject({ timeoutSeconds: z.number().int().min(1), subject: z.string() }),
  cleanupFailedSubject: z.string(),
  /** The PITR steps function in the source's network, where Validate runs. */
  validateFunctionArn: LambdaFunctionArn,
  pollSeconds: z.number().int().min(0),
  /** Looks at the restore before it fails PitrTimedOut: maxWaitSeconds / pollSeconds. */
  maxPolls: z.number().int().min(1),
  execution: z.strictObject({ id: z.string(), startedAt: z.iso.datetime() }),
  timing: Timing,
});
export type PitrRequest = z.infer<typeof PitrRequest>;

/** ResolveRestorePoint's result: the moment or snapshot RDS is asked for, checked against the source. */
export const ResolvedPoint = z.strictObject({
  kind: z.enum(['time', 'latest', 'snapshot']),
  /** The requested moment; for latest, the latest restorable time when it was checked; for a snapshot, its time. */
  time: z.iso.datetime({ offset: true }).nullable(),
  snapshot: z.string().nullable(),
  window: z.strictObject({ earliest: z.string().nullable(), latest: z.string().nullable() }),
  timing: Timing,
});
export type ResolvedPoint = z.infer<typeof ResolvedPoint>;

/** StartRestore's result and the loop's state: what was created, and how the wait goes. */
export const RestoreProgress = z.strictObject({
  kind: SourceKind,
  identifier: z.string(),
  /** The source's DbiResourceId (instances): the rename strategy renames aside only this very instance. */
  sourceResourceId: z.string().nullable(),
  /** Aurora: the writer instance CreateWriter created (null before). */
  writer: z.string().nullable(),
  /** The instance class and settings CreateWriter gives the writer (Aurora; copied from the source's writer). */
  writerTemplate: z.record(z.string(), z.unknown()).nullable(),
  /** The settings copied from the source, named, for the output. */
  copied: z.array(z.string()),
  /** The settings applied once available (ModifyDBInstance / ModifyDBCluster), as RDS takes them. */
  modify: z.record(z.string(), z.unknown()),
  status: z.string(),
  /** waiting: look again; needs-writer: the cluster is available without its writer; available: done. */
  phase: z.enum(['waiting', 'needs-writer', 'available']),
  polls: z.number().int().min(0),
  startedAt: z.iso.datetime(),
});
export type RestoreProgress = z.infer<typeof RestoreProgress>;

/** Finish's result: the restored database's endpoint and its own managed master secret. */
export const FinishedRestore = z.strictObject({
  host: z.string(),
  port: z.number().int(),
  masterSecretArn: z.string().nullable(),
  modified: z.array(z.string()),
  timing: Timing,
});
export type FinishedRestore = z.infer<typeof FinishedRestore>;

export const PitrValidation = z.strictObject({
  passed: z.boolean(),
  summary: z.string(),
  approvalQuestion: z.string(),
  validatedAs: z.string(),
  database: z.string(),
  tables: z.number().int(),
  migration: z.strictObject({
    latest: LatestMigration.nullable(),
    /** Prisma's and Drizzle's migrations against the live source's (the database the application's secret names). */
    state: MigrationState,
  }),
  smokeChecks: z.array(z.strictObject({ name: z.string(), passed: z.boolean(), detail: z.string() })),
  /** What the application's migrations applied on the restore before Validate; null when none ran. */
  migrations: MigrationsReport.nullable(),
  timing: Timing,
});
export type PitrValidation = z.infer<typeof PitrValidation>;

/**
 * The rename strategy's progress (rename.ts), forward (RenameIn) or back (RenameBack): which identifiers, what it
 * renamed, and how the wait goes. Each look observes all three identifiers and takes at most one step.
 */
export const RenameProgress = z.strictObject({
  source: z.string(),
  /** Where the source waits while the restore holds its identifier: `<source>-pitr-aside-<UTC yyyymmddhhmmss>`. */
  aside: z.string(),
  target: z.string(),
  phase: z.enum(['waiting', 'done']),
  /** What the last look saw, for messages. */
  seen: z.string(),
  /** The renames sent, oldest first ("shop -> shop-pitr-aside-...") . */
  renamed: z.array(z.string()),
  polls: z.number().int().min(0),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime().nullable(),
});
export type RenameProgress = z.infer<typeof RenameProgress>;

/** The execution's state as the last steps read it. */
export const PitrState = z.object({
  request: PitrRequest,
  point: ResolvedPoint.optional(),
  restore: RestoreProgress.optional(),
  finish: FinishedRestore.optional(),
  migrations: MigrationsState.optional(),
  validation: PitrValidation.optional(),
  approval: ApprovalDecision.optional(),
  handOver: CutoverInput.optional(),
  cutover: z.object({ executionArn: z.string(), output: z.unknown() }).optional(),
  rename: RenameProgress.optional(),
  renameBack: RenameProgress.optional(),
  error: CaughtError.optional(),
  /** RenameBack failed: the source and the restore may not be where they belong. */
  renameBackError: CaughtError.optional(),
});
export type PitrState = z.infer<typeof PitrState>;

export const PitrFailure = z.strictObject({
  error: z.string(),
  cause: z.string(),
  deleted: z.array(z.string()),
  kept: z.array(z.string()),
  subject: z.string(),
  message: z.string(),
});
export type PitrFailure = z.infer<typeof PitrFailure>;

export const PitrStepEvent = z.discriminatedUnion('step', [
  z.strictObject({
    step: z.literal('validateInput'),
    input: z.unknown(),
    execution: z.strictObject({ id: z.string(), startedAt: z.iso.datetime() }),
  }),
  z.strictObject({ step: z.literal('resolveRestorePoint'), request: PitrRequest }),
  z.strictObject({ step: z.literal('startRestore'), request: PitrRequest, point: ResolvedPoint }),
  z.strictObject({ step: z.literal('describeRestore'), request: PitrRequest, restore: RestoreProgress }),
  z.strictObject({ step: z.literal('createWriter'), request: PitrRequest, restore: RestoreProgress }),
  z.strictObject({ step: z.literal('finish'), request: PitrRequest, restore: RestoreProgress }),
  z.strictObject({ step: z.literal('prepareMigrations'), request: PitrRequest, finish: FinishedRestore }),
  /** After RunMigrations; `error`, what RunMigrations failed with (MigrationsFailed names it). */
  z.strictObject({
    step: z.literal('concludeMigrations'),
    request: PitrRequest,
    finish: FinishedRestore,
    migrations: PreparedMigrations,
    error: CaughtError.optional(),
  }),
  z.strictObject({
    step: z.literal('validate'),
    request: PitrRequest,
    point: ResolvedPoint,
    finish: FinishedRestore,
    migrations: MigrationsState,
  }),
  z.strictObject({ step: z.literal('renameIn'), state: PitrState }),
  z.strictObject({ step: z.literal('renameBack'), state: PitrState }),
  z.strictObject({ step: z.literal('summarize'), state: PitrState }),
  z.strictObject({ step: z.literal('cleanup'), state: PitrState }),
  /** EventBridge, when an execution of the PITR state machine was stopped, timed out or failed (compensation.ts). */
  z.strictObject({ step: z.literal('compensate'), executionArn: ExecutionArn, status: z.string().min(1) }),
]);
export type PitrStepEvent = z.infer<typeof PitrStepEvent>;

/** The PITR workflow's state machine, and the prefix of its steps functions' names (names.ts). */
export { pitrWorkflowName } from '../names.js';
