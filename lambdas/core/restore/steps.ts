import type { RDSClient } from '@aws-sdk/client-rds';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type pg from 'pg';
import { parseConnectionSecret } from '../postgres/connection-secrets.js';
import { backupStackOf } from '../database-groups.js';
import { connectClient, redact, type ConnectionSettings } from '../postgres/connection.js';
import { LifelineError, type LifelineErrorName } from '../errors.js';
import { assertCanActAs } from '../postgres/ownership.js';
import { connectionFromSecret, readSecretString } from '../postgres/connection-secrets.js';
import type { RestoreMetricName } from '../telemetry.js';
import { parseInput } from '../validation.js';
import { findBackup, objectSize, readManifest, type BackupSelector } from '../vault/backups.js';
import { notificationSubject } from '../workflows/notifications.js';
import { causeDetails, nameCaught, secondsBetween, stepTimer } from '../workflows/execution-state.js';
import type { RestoreCatalog } from './catalog.js';
import { assertJobFits, storageFor } from './job.js';
import { runnerErrorName } from '../exit-codes.js';
import { defaultTargetName, RestoreInput } from './input.js';
import { checkRestored, migrationName, type TableCheckLog } from './validation.js';
import {
  RestoreStepEvent,
  type BackupUsed,
  type RestoreFailure,
  type RestoreOutcome,
  type RestoreRequest,
  type RestoreSettings,
  type RestoreState,
  type CreatedTarget,
  type ValidationReport,
} from './state.js';
import {
  assertWithoutTables,
  createDatabase,
  dropDatabase,
  findDatabase,
  MAINTENANCE_DATABASE,
  markDatabase,
  withDatabaseNameLock,
} from '../postgres/databases.js';
import { endpointConnection } from '../postgres/endpoints.js';

export interface RestoreStepDeps {
  settings: RestoreSettings;
  /** The configured databases, which ValidateInput resolves the input against. */
  catalog: RestoreCatalog;
  s3: S3Client;
  /** Database secrets (the RDS secret JSON shape) and, for secrets without a host, RDS. */
  secrets: SecretsManagerClient;
  rds: RDSClient;
  /** Counts an outcome for the database (the handler emits it as a CloudWatch metric). */
  recordMetric?: (database: string, name: RestoreMetricName, value: number) => void;
  /** Keeps every table's check of a validation (the handler logs them), and says where; absent, nothing keeps them. */
  logTableChecks?: TableCheckLog;
  now?: () => Date;
}

/** Runs one step of restore.asl.json; the restore steps Lambda is this function. */
export async function runRestoreStep(event: unknown, deps: RestoreStepDeps): Promise<unknown> {
  const parsed = parseInput(RestoreStepEvent, event, 'restore step event');
  const now = deps.now ?? (() => new Date());
  const timed = stepTimer(now);
  switch (parsed.step) {
    case 'validateInput':
      return { request: timed(await validateInput(parsed.input, parsed.execution, deps.settings, deps.catalog)) };
    case 'resolveBackup':
      return timed(await resolveBackup(parsed.request, deps));
    case 'createTarget':
      return timed(await createTarget(parsed.request, parsed.backup, deps));
    case 'validateRestore':
      return timed(await validateRestore(parsed.request, parsed.backup, parsed.target, deps));
    case 'summarize': {
      const outcome = summarize(parsed.state);
      deps.recordMetric?.(outcome.database, 'RestoreSucceeded', 1);
      deps.recordMetric?.(outcome.database, 'RestoreSeconds', outcome.restoreWallSeconds);
      return outcome;
    }
    case 'cleanup': {
      const failure = await cleanup(parsed.state, deps);
      deps.recordMetric?.(parsed.state.request.database, 'RestoreFailed', 1);
      return failure;
    }
  }
}

/** The input checked against its schema and the deployed config, every default filled in. */
export async function validateInput(
  value: unknown,
  execution: { id: string; startedAt: string },
  settings: RestoreSettings,
  catalog: RestoreCatalog,
): Promise<Omit<RestoreRequest, 'timing'>> {
  const input = parseInput(RestoreInput, value, 'restore input');
  const group = await catalog.groupOf(input.database);
  const database = group.find((d) => d.name === input.database);
  if (!database) {
    throw new LifelineError(
      'InvalidInput',
      `database: "${input.database}" is not a configured database of deployment ${settings.deployment} (its restore group ${settings.deployment}-restore-${backupStackOf(input.database, settings.backupStacks) + 1} has no catalog entry for it)`,
    );
  }
  // The runner and the steps function run in the database's network and may read its group's secrets only.
  const serverSecretArn = input.target?.serverSecretArn ?? database.secretArn;
  const reachable = group.filter((d) => d.network === database.network);
  // Databases may share a server's secret: the source's own comes first.
  const server = [database, ...reachable].find((d) => d.secretArn === serverSecretArn);
  if (!server) {
    const servers = reachable.map((d) => d.name).join(', ');
    throw new LifelineError(
      'InvalidInput',
      `target.serverSecretArn: "${serverSecretArn}" is not the secret of a configured database that restores of "${input.database}" reach (those in its network ${database.network} and backups stack: ${servers}); restore onto one of their servers`,
    );
  }
  let owner = database.applications.length === 1 ? database.applications[0] : undefined;
  if (input.cutover !== undefined) {
    owner = database.applications.find((a) => a.name === input.cutover);
    if (!owner) {
      const applications = database.applications.map((a) => a.name).join(', ') || 'none';
      throw new LifelineError(
        'InvalidInput',
        `cutover: "${input.cutover}" is not a configured application of database "${input.database}" (its applications: ${applications})`,
      );
    }
  }
  // One transaction in place: pg_restore --single-transaction cannot run jobs.
  const jobs = input.inPlace ? 1 : (input.jobs ?? settings.runnerVcpus);
  assertJobFits({ label: input.database, serverSecretArn, tables: input.tables ?? null, schemas: input.schemas ?? null, jobs });
  return {
    database: input.database,
    key: input.key ?? null,
    at: input.at ?? null,
    target: {
      serverSecretArn,
      database: input.inPlace ? null : (input.target?.database ?? defaultTargetName(input.database, new Date(execution.startedAt))),
    },
    server: { name: server.name, host: server.host, port: server.port, databaseName: server.databaseName, rds: server.rds },
    inPlace: input.inPlace,
    tables: input.tables ?? null,
    schemas: input.schemas ?? null,
    jobs,
    smokeChecks: input.smokeChecks ?? [],
    cutover: input.cutover ?? null,
    ownerSecretArn: owner?.connectionSecretArn ?? null,
    keepOnFailure: input.keepOnFailure,
    approval: {
      required: input.cutover !== undefined,
      timeoutSeconds: input.approvalTimeoutHours !== undefined ? input.approvalTimeoutHours * 3600 : settings.approvalTimeoutSeconds,
      subject: notificationSubject(
        input.inPlace ? `approve restoring ${input.database} in place` : `approve the restore of ${input.database}`,
      ),
    },
    cleanupFailedSubject: notificationSubject(`restore of ${input.database} failed, and so did its cleanup`),
    stepsFunctionArn: database.stepsFunctionArn,
    runner: database.runner,
    execution,
  };
}

function selectorOf(request: RestoreRequest): BackupSelector {
  if (request.key !== null) return { key: request.key };
  if (request.at !== null) return { database: request.database, at: new Date(request.at) };
  return { database: request.database, latest: true };
}

/** The backup to restore: its manifest present, and its archive present with the manifest's size. */
export async function resolveBackup(request: RestoreRequest, deps: RestoreStepDeps): Promise<Omit<BackupUsed, 'timing'>> {
  const { s3, settings } = deps;
  const key = await findBackup(s3, settings.bucket, selectorOf(request));
  const manifest = await readManifest(s3, settings.bucket, key);
  let bytes: number;
  try {
    bytes = await objectSize(s3, settings.bucket, key);
  } catch (error) {
    if ((error as Error).cause instanceof Error && ((error as Error).cause as Error).name === 'NotFound') {
      throw new LifelineError('BackupNotFound', `archive s3://${settings.bucket}/${key} is missing; only its manifest is there`);
    }
    throw error;
  }
  if (bytes !== manifest.archive.bytes) {
    throw new LifelineError(
      'ChecksumMismatch',
      `archive s3://${settings.bucket}/${key} has ${bytes} bytes, its manifest says ${manifest.archive.bytes}; nothing was restored`,
    );
  }
  const { host, port, databaseName } = manifest.source;
  return {
    key,
    tier: manifest.tier,
    takenAt: manifest.startedAt,
    bytes,
    sha256: manifest.archive.sha256,
    migration: manifest.latestMigration,
    source: { host, port, databaseName },
  };
}

/**
 * The admin connection to a target's server, a configured database's (ValidateInput allows no other), reached as
 * its backups reach it: the secret, then the config's host, port and database name, then RDS. The function's role
 * reads its own group's secrets only, however the step is invoked.
 */
async function serverConnection(request: RestoreRequest, deps: RestoreStepDeps): Promise<ConnectionSettings> {
  const { name, host, port, databaseName, rds } = request.server;
  return endpointConnection({ label: name, secretArn: request.target.serverSecretArn, host, port, databaseName, rds }, deps);
}

/** The target's server as CreateTarget resolved it, connected to `database` with the admin secret's credentials. */
async function targetServer(target: CreatedTarget, database: string, deps: RestoreStepDeps): Promise<ConnectionSettings> {
  const server = await connectionFromSecret(deps.secrets, target.serverSecretArn, { ...target.server, database });
  return { ...server, database };
}

async function withClient<T>(settings: ConnectionSettings, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connectClient(settings);
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function inPlaceQuestion(request: RestoreRequest, backup: BackupUsed, database: string, server: { host: string; port: number }): string {
  return (
    `Restore backup ${backup.key} (taken ${backup.takenAt}, ${backup.bytes} bytes, ${migrationName(backup.migration)}) over ` +
    `the source database ${database} of ${request.database} on ${server.host}:${server.port}? Every object in the backup is ` +
    'dropped and restored with its data as it was then; objects created since stay. Nothing has been written yet.'
  );
}

/**
 * The target database, owned by the application's role: created when it does not exist, or taken when it
 * exists without tables. The backup's source is a target only in place, and then it is never created.
 * A database it creates bears this execution's mark (postgres/databases.ts markDatabase), in the same step: a retry
 * of the step finds it created, another execution is refused it, and Cleanup drops nothing without the mark.
 */
export async function createTarget(
  request: RestoreRequest,
  backup: BackupUsed,
  deps: RestoreStepDeps,
): Promise<Omit<CreatedTarget, 'timing'>> {
  const { serverSecretArn } = request.target;
  const server = await serverConnection(request, deps);
  const { source } = backup;
  // In place: the configured database itself, by the name its backups resolve.
  const database = request.target.database ?? server.database;
  if (request.inPlace && database !== source.databaseName) {
    throw new LifelineError(
      'InvalidInput',
      `inPlace: backup ${backup.key} was taken of database "${source.databaseName}", but "${request.database}" is now "${database}"; restore into a new database`,
    );
  }
  if (!request.inPlace && server.host === source.host && server.port === source.port && database === source.databaseName) {
    throw new LifelineError(
      'InvalidInput',
      `target.database: "${database}" is the source of backup ${backup.key}; restore into a new database, or over it with "inPlace": true`,
    );
  }
  const owner = request.ownerSecretArn === null ? null : (await applicationRole(request.ownerSecretArn, server, deps)).user;
  const at = `${server.host}:${server.port}`;
  const execution = request.execution.id;
  const created = await withClient({ ...server, database: MAINTENANCE_DATABASE }, async (client) => {
    if (owner !== null) await assertCanActAs(client, owner, server);
    return withDatabaseNameLock(client, database, async () => {
      const existing = await findDatabase(client, database);
      // In place, the source: any mark it bears (a restore it was switched to) is not this execution's.
      if (existing && request.inPlace) return false;
      if (existing?.markedBy === execution) return true;
      if (existing?.markedBy) {
        throw new LifelineError(
          'InvalidInput',
          `target.database: "${database}" on ${at} is being restored by execution ${existing.markedBy}; restore into another database`,
        );
      }
      if (existing) return false;
      if (request.inPlace) throw new LifelineError('InvalidInput', `inPlace: the source database "${database}" does not exist on ${at}`);
      await createDatabase(client, database, owner ?? undefined);
      await markDatabase(client, database, execution);
      return true;
    });
  });
  if (!created && !request.inPlace) {
    await withClient({ ...server, database }, (client) => assertWithoutTables(client, `target.database: "${database}" on ${at}`));
  }
  const endpoint = { host: server.host, port: server.port };
  return {
    serverSecretArn,
    server: endpoint,
    database,
    owner,
    created,
    approvalQuestion: request.inPlace ? inPlaceQuestion(request, backup, database, endpoint) : null,
    job: {
      key: backup.key,
      serverSecretArn,
      server: endpoint,
      database,
      role: owner,
      inPlace: request.inPlace,
      tables: request.tables,
      schemas: request.schemas,
      jobs: request.jobs,
      storageGiB: storageFor(backup.bytes),
    },
  };
}

/**
 * The restored database as the application connects to it: its connection secret's user and password on the
 * target's server (which may be another than the application's), or the admin's when no application owns it.
 */
async function applicationConnection(request: RestoreRequest, target: CreatedTarget, deps: RestoreStepDeps): Promise<ConnectionSettings> {
  const server = await targetServer(target, target.database, deps);
  if (request.ownerSecretArn === null) return server;
  const { user, password } = await applicationRole(request.ownerSecretArn, server, deps);
  return { ...server, user, password };
}

/**
 * The application's connection as its secret holds it, in any shape an application keeps it (as cutover reads
 * it); only its role and password are used, so `server` fills in what an RDS-shaped secret leaves out.
 */
async function applicationRole(secretArn: string, server: ConnectionSettings, deps: RestoreStepDeps): Promise<ConnectionSettings> {
  return parseConnectionSecret(await readSecretString(deps.secrets, secretArn), `application connection secret ${secretArn}`, server)
    .settings;
}

/** SQLSTATE insufficient_privilege: the role may not read what was restored. */
const INSUFFICIENT_PRIVILEGE = '42501';

/**
 * Proves the restored database as the application's role: every restored table's rows against the manifest's
 * counts (exact, or within ESTIMATE_TOLERANCE of an estimate for the largest tables), the latest migration against the manifest's, and the smoke checks. A failed check is a
 * report with `passed: false`, so that the report reaches the notification; the state machine then fails.
 * A role that may not read the restored tables fails with VerificationFailed.
 */
export async function validateRestore(
  request: RestoreRequest,
  backup: BackupUsed,
  target: CreatedTarget,
  deps: RestoreStepDeps,
): Promise<Omit<ValidationReport, 'timing'>> {
  const manifest = await readManifest(deps.s3, deps.settings.bucket, backup.key);
  const as = await applicationConnection(request, target, deps);
  try {
    return await withClient(as, (client) => checkRestored(client, manifest, request, backup, target, as, deps.logTableChecks));
  } catch (error) {
    if ((error as { code?: string }).code !== INSUFFICIENT_PRIVILEGE) throw error;
    throw new LifelineError(
      'VerificationFailed',
      `${target.database} failed validation as ${as.user}, the application's role, which cannot use it: ${redact((error as Error).message, as)}`,
    );
  }
}

/** The execution's output and notification after success. */
export function summarize(state: RestoreState): RestoreOutcome {
  const { request, backup, target, validation, approval, handOver, cutover } = state;
  if (!backup || !target || !validation)
    throw new LifelineError('InvalidInput', 'state: summarize needs the backup, target and validation sections');
  // In place, the human approves between CreateTarget and RunRestore; otherwise after ValidateRestore.
  const approvedFirst = request.inPlace && approval !== undefined;
  const restoreStarted = approvedFirst ? approval.decidedAt : target.timing.finishedAt;
  const stepSeconds: Record<string, number> = {
    ValidateInput: secondsBetween(request.timing.startedAt, request.timing.finishedAt),
    ResolveBackup: secondsBetween(backup.timing.startedAt, backup.timing.finishedAt),
    CreateTarget: secondsBetween(target.timing.startedAt, target.timing.finishedAt),
    ...(approvedFirst ? { WaitForApproval: secondsBetween(target.timing.finishedAt, approval.decidedAt) } : {}),
    RunRestore: secondsBetween(restoreStarted, validation.timing.startedAt),
    ValidateRestore: secondsBetween(validation.timing.startedAt, validation.timing.finishedAt),
  };
  if (approval && !approvedFirst) stepSeconds.WaitForApproval = secondsBetween(validation.timing.finishedAt, approval.decidedAt);
  const restoreWallSeconds = secondsBetween(request.execution.startedAt, validation.timing.finishedAt);
  const approved = approval ? ` Approved by ${approval.approver}${approval.comment ? ` ("${approval.comment}")` : ''}.` : '';
  const handedOver = cutover ? ` Cutover switched ${cutover.output.application} to ${cutover.output.to.database}.` : '';
  return {
    status: 'SUCCEEDED',
    subject: notificationSubject(`${request.database} restored into ${target.database}`),
    message: `${validation.summary}${approved}${handedOver} Restored in ${restoreWallSeconds} s. Execution ${request.execution.id}.`,
    database: request.database,
    backup: { key: backup.key, takenAt: backup.takenAt, bytes: backup.bytes, migration: backup.migration },
    target: { database: target.database, serverSecretArn: target.serverSecretArn, owner: target.owner },
    validation,
    approver: approval?.approver ?? null,
    approvalComment: approval?.comment ?? null,
    handOver: handOver ?? null,
    cutover: cutover ?? null,
    stepSeconds,
    restoreWallSeconds,
  };
}

/** The stable name and a readable cause for what Step Functions caught. */
export function classifyFailure(caught: { Error: string; Cause?: string } | undefined): { error: LifelineErrorName; cause: string } {
  const details = causeDetails(caught?.Cause);
  if (caught?.Error === 'StepFunctions.ExecutionAlreadyExistsException') {
    // HandOver retried after its first start's answer was lost, and that cutover has ended since.
    return {
      error: 'CutoverUnresolved',
      cause: `a cutover under this execution's name ran already and has ended: its outcome is in its own execution (${caught.Cause ?? 'no detail'})`,
    };
  }
  if (!caught || caught.Error !== 'States.TaskFailed') return nameCaught(caught, 'RestoreFailed');
  // A cutover started with startExecution.sync:2 fails the state with States.TaskFailed, its DescribeExecution as the cause.
  if (details?.Status === 'FAILED' && typeof details.Error === 'string') {
    const child = { Error: details.Error, Cause: typeof details.Cause === 'string' ? details.Cause : undefined };
    const { error, cause } = classifyFailure(child);
    return { error, cause: `the cutover ${String(details.ExecutionArn)} failed: ${cause}` };
  }
  if (details?.Status === 'TIMED_OUT' || details?.Status === 'ABORTED') {
    const ended = details.Status === 'TIMED_OUT' ? 'timed out' : 'was stopped';
    return {
      error: 'CutoverUnresolved',
      cause: `the cutover ${String(details.ExecutionArn)} ${ended} before it said what it left: check which database the application's connection secret names, its write freeze and its lock`,
    };
  }
  const containers = details?.Containers;
  if (Array.isArray(containers)) {
    const exitCode = (containers[0] as { ExitCode?: unknown } | undefined)?.ExitCode;
    const code = typeof exitCode === 'number' ? exitCode : undefined;
    const reason = typeof details?.StoppedReason === 'string' ? `: ${details.StoppedReason}` : '';
    const task = typeof details?.TaskArn === 'string' ? details.TaskArn : 'task';
    const error = code === undefined ? 'RestoreFailed' : runnerErrorName(code);
    return { error, cause: `the runner ${task} stopped with exit code ${code ?? 'none'} (${error})${reason}` };
  }
  return nameCaught(caught, 'RestoreFailed');
}

/**
 * Drops `database` if it bears the mark of `execution`, checked just before the drop under the name's lock;
 * returns whose mark it bore (null for none), or undefined when it does not exist.
 */
async function dropIfMarked(server: pg.Client, database: string, execution: string): Promise<string | null | undefined> {
  return withDatabaseNameLock(server, database, async () => {
    const existing = await findDatabase(server, database);
    if (existing?.markedBy === execution) await dropDatabase(server, database);
    return existing?.markedBy;
  });
}

/**
 * Drops the target if this execution created it (never anything else), unless keepOnFailure or it was handed
 * over to cutover (an application may use it by now); names the failure. An in-place target is never dropped.
 */
export async function cleanup(state: RestoreState, deps: RestoreStepDeps): Promise<RestoreFailure> {
  const { request, target, handOver } = state;
  // HandOver's own timeout: the cutover may still be running, or have stopped anywhere; nothing says what it left.
  const { error, cause } =
    handOver && !state.cutover && state.error?.Error === 'States.Timeout'
      ? {
          error: 'CutoverUnresolved' as const,
          cause: `the cutover of ${handOver.application} did not end within HandOver's time limit: check which database its connection secret names, its write freeze and its lock`,
        }
      : classifyFailure(state.error);
  let dropped: string | null = null;
  let kept: string | null = null;
  let note = '';
  if (target && request.inPlace && state.approval) {
    note = ` In place, ${target.database} is never dropped: the restore runs in one transaction, so a failure before its commit left it as it was (the runner's log says whether it committed).`;
  } else if (target?.created && handOver) {
    kept = target.database;
    note = ` Kept ${target.database}: it was handed over to cutover of ${handOver.application}.`;
  } else if (target?.created && request.keepOnFailure) {
    kept = target.database;
    note = ` Kept ${target.database} (keepOnFailure).`;
  } else if (target?.created) {
    try {
      const server = await targetServer(target, MAINTENANCE_DATABASE, deps);
      const markedBy = await withClient(server, (client) => dropIfMarked(client, target.database, request.execution.id));
      if (markedBy === request.execution.id) {
        dropped = target.database;
        note = ` Dropped ${target.database}, which this execution had created.`;
      } else if (markedBy === undefined) {
        note = ` ${target.database}, which this execution had created, is gone already.`;
      } else {
        kept = target.database;
        const mark = markedBy === null ? 'it bears no mark' : `execution ${markedBy} marked it`;
        note = ` Kept ${target.database}: it is not marked as created by this execution (${mark}), so it is not this execution's to drop.`;
      }
    } catch (dropError) {
      kept = target.database;
      note = ` Could not drop ${target.database}: ${(dropError as Error).message}; drop it by hand.`;
    }
  } else if (!target && state.backup && !request.inPlace && request.target.database !== null && !request.keepOnFailure) {
    // CreateTarget gave no answer (its state timed out, its answer was lost) yet may have created the database,
    // marked as this execution's: found by its name and mark, and dropped.
    const database = request.target.database;
    try {
      const server = await serverConnection(request, deps);
      const markedBy = await withClient({ ...server, database: MAINTENANCE_DATABASE }, (client) =>
        dropIfMarked(client, database, request.execution.id),
      );
      if (markedBy === request.execution.id) {
        dropped = database;
        note = ` Dropped ${database}, which this execution's CreateTarget had created without reporting it.`;
      }
    } catch (dropError) {
      note = ` Could not check whether CreateTarget left ${database}: ${(dropError as Error).message}; drop it by hand if it bears this execution's mark.`;
    }
  }
  // A failed validation's summary is the cause already.
  const report = state.validation?.passed ? ` ${state.validation.summary}` : '';
  return {
    error,
    cause,
    dropped,
    kept,
    subject: notificationSubject(`restore of ${request.database} failed (${error})`),
    message: `Restore of ${request.database} failed with ${error}: ${cause}${report}${note} Execution ${request.execution.id}.`,
  };
}
