import type { RDSClient } from '@aws-sdk/client-rds';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type pg from 'pg';
import { parseConnectionSecret } from '../postgres/connection-secrets.js';
import { boundStatements, redact, withClient, type ConnectionSettings } from '../postgres/connection.js';
import { depsWithin, withinStepDeadline, type StepDeadline } from '../deadline.js';
import { LifelineError, type LifelineErrorName } from '../errors.js';
import { APPLICATION_ROLE, assertCanActAs, type RoleDescription } from '../postgres/ownership.js';
import { connectionFromSecret, readSecretString } from '../postgres/connection-secrets.js';
import type { RestoreMetricName } from '../telemetry.js';
import { parseInput } from '../validation.js';
import { findBackup, objectSize, openObject, readManifest, type BackupSelector } from '../vault/backups.js';
import { notificationSubject } from '../workflows/notifications.js';
import { causeDetails, nameCaught, secondsBetween, stepTimer, type CaughtError } from '../workflows/execution-state.js';
import { configuredDatabase, owningApplication, type RestoreCatalog } from './catalog.js';
import { compensateRestore, type RestoreCompensationDeps } from './compensation.js';
import { assertJobFits, storageFor } from './job.js';
import { runnerErrorName } from '../exit-codes.js';
import { defaultTargetName, RestoreInput } from './input.js';
import { checkRestored, checkTables, migrationName, sourceDrift, type TableCheckLog } from './validation.js';
import { MAX_REPORTED_TABLES } from './table-checks.js';
import {
  concludeMigrationsRun,
  holdForMigrations,
  releaseTargetSecret,
  type MigrationsReport,
  type MigrationsState,
  type PreparedMigrations,
} from './migrations.js';
import { plainName, selectedTables, selectTables } from '../archive/table-selection.js';
import { readArchiveHead } from '../archive/format.js';
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
  dropIfMarked,
  findDatabase,
  keepDatabase,
  MAINTENANCE_DATABASE,
  markDatabase,
  markStanding,
  ownsDatabase,
  reservedDatabaseProblem,
  withDatabaseNameLock,
  type ExecutionStatusLookup,
  type ExistingDatabase,
} from '../postgres/databases.js';
import { endpointConnection } from '../postgres/endpoints.js';
import { quoteIdent } from '../postgres/inventory.js';
import { describeMigrationState, markRolledBack, migrationState } from '../postgres/migrations.js';

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
  /**
   * Whether the execution a target's mark names still runs (Step Functions DescribeExecution): an ended one's mark
   * does not hold the name. Absent, every mark holds (postgres/databases.ts markStanding).
   */
  executions?: ExecutionStatusLookup;
  /** What is left of the Lambda's own time (its context's getRemainingTimeInMillis()). */
  lambdaRemainingMs?: number;
  /** The step's deadline (withinStepDeadline sets it): every AWS call, connection and statement ends by then. */
  deadline?: StepDeadline;
  /** What compensating an execution takes (compensation.ts): only the steps function EventBridge targets has it. */
  compensation?: Omit<RestoreCompensationDeps, 'now'>;
  now?: () => Date;
}

/** Runs one step of restore.asl.json within its deadline; the restore steps Lambda is this function. */
export async function runRestoreStep(event: unknown, deps: RestoreStepDeps): Promise<unknown> {
  return withinStepDeadline('restore', event, deps.lambdaRemainingMs, (step, deadline) =>
    runStep(step, depsWithin(deps, deadline, ['s3', 'secrets', 'rds'])),
  );
}

async function runStep(event: unknown, deps: RestoreStepDeps): Promise<unknown> {
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
    case 'prepareMigrations':
      return prepareMigrations(parsed.request, parsed.backup, parsed.target, deps);
    case 'concludeMigrations':
      if (!parsed.migrations.run) throw new LifelineError('InvalidInput', 'concludeMigrations: no migrations were prepared');
      return concludeMigrations(parsed.request, parsed.target, parsed.migrations, parsed.error, deps);
    case 'validateRestore':
      return timed(await validateRestore(parsed.request, parsed.backup, parsed.target, parsed.migrations, deps));
    case 'keepTarget':
      return keepTarget(parsed.request, parsed.target, deps);
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
    case 'compensate':
      if (!deps.compensation) {
        throw new LifelineError(
          'InvalidConfig',
          'this restore steps function does not compensate executions: the one outside any VPC does',
        );
      }
      return compensateRestore(parsed.executionArn, { ...deps.compensation, now: deps.now });
    case 'releaseTarget':
      return releaseTarget(parsed.record, deps);
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
  const { database, group } = await configuredDatabase(catalog, input.database, {
    name: settings.deployment,
    backupStacks: settings.backupStacks,
  });
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
  const owner = owningApplication(database, input.cutover);
  if (input.cutover !== undefined) {
    // The cutover switches an application only onto its own database's server, as the config says where that listens.
    if (serverSecretArn !== database.secretArn) {
      throw new LifelineError(
        'InvalidInput',
        `cutover: ${input.cutover} can be switched only to a database on the server of "${input.database}", its configured database; leave target.serverSecretArn out, or restore without cutover`,
      );
    }
  }
  if (input.owner !== undefined && owner !== undefined) {
    throw new LifelineError(
      'InvalidInput',
      `owner: a restore of "${input.database}" is owned by the role of its application ${owner.name} (from its connection secret), which validates it; leave owner out`,
    );
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
    owner: input.owner ?? null,
    keepOnFailure: input.keepOnFailure,
    markRolledBack: input.markRolledBack ?? [],
    // Only a restore the application is switched to must match its code's schema; a table-level one has no cutover.
    migrations:
      input.cutover !== undefined && input.runMigrations && owner?.migrations ? { application: owner.name, ...owner.migrations } : null,
    approval: {
      required: input.cutover !== undefined || input.askApproval,
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

/**
 * The backup to restore: its manifest present, and its archive present with the manifest's size. The input's
 * `tables` and `schemas` are checked against its manifest here, before CreateTarget creates anything.
 */
export async function resolveBackup(request: RestoreRequest, deps: RestoreStepDeps): Promise<Omit<BackupUsed, 'timing'>> {
  const { s3, settings } = deps;
  const key = await findBackup(s3, settings.bucket, selectorOf(request));
  const manifest = await readManifest(s3, settings.bucket, key);
  // The runner selects the same way (restore/pipeline.ts), so a name that passes here restores.
  const restoring = selectedTables(manifest, { tables: request.tables ?? undefined, schemas: request.schemas ?? undefined });
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
  const partial = request.tables !== null || request.schemas !== null;
  // Where no application's role owns the restore and the input names no role, the source database's owner does.
  const ownedAsSource = request.ownerSecretArn === null && request.owner === null;
  let owner: string | null = null;
  let leftOut: BackupUsed['leftOut'] = null;
  if (partial || ownedAsSource) {
    // The manifest records neither: the archive's table of contents, at its head, does.
    const head = await readArchiveHead(await openObject(s3, settings.bucket, key), deps.deadline?.signal);
    if (ownedAsSource) owner = head.databaseOwner;
    if (partial) {
      // As the runner selects the archive's entries (restore/pipeline.ts), so as it leaves them out.
      const all = selectTables(head.entries, restoring).leftOut;
      leftOut = { count: all.length, entries: all.slice(0, MAX_REPORTED_TABLES) };
    }
  }
  const { host, port, databaseName } = manifest.source;
  return {
    key,
    tier: manifest.tier,
    takenAt: manifest.startedAt,
    bytes,
    sha256: manifest.archive.sha256,
    migration: manifest.latestMigration,
    source: { host, port, databaseName, owner },
    leftOut,
  };
}

/**
 * The admin connection to a target's server, a configured database's (ValidateInput allows no other), reached as
 * its backups reach it: the secret, then the config's host, port and database name, then RDS. The function's role
 * reads its own group's secrets only, however the step is invoked.
 */
async function serverConnection(request: RestoreRequest, deps: RestoreStepDeps): Promise<ConnectionSettings> {
  const { name, host, port, databaseName, rds } = request.server;
  const server = await endpointConnection({ label: name, secretArn: request.target.serverSecretArn, host, port, databaseName, rds }, deps);
  return { ...server, deadline: deps.deadline };
}

/** The target's server as CreateTarget resolved it, connected to `database` with the admin secret's credentials. */
async function targetServer(target: CreatedTarget, database: string, deps: RestoreStepDeps): Promise<ConnectionSettings> {
  const server = await connectionFromSecret(deps.secrets, target.serverSecretArn, { ...target.server, database });
  return { ...server, database, deadline: deps.deadline };
}

function inPlaceQuestion(request: RestoreRequest, backup: BackupUsed, database: string, server: { host: string; port: number }): string {
  return (
    `Restore backup ${backup.key} (taken ${backup.takenAt}, ${backup.bytes} bytes, ${migrationName(backup.migration)}) over ` +
    `the source database ${database} of ${request.database} on ${server.host}:${server.port}? Every object in the backup is ` +
    'dropped and restored with its data as it was then; objects created since stay. Nothing has been written yet.'
  );
}

/**
 * The target database, owned by the application's role (or, where none owns it, the role the input names or the
 * source database's owner: restoreOwner): created when it does not exist, or taken when it exists without tables.
 * The backup's source is a target only in place, and then it is never created.
 * A database it creates bears this execution's mark (postgres/databases.ts markDatabase), in the same step: a retry
 * of the step finds it created, another execution is refused it while this one may run, and Cleanup drops nothing
 * without the mark. An existing target is checked before anything is written (takeExisting).
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
  const { role: owner, described } = await restoreOwner(request, backup, server, deps);
  const at = `${server.host}:${server.port}`;
  const execution = request.execution.id;
  const created = await withClient({ ...server, database: MAINTENANCE_DATABASE }, async (client) => {
    await assertCanActAs(client, owner, server, described);
    return withDatabaseNameLock(client, database, async () => {
      const existing = await findDatabase(client, database);
      // In place, the source: any mark it bears (a restore it was switched to) is not this execution's.
      if (existing && request.inPlace) return false;
      if (existing?.markedBy === execution) return true;
      if (existing) return takeExisting(client, { ...server, database }, existing, { role: owner, described }, execution, deps);
      if (request.inPlace) throw new LifelineError('InvalidInput', `inPlace: the source database "${database}" does not exist on ${at}`);
      // CREATE DATABASE ends by the deadline, so Cleanup, which runs after, finds it (marked) if it exists.
      if (deps.deadline) await boundStatements(client, deps.deadline, `creating database ${database}`);
      await createDatabase(client, database, owner);
      await markDatabase(client, database, execution);
      return true;
    });
  });
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
      execution,
      // Quotes only where a name needs them: the plainest form of each name, which the runner reads back the same.
      tables: request.tables?.map(plainName) ?? null,
      schemas: request.schemas?.map(plainName) ?? null,
      jobs: request.jobs,
      storageGiB: storageFor(backup.bytes, request.inPlace),
    },
  };
}

/**
 * An existing database as CreateTarget's target, checked under its name's lock (`server` holds it) before anything
 * is written: never postgres, a template or RDS's own; not while the execution whose mark it bears may still run;
 * without tables; owned by the role the restored objects will belong to (`owner`: the application's, as a rule). One
 * that an ended execution left is taken over, marked as this execution's, so that this execution's Cleanup drops it.
 * Returns whether it was marked (CreatedTarget's `created`).
 */
async function takeExisting(
  server: pg.Client,
  target: ConnectionSettings,
  existing: ExistingDatabase,
  owner: RestoreOwner,
  execution: string,
  deps: RestoreStepDeps,
): Promise<boolean> {
  const name = target.database;
  const what = `target.database: "${name}" on ${target.host}:${target.port}`;
  const reserved = reservedDatabaseProblem(name);
  if (reserved) throw new LifelineError('InvalidInput', `target.database: ${reserved}`);
  if (existing.template) {
    throw new LifelineError(
      'InvalidInput',
      `${what} is a template database (datistemplate), which new databases are copied from; a restore never writes into it: name a new database`,
    );
  }
  let leftBy = '';
  if (existing.markedBy !== null) {
    const mark = await markStanding(existing.markedBy, deps.executions, deps.deadline?.signal);
    if (mark.holds) {
      throw new LifelineError(
        'InvalidInput',
        `${what} is being restored by execution ${existing.markedBy}${mark.status}; restore into another database`,
      );
    }
    leftBy = `, left by execution ${existing.markedBy}${mark.status},`;
  }
  await withClient(target, (client) => assertWithoutTables(client, `${what}${leftBy}`));
  if (!(await ownsDatabase(server, name, owner.role))) {
    throw new LifelineError(
      'InvalidInput',
      `${what} belongs to ${existing.owner}, not to ${owner.described.what} "${owner.role}", which must own what is restored into it: ` +
        `run ALTER DATABASE ${quoteIdent(name)} OWNER TO ${quoteIdent(owner.role)} there (as its owner or the master user) and restore again, ` +
        'or restore into a new database; nothing was restored',
    );
  }
  if (existing.markedBy === null) return false;
  await markDatabase(server, name, execution);
  return true;
}

/** The role a restore's database and objects belong to, and whose it is, for messages. */
interface RestoreOwner {
  role: string;
  described: RoleDescription;
}

/**
 * Who owns the restore: the application's role (from its connection secret); where no application's role does, the
 * role the input names, else the source database's owner as the backup's archive records it (ResolveBackup read it).
 * Never the admin by default: with neither, the restore is refused before anything is created.
 */
async function restoreOwner(
  request: RestoreRequest,
  backup: BackupUsed,
  server: ConnectionSettings,
  deps: RestoreStepDeps,
): Promise<RestoreOwner> {
  if (request.ownerSecretArn !== null) {
    return { role: (await applicationRole(request.ownerSecretArn, server, deps)).user, described: APPLICATION_ROLE };
  }
  const nameAnother = `create it there, or name the role to own the restore in the input's "owner"`;
  if (request.owner !== null)
    return { role: request.owner, described: { what: 'the role the input names (owner)', whenMissing: nameAnother } };
  if (backup.source.owner !== null) {
    return { role: backup.source.owner, described: { what: "the source database's owner", whenMissing: nameAnother } };
  }
  throw new LifelineError(
    'InvalidInput',
    `owner: no application's role owns a restore of "${request.database}" (it has no configured application, or several and no cutover naming one), ` +
      `and backup ${backup.key} does not record its database's owner: name the role to own the restore in the input's "owner"; nothing was created`,
  );
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
 * A role that may not read the restored tables fails with VerificationFailed. Where no application's role owns the
 * restore, its owner (whose password no secret holds) is proved through the admin's session, as that role (SET ROLE).
 * The report says which migrations PrepareMigrations marked rolled back, which the application's migrations applied,
 * and which the live source has applied that the restore has not.
 */
export async function validateRestore(
  request: RestoreRequest,
  backup: BackupUsed,
  target: CreatedTarget,
  migrations: MigrationsState,
  deps: RestoreStepDeps,
): Promise<Omit<ValidationReport, 'timing'>> {
  const manifest = await readManifest(deps.s3, deps.settings.bucket, backup.key);
  const connection = await applicationConnection(request, target, deps);
  const setRole = request.ownerSecretArn === null ? target.owner : null;
  // What the report names: the role the checks ran as (the connection's password stays for redacting).
  const as = setRole === null ? connection : { ...connection, user: setRole };
  const whose = setRole === null ? "the application's role" : 'its owner';
  try {
    return await withClient(connection, async (client) => {
      if (setRole !== null) await client.query(`SET ROLE ${quoteIdent(setRole)}`);
      const { prepared, report } = migrations;
      const ran = prepared.run && report && prepared.tables ? { applied: report.applied, tables: prepared.tables } : undefined;
      const checks = await checkRestored(client, manifest, request, backup, target, as, deps.logTableChecks, ran);
      const source = await liveSource(request, backup, target, deps);
      const partial = request.tables !== null || request.schemas !== null;
      const state = await migrationState(
        client,
        partial ? { unreachable: 'a table-level restore is not compared with its source' } : source,
        migrations.prepared.rolledBack,
      );
      // The summary tells the approver of them too; the question starts with the summary.
      const summary = `${checks.summary}${describeMigrationState(state)}`;
      return {
        ...checks,
        summary,
        approvalQuestion: `${summary}${checks.approvalQuestion.slice(checks.summary.length)}`,
        migration: { ...checks.migration, state },
        migrations: migrations.report ?? null,
        drift: await sourceDrift(connection, source, manifest, request, deps.deadline),
      };
    });
  } catch (error) {
    if ((error as { code?: string }).code !== INSUFFICIENT_PRIVILEGE) throw error;
    throw new LifelineError(
      'VerificationFailed',
      `${target.database} failed validation as ${as.user}, ${whose}, which cannot use it: ${redact((error as Error).message, as)}`,
    );
  }
}

/**
 * After RunRestore, as the application's role (or the restore's owner): marks the input's markRolledBack migrations
 * rolled back (postgres/migrations.ts), since `prisma migrate deploy` refuses to go past a failed one (P3009); then,
 * when the application has migrations, points its migrations target secret at the restored database, with the
 * application's own URL parameters, and notes where its migrations tables stand. Refused, nothing is marked or held.
 */
export async function prepareMigrations(
  request: RestoreRequest,
  backup: BackupUsed,
  target: CreatedTarget,
  deps: RestoreStepDeps,
): Promise<PreparedMigrations> {
  const connection = await applicationConnection(request, target, deps);
  const markMigrations = () =>
    markRolledBack({
      names: request.markRolledBack,
      restored: connection,
      setRole: request.ownerSecretArn === null ? target.owner : null,
      vault: { s3: deps.s3, bucket: deps.settings.bucket },
      database: request.database,
      signal: deps.deadline?.signal,
    });
  const { migrations } = request;
  if (migrations === null) return { run: false, rolledBack: await markMigrations() };
  // validateInput sets migrations only with an application, whose secret it is.
  const applicationSecret = await readSecretString(deps.secrets, request.ownerSecretArn!);
  const migrationsDeps = { secrets: deps.secrets, executions: deps.executions, signal: deps.deadline?.signal };
  // Held first: MigrationsBusy, retried, comes before anything is marked.
  const held = await holdForMigrations(migrations, request.execution.id, connection, applicationSecret, migrationsDeps);
  try {
    const rolledBack = await markMigrations();
    // The rows as restored, before the migrations change them (a data migration may); ValidateRestore reports these.
    const manifest = await readManifest(deps.s3, deps.settings.bucket, backup.key);
    const tables = await withClient(connection, (client) => checkTables(client, manifest, request, deps.logTableChecks)).catch((error) => {
      if ((error as { code?: string }).code !== INSUFFICIENT_PRIVILEGE) throw error;
      throw new LifelineError(
        'VerificationFailed',
        `${target.database} failed validation as ${connection.user}, the application's role, which cannot use it: ${redact((error as Error).message, connection)}`,
      );
    });
    return { run: true, ...migrations, ...held, rolledBack, tables };
  } catch (error) {
    await releaseTargetSecret(migrations, request.execution.id, held.versionId, migrationsDeps);
    throw error;
  }
}

/** After RunMigrations: what its task applied on the restore (restore/migrations.ts concludeMigrationsRun). */
export async function concludeMigrations(
  request: RestoreRequest,
  target: CreatedTarget,
  migrations: Extract<PreparedMigrations, { run: true }>,
  error: CaughtError | undefined,
  deps: RestoreStepDeps,
): Promise<MigrationsReport> {
  const connection = await applicationConnection(request, target, deps);
  return concludeMigrationsRun(migrations, request.execution.id, connection, target.database, error, {
    secrets: deps.secrets,
    signal: deps.deadline?.signal,
  });
}

/** The live source the restore is compared with: its database on the target's server, when that is the source's own. */
async function liveSource(request: RestoreRequest, backup: BackupUsed, target: CreatedTarget, deps: RestoreStepDeps) {
  if (request.inPlace) return { unreachable: 'an in-place restore replaced its source' };
  if (request.server.name !== request.database) {
    return { unreachable: `the restore is on the server of ${request.server.name}, not of its source ${request.database}` };
  }
  return targetServer(target, backup.source.databaseName, deps);
}

/** What a table-level restore left out, for its notification: a sentence starting with a space, or '' for none. */
function leftOutNote(leftOut: BackupUsed['leftOut']): string {
  if (leftOut === null || leftOut.count === 0) return '';
  const more = leftOut.count > leftOut.entries.length ? `, and ${leftOut.count - leftOut.entries.length} more` : '';
  return ` Left out of the chosen tables (restore them by hand if needed): ${leftOut.entries.join('; ')}${more}.`;
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
    message: `${validation.summary}${leftOutNote(backup.leftOut)}${approved}${handedOver} Restored in ${restoreWallSeconds} s. Execution ${request.execution.id}.`,
    database: request.database,
    backup: { key: backup.key, takenAt: backup.takenAt, bytes: backup.bytes, migration: backup.migration },
    target: { database: target.database, serverSecretArn: target.serverSecretArn, owner: target.owner },
    leftOut: backup.leftOut,
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
 * The target is this execution's result from here on, or the database it hands over to the cutover: its mark becomes
 * a record that this execution kept it (postgres/databases.ts keepDatabase), so that no Cleanup, and no `cleanup`
 * event made by hand, drops it however the execution ends. A target that is not this execution's mark's to keep (gone,
 * or marked by another since) is not handed over. A target it did not create (in place) bears no mark of its.
 */
export async function keepTarget(request: RestoreRequest, target: CreatedTarget, deps: RestoreStepDeps): Promise<{ kept: string | null }> {
  if (!target.created) return { kept: null };
  const execution = request.execution.id;
  const why = request.cutover === null ? 'restored' : `handed over to the cutover of ${request.cutover}`;
  const server = await targetServer(target, MAINTENANCE_DATABASE, deps);
  const existing = await withClient(server, (client) => keepDatabase(client, target.database, execution, why));
  if (existing?.markedBy !== execution && existing?.keptBy !== execution) {
    const now =
      existing === undefined
        ? 'is gone'
        : `bears ${existing.markedBy === null ? 'no mark of an execution' : `the mark of execution ${existing.markedBy}`}`;
    throw new LifelineError(
      'RestoreFailed',
      `${target.database}, which this execution created, ${now}: it is not this execution's to keep or hand over`,
    );
  }
  return { kept: target.database };
}

/**
 * Drops the target if this execution created it (never anything else), unless keepOnFailure or it was handed
 * over to cutover (an application may use it by now); names the failure. An in-place target is never dropped.
 */
export async function cleanup(state: RestoreState, deps: RestoreStepDeps): Promise<RestoreFailure> {
  const { request, handOver } = state;
  // HandOver's own timeout: the cutover may still be running, or have stopped anywhere; nothing says what it left.
  const { error, cause } =
    handOver && !state.cutover && state.error?.Error === 'States.Timeout'
      ? {
          error: 'CutoverUnresolved' as const,
          cause: `the cutover of ${handOver.application} did not end within HandOver's time limit: check which database its connection secret names, its write freeze and its lock`,
        }
      : classifyFailure(state.error);
  const { dropped, kept, note } = await releaseTarget(state, deps);
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

/** What releasing a failed execution's target did: the database dropped or kept, said in a sentence. */
export interface ReleasedTarget {
  dropped: string | null;
  kept: string | null;
  /** Starts with a space, for the failure's message. */
  note: string;
  /** A person must act: the target could not be dropped or checked. */
  actionNeeded: boolean;
}

/**
 * Cleanup's part that acts: drops the target this execution created and still marks (found by its name and mark
 * when CreateTarget never reported it), unless it was handed over to cutover, kept on failure, or restored in place.
 * Running it again drops nothing more. The compensation of a stopped execution runs it too (compensation.ts).
 */
export async function releaseTarget(state: RestoreState, deps: RestoreStepDeps): Promise<ReleasedTarget> {
  const { request, target, handOver } = state;
  let dropped: string | null = null;
  let kept: string | null = null;
  let note = '';
  let actionNeeded = false;
  if (target && request.inPlace && state.approval) {
    note = ` In place, ${target.database} is never dropped: the restore runs in one transaction, so a failure before its commit left it as it was (the runner's log says whether it committed).`;
  } else if (target?.created && handOver) {
    kept = target.database;
    note = ` Kept ${target.database}: it was handed over to cutover of ${handOver.application}.`;
  } else if (target?.created && request.keepOnFailure) {
    kept = target.database;
    note = ` Kept ${target.database} (keepOnFailure).`;
    // Kept for good: its mark goes, so that no cleanup drops it later.
    try {
      const server = await targetServer(target, MAINTENANCE_DATABASE, deps);
      await withClient(server, (client) => keepDatabase(client, target.database, request.execution.id, 'kept on failure'));
    } catch (markError) {
      note += ` Its mark, "lifeline restore ${request.execution.id}", could not be changed (${(markError as Error).message}): change its comment before running lifeline cleanup against its server.`;
    }
  } else if (target?.created) {
    try {
      const server = await targetServer(target, MAINTENANCE_DATABASE, deps);
      const existing = await withClient(server, (client) => dropIfMarked(client, target.database, request.execution.id));
      if (existing?.markedBy === request.execution.id) {
        dropped = target.database;
        note = ` Dropped ${target.database}, which this execution had created.`;
      } else if (existing === undefined) {
        note = ` ${target.database}, which this execution had created, is gone already.`;
      } else if (existing.keptBy === request.execution.id) {
        kept = target.database;
        note = ` Kept ${target.database}: this execution had kept it as its result (KeepTarget), so no cleanup drops it.`;
      } else {
        kept = target.database;
        const mark = existing.markedBy === null ? 'it bears no mark' : `execution ${existing.markedBy} marked it`;
        note = ` Kept ${target.database}: it is not marked as created by this execution (${mark}), so it is not this execution's to drop.`;
      }
    } catch (dropError) {
      kept = target.database;
      note = ` Could not drop ${target.database}: ${(dropError as Error).message}; drop it by hand.`;
      actionNeeded = true;
    }
  } else if (!target && state.backup && !request.inPlace && request.target.database !== null && !request.keepOnFailure) {
    // CreateTarget gave no answer (its state timed out, its answer was lost) yet may have created the database,
    // marked as this execution's: found by its name and mark, and dropped.
    const database = request.target.database;
    try {
      const server = await serverConnection(request, deps);
      const existing = await withClient({ ...server, database: MAINTENANCE_DATABASE }, (client) =>
        dropIfMarked(client, database, request.execution.id),
      );
      if (existing?.markedBy === request.execution.id) {
        dropped = database;
        note = ` Dropped ${database}, which this execution's CreateTarget had created without reporting it.`;
      }
    } catch (dropError) {
      note = ` Could not check whether CreateTarget left ${database}: ${(dropError as Error).message}; drop it by hand if it bears this execution's mark.`;
      actionNeeded = true;
    }
  }
  // A run that ended between PrepareMigrations and ConcludeMigrations still held its application's target secret.
  const prepared = state.migrations?.prepared;
  if (prepared?.run && !state.migrations?.report) {
    try {
      await releaseTargetSecret(prepared, request.execution.id, prepared.versionId, {
        secrets: deps.secrets,
        signal: deps.deadline?.signal,
      });
    } catch (releaseError) {
      note += ` The migrations target secret ${prepared.targetSecret} could not be released (${(releaseError as Error).name}); the next restore of ${prepared.application} takes it over once this execution has ended.`;
    }
  }
  return { dropped, kept, note, actionNeeded };
}
