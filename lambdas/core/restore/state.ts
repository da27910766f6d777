import { z } from 'zod';
import { DeploymentName, ApplicationName } from '../names.js';
import { DatabaseLabel } from '../vault/keys.js';
import { LatestMigration } from '../vault/manifest.js';
import { SecretArn } from '../postgres/connection-secrets.js';
import { MigrationState } from '../postgres/migrations.js';
import { CutoverInput } from '../cutover/input.js';
import { LambdaFunctionArn, RestoreDatabase, RunnerPlacement } from './catalog.js';
import { RestoreJob } from './job.js';
import { TablesReport } from './table-checks.js';
import { MigrationsReport, MigrationsRequest, MigrationsState, PreparedMigrations } from './migrations.js';
import { CaughtError, Timing } from '../workflows/execution-state.js';
import { ApprovalDecision } from '../workflows/approval.js';
import { DatabaseName, ExistingDatabaseName } from '../postgres/databases.js';
import { ExecutionArn } from '../workflows/execution-history.js';

/**
 * What the restore steps know of the deployment (the CDK stack passes it as LIFELINE_RESTORE_SETTINGS): the vault,
 * the defaults, and where the catalog of configured databases is (catalog.ts).
 */
export const RestoreSettings = z.strictObject({
  /** The config's name, under which the catalog's parameters live. */
  deployment: DeploymentName,
  /** The config's backupStacks: a database's restore group is its backups stack. */
  backupStacks: z.number().int().min(1).max(200),
  bucket: z.string().min(3),
  /** The approval timeout when the input gives none (the config's approval.timeoutHours, in seconds). */
  approvalTimeoutSeconds: z.number().int().min(1),
  /** The runner task's vCPUs: pg_restore's --jobs when the input gives none. */
  runnerVcpus: z.number().int().min(1).max(16),
});
export type RestoreSettings = z.infer<typeof RestoreSettings>;

/** ValidateInput's result: the input checked against the config, with every default filled in. */
export const RestoreRequest = z.strictObject({
  database: DatabaseLabel,
  key: z.string().nullable(),
  at: z.iso.datetime({ offset: true }).nullable(),
  /** `database` is null in place: the source database, as CreateTarget resolves it. */
  target: z.strictObject({ serverSecretArn: SecretArn, database: DatabaseName.nullable() }),
  /** Restore over the source database, after a human approved it and before anything is written. */
  inPlace: z.boolean(),
  tables: z.array(z.string()).nullable(),
  schemas: z.array(z.string()).nullable(),
  jobs: z.number().int().min(1).max(64),
  smokeChecks: z.array(z.strictObject({ name: z.string(), sql: z.string() })),
  cutover: ApplicationName.nullable(),
  /** The connection secret of the application whose role owns the restored objects and validates them. */
  ownerSecretArn: SecretArn.nullable(),
  /**
   * Where no application's role owns the restore: the role the input names to own it, or null for the source
   * database's owner, as the backup records it (ResolveBackup reads it). Absent in a state from before it existed.
   */
  owner: z.string().nullable().default(null),
  keepOnFailure: z.boolean(),
  /** The migrations RunMigrations runs on the restore before its validation: the cutover application's, if any. */
  migrations: MigrationsRequest.nullable().default(null),
  /** Prisma migrations PrepareMigrations marks rolled back, before the migrations and the checks (postgres/migrations.ts markRolledBack). */
  markRolledBack: z.array(z.string()).default([]),
  /**
   * `required`: the restored database waits for a human before cutover (an in-place restore asks before RunRestore);
   * `subject`: the approval request's.
   */
  approval: z.strictObject({ required: z.boolean(), timeoutSeconds: z.number().int().min(1), subject: z.string() }),
  /** The failure notice's subject when Cleanup itself fails (CleanupFailed builds that notice in the ASL). */
  cleanupFailedSubject: z.string(),
  /** The configured database whose server the target is on, as its backups reach that server. */
  server: RestoreDatabase.pick({ name: true, host: true, port: true, databaseName: true, rds: true }),
  /** The group's steps function in the database's network: CreateTarget, ValidateRestore and Cleanup run there. */
  stepsFunctionArn: LambdaFunctionArn,
  runner: RunnerPlacement,
  execution: z.strictObject({ id: z.string(), startedAt: z.iso.datetime() }),
  timing: Timing,
});
export type RestoreRequest = z.infer<typeof RestoreRequest>;

/** ResolveBackup's result: the backup used, as the output reports it. */
export const BackupUsed = z.strictObject({
  key: z.string(),
  tier: z.string(),
  takenAt: z.iso.datetime(),
  bytes: z.number().int().positive(),
  sha256: z.string(),
  migration: LatestMigration.nullable(),
  source: z.strictObject({
    host: z.string(),
    port: z.number().int(),
    databaseName: z.string(),
    /**
     * The source database's owner as the archive records it, read where it owns the restore (no application's role
     * does, and the input names no owner); null otherwise, or when the archive records none.
     */
    owner: z.string().nullable().default(null),
  }),
  /**
   * A table-level restore's: what a full restore would attach to the chosen tables and this one leaves out (their
   * indexes, constraints, defaults, triggers, views over them), as `pg_restore --list` names them, the first
   * MAX_REPORTED_TABLES of `count`; null for a whole restore. The runner leaves out the same.
   */
  leftOut: z
    .strictObject({ count: z.number().int().nonnegative(), entries: z.array(z.string()) })
    .nullable()
    .default(null),
  timing: Timing,
});
export type BackupUsed = z.infer<typeof BackupUsed>;

/**
 * CreateTarget's result. `created`: this execution created the database and marked it (or took over, empty, one an
 * ended execution had marked); Cleanup drops it only while it bears that mark.
 */
export const CreatedTarget = z.strictObject({
  serverSecretArn: SecretArn,
  /** Where the server listens, resolved once: the runner and the later steps connect there. */
  server: z.strictObject({ host: z.string(), port: z.number().int() }),
  /** A new database's name, or in place the source's, whatever characters it holds. */
  database: ExistingDatabaseName,
  owner: z.string().nullable(),
  created: z.boolean(),
  /** What the approval of an in-place restore asks, before anything is written; null otherwise. */
  approvalQuestion: z.string().nullable(),
  job: RestoreJob,
  timing: Timing,
});
export type CreatedTarget = z.infer<typeof CreatedTarget>;

/** The most differences from the live source a report names: each line is cut to MAX_DRIFT_LINE_LENGTH characters. */
export const MAX_REPORTED_DRIFT = 20;
export const MAX_DRIFT_LINE_LENGTH = 300;

/**
 * What differs between the restored database and its live source at validation (drift/report.ts), or why they were
 * not compared (no source reachable from the step, a table-level or in-place restore, a failure). It informs the
 * approver; it never fails the validation.
 */
export const SourceDrift = z.strictObject({
  compared: z.boolean(),
  /** Why not, when not compared. */
  reason: z.string().nullable(),
  /** The source, `user@host:port/database`, when compared. */
  source: z.string().nullable(),
  /** Schema differences and tables whose rows differ, from the restored database to the source. */
  differences: z.number().int().nonnegative(),
  /** The first MAX_REPORTED_DRIFT of them, in words. */
  first: z.array(z.string().max(MAX_DRIFT_LINE_LENGTH)).max(MAX_REPORTED_DRIFT),
});
export type SourceDrift = z.infer<typeof SourceDrift>;

export const ValidationReport = z.strictObject({
  passed: z.boolean(),
  /** One paragraph for notifications and the failure cause. */
  summary: z.string(),
  /** What the approval request asks. */
  approvalQuestion: z.string(),
  validatedAs: z.string(),
  /** Before the application's migrations, when they ran (PrepareMigrations): they may change rows. */
  tables: TablesReport,
  migration: z.strictObject({
    expected: LatestMigration.nullable(),
    actual: LatestMigration.nullable(),
    ok: z.boolean(),
    checked: z.boolean(),
    /** Prisma's and Drizzle's migrations against the live source's, and those marked rolled back; absent in a drill's report. */
    state: MigrationState.optional(),
  }),
  smokeChecks: z.array(z.strictObject({ name: z.string(), passed: z.boolean(), detail: z.string() })),
  /** Absent where nothing compared it, as in a drill's report. */
  drift: SourceDrift.optional(),
  /** What the application's migrations applied before the checks; null where none ran. */
  migrations: MigrationsReport.nullable().default(null),
  timing: Timing,
});
export type ValidationReport = z.infer<typeof ValidationReport>;

/** HandOver's result: the cutover execution and its output (cutover/steps.ts summarize's CutoverOutcome). */
export const CutoverResult = z.strictObject({
  executionArn: z.string(),
  output: z.looseObject({ status: z.literal('SUCCEEDED'), application: z.string(), to: z.looseObject({ database: z.string() }) }),
});
export type CutoverResult = z.infer<typeof CutoverResult>;

/** The execution's state as Summarize and Cleanup see it: whatever the steps so far put there. */
export const RestoreState = z.object({
  request: RestoreRequest,
  backup: BackupUsed.optional(),
  target: CreatedTarget.optional(),
  restore: z.object({ taskArn: z.string() }).optional(),
  migrations: MigrationsState.optional(),
  validation: ValidationReport.optional(),
  approval: ApprovalDecision.optional(),
  handOver: CutoverInput.optional(),
  cutover: CutoverResult.optional(),
  error: CaughtError.optional(),
});
export type RestoreState = z.infer<typeof RestoreState>;

/** The successful execution's output, also the notification. */
export interface RestoreOutcome {
  status: 'SUCCEEDED';
  subject: string;
  message: string;
  database: string;
  backup: { key: string; takenAt: string; bytes: number; migration: LatestMigration | null };
  target: { database: string; serverSecretArn: string; owner: string | null };
  /** A table-level restore's: what it left out of the tables it restored (BackupUsed's leftOut); null for a whole restore. */
  leftOut: BackupUsed['leftOut'];
  validation: ValidationReport;
  approver: string | null;
  approvalComment: string | null;
  handOver: CutoverInput | null;
  /** The cutover that switched the application to the restored database, with its output. */
  cutover: CutoverResult | null;
  /** Seconds per step, by state name; RunRestore includes the Fargate task's start. */
  stepSeconds: Record<string, number>;
  /** From the execution's start to a validated restore: this path's recovery time. */
  restoreWallSeconds: number;
}

/** Cleanup's result, which the execution fails with. */
export const RestoreFailure = z.strictObject({
  /** A stable LifelineError name: the execution's error. */
  error: z.string(),
  cause: z.string(),
  dropped: z.string().nullable(),
  kept: z.string().nullable(),
  subject: z.string(),
  message: z.string(),
});
export type RestoreFailure = z.infer<typeof RestoreFailure>;

/** The restore steps Lambda's event: one step of restore.asl.json. */
export const RestoreStepEvent = z.discriminatedUnion('step', [
  z.strictObject({
    step: z.literal('validateInput'),
    input: z.unknown(),
    execution: z.strictObject({ id: z.string(), startedAt: z.iso.datetime() }),
  }),
  z.strictObject({ step: z.literal('resolveBackup'), request: RestoreRequest }),
  z.strictObject({ step: z.literal('createTarget'), request: RestoreRequest, backup: BackupUsed }),
  z.strictObject({ step: z.literal('prepareMigrations'), request: RestoreRequest, backup: BackupUsed, target: CreatedTarget }),
  /** After RunMigrations; `error`, what RunMigrations failed with (MigrationsFailed names it). */
  z.strictObject({
    step: z.literal('concludeMigrations'),
    request: RestoreRequest,
    target: CreatedTarget,
    migrations: PreparedMigrations,
    error: CaughtError.optional(),
  }),
  z.strictObject({
    step: z.literal('validateRestore'),
    request: RestoreRequest,
    backup: BackupUsed,
    target: CreatedTarget,
    migrations: MigrationsState,
  }),
  /** After the approval (if any), before HandOver or Summarize: the target is this execution's result, its mark kept. */
  z.strictObject({ step: z.literal('keepTarget'), request: RestoreRequest, target: CreatedTarget }),
  z.strictObject({ step: z.literal('summarize'), state: RestoreState }),
  z.strictObject({ step: z.literal('cleanup'), state: RestoreState }),
  /** EventBridge, when an execution of the restore state machine was stopped, timed out or failed (compensation.ts). */
  z.strictObject({ step: z.literal('compensate'), executionArn: ExecutionArn, status: z.string().min(1) }),
  /** The compensation's part in the database's network: what Cleanup does to the target, for an execution that ran no Cleanup. */
  z.strictObject({ step: z.literal('releaseTarget'), record: RestoreState }),
]);
export type RestoreStepEvent = z.infer<typeof RestoreStepEvent>;
