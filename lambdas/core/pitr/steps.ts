import {
  CreateDBInstanceCommand,
  ModifyDBClusterCommand,
  ModifyDBInstanceCommand,
  RestoreDBClusterFromSnapshotCommand,
  RestoreDBClusterToPointInTimeCommand,
  RestoreDBInstanceFromDBSnapshotCommand,
  RestoreDBInstanceToPointInTimeCommand,
  type CreateDBInstanceCommandInput,
  type DBCluster,
  type DBInstance,
  type ModifyDBClusterCommandInput,
  type ModifyDBInstanceCommandInput,
  paginateDescribeDBClusters,
  type RDSClient,
} from '@aws-sdk/client-rds';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { clientWithin, withinStepDeadline, type StepDeadline } from '../deadline.js';
import { LifelineError, type LifelineErrorName } from '../errors.js';
import { configuredDatabase, owningApplication, type RestoreCatalog } from '../restore/catalog.js';
import { parseInput } from '../validation.js';
import { causeDetails, nameCaught, secondsBetween, stepTimer } from '../workflows/execution-state.js';
import type { CompensationDeps } from '../workflows/compensation.js';
import { notificationSubject } from '../workflows/notifications.js';
import { defaultTargetIdentifier, PitrInput } from './input.js';
import {
  clusterModifyRequest,
  clusterPointInTimeRequest,
  clusterSnapshotRequest,
  copiedFields,
  instanceModifyRequest,
  instancePointInTimeRequest,
  instanceSnapshotRequest,
  restoreTags,
  taggedBy,
  writerIdentifier,
  writerRequest,
} from './requests.js';
import {
  PitrStepEvent,
  type FinishedRestore,
  type PitrFailure,
  type PitrRequest,
  type PitrSettings,
  type PitrState,
  type ResolvedPoint,
  type RestoreProgress,
} from './state.js';
import { findCluster, findInstance, statusOf } from './instances.js';
import { compensatePitr } from './compensation.js';
import { releaseRestore } from './release.js';
import { renameBack, renameIn } from './rename.js';
import { classifyStatus } from './status.js';
import { restoredAsApplication, validateRestored } from './validation.js';
import type { ExecutionStatusLookup } from '../postgres/databases.js';
import { concludeMigrationsRun, holdForMigrations, type PreparedMigrations } from '../restore/migrations.js';
import { describePoint } from './validation.js';
import { describeSourceCluster, describeSourceInstance, resolveRestorePoint } from './window.js';

export interface PitrStepDeps {
  settings: PitrSettings;
  /** The configured databases (the restore workflow's catalog), which ValidateInput resolves the input against. */
  catalog: RestoreCatalog;
  rds: RDSClient;
  /** The application's connection secret, for Validate. */
  secrets: SecretsManagerClient;
  /** The RDS CA bundle Validate verifies the restored server with; unset, PGSSLROOTCERT. */
  sslRootCert?: string;
  lambdaRemainingMs?: number;
  deadline?: StepDeadline;
  /** Whether the execution holding a migrations target secret still runs (restore/migrations.ts). */
  executions?: ExecutionStatusLookup;
  /** What compensating an execution takes (compensation.ts): only the steps function EventBridge targets has it. */
  compensation?: Omit<CompensationDeps, 'now'>;
  now?: () => Date;
}

/** Runs one step of pitr.asl.json within its deadline; the PITR steps Lambda is this function. */
export async function runPitrStep(event: unknown, deps: PitrStepDeps): Promise<unknown> {
  return withinStepDeadline('pitr', event, deps.lambdaRemainingMs, (step, deadline) =>
    runStep(
      step,
      deadline === undefined
        ? deps
        : { ...deps, deadline, rds: clientWithin(deps.rds, deadline), secrets: clientWithin(deps.secrets, deadline) },
    ),
  );
}

async function runStep(event: unknown, deps: PitrStepDeps): Promise<unknown> {
  const parsed = parseInput(PitrStepEvent, event, 'PITR step event');
  const now = deps.now ?? (() => new Date());
  const timed = stepTimer(now);
  switch (parsed.step) {
    case 'validateInput':
      return { request: timed(await validateInput(parsed.input, parsed.execution, deps.settings, deps.catalog)) };
    case 'resolveRestorePoint':
      return timed(await resolveRestorePoint(deps.rds, parsed.request));
    case 'startRestore':
      return startRestore(parsed.request, parsed.point, deps);
    case 'describeRestore':
      return describeRestore(parsed.request, parsed.restore, deps);
    case 'createWriter':
      return createWriter(parsed.request, parsed.restore, deps);
    case 'finish':
      return timed(await finish(parsed.request, parsed.restore, deps));
    case 'prepareMigrations':
      return prepareMigrations(parsed.request, parsed.finish, deps);
    case 'concludeMigrations':
      if (!parsed.migrations.run) throw new LifelineError('InvalidInput', 'concludeMigrations: no migrations were prepared');
      return concludeMigrationsRun(
        parsed.migrations,
        parsed.request.execution.id,
        (await restoredAsApplication(parsed.request, parsed.finish, deps)).as,
        parsed.request.target.identifier,
        parsed.error,
        { secrets: deps.secrets, signal: deps.deadline?.signal },
      );
    case 'validate':
      return timed(await validateRestored(parsed.request, parsed.point, parsed.finish, parsed.migrations.report ?? null, deps));
    case 'renameIn':
      return renameIn(parsed.state, deps);
    case 'renameBack':
      return renameBack(parsed.state, deps);
    case 'summarize':
      return summarize(parsed.state, now());
    case 'cleanup':
      return cleanup(parsed.state, deps);
    case 'compensate':
      if (!deps.compensation)
        throw new LifelineError('InvalidConfig', 'this PITR steps function does not compensate executions: the one outside any VPC does');
      return compensatePitr(parsed.executionArn, { ...deps.compensation, rds: deps.rds, deadline: deps.deadline, now: deps.now });
  }
}

/**
 * Before RunMigrations, when the cut-over application has migrations: points its target secret at the restored
 * database as the application's role (restore/migrations.ts), once no other running restore holds it.
 */
export async function prepareMigrations(request: PitrRequest, finish: FinishedRestore, deps: PitrStepDeps): Promise<PreparedMigrations> {
  if (request.migrations === null) return { run: false, rolledBack: [] };
  const { as, secretString } = await restoredAsApplication(request, finish, deps);
  const held = await holdForMigrations(request.migrations, request.execution.id, as, secretString, {
    secrets: deps.secrets,
    executions: deps.executions,
    signal: deps.deadline?.signal,
  });
  // A point-in-time recovery marks no migrations rolled back (its input refuses markRolledBack).
  // Nor has it a manifest to count rows against (validation.ts).
  return { run: true, ...request.migrations, ...held, rolledBack: [], tables: null };
}

/** The input checked against its schema and the deployed config, every default filled in; nothing is created. */
export async function validateInput(
  value: unknown,
  execution: { id: string; startedAt: string },
  settings: PitrSettings,
  catalog: RestoreCatalog,
): Promise<Omit<PitrRequest, 'timing'>> {
  const input = parseInput(PitrInput, value, 'PITR input');
  const { database } = await configuredDatabase(catalog, input.database, {
    name: settings.deployment,
    backupStacks: settings.backupStacks,
  });
  const source =
    'instanceIdentifier' in database.rds
      ? { kind: 'instance' as const, identifier: database.rds.instanceIdentifier.toLowerCase() }
      : { kind: 'cluster' as const, identifier: database.rds.clusterIdentifier.toLowerCase() };
  const owner = owningApplication(database, input.cutover ?? input.validateAs);
  // Validate connects as an application's role: refused here, before anything is restored, when none is chosen.
  if (!owner) {
    const applications = database.applications.map((a) => a.name);
    throw applications.length === 0
      ? new LifelineError(
          'InvalidConfig',
          `database ${input.database} has no application whose role validates a restore: configure its application; nothing was created`,
        )
      : new LifelineError(
          'InvalidInput',
          `validateAs: database "${input.database}" has several applications (${applications.join(', ')}); name the one whose role validates the restore (or cutover); nothing was created`,
        );
  }
  if (input.strategy === 'rename' && source.kind === 'cluster') {
    throw new LifelineError(
      'InvalidInput',
      `strategy: "rename" renames RDS instances; ${input.database} is Aurora cluster ${source.identifier}: use cutover instead`,
    );
  }
  if (input.strategy === 'rename' && !settings.renameSources) {
    throw new LifelineError(
      'InvalidInput',
      `strategy: "rename" renames the source, which deployment ${settings.deployment} does not allow (its config's pitr.renameSources is off)`,
    );
  }
  if (input.copyOnWrite && source.kind === 'instance') {
    throw new LifelineError(
      'InvalidInput',
      `copyOnWrite: only an Aurora cluster can be cloned; ${input.database} is RDS instance ${source.identifier}`,
    );
  }
  const target = input.target ?? defaultTargetIdentifier(source.identifier, new Date(execution.startedAt));
  if (target === source.identifier || (source.kind === 'cluster' && target === writerIdentifier(source.identifier))) {
    throw new LifelineError('InvalidInput', `target: "${target}" is the source's identifier; a PITR restores into a NEW identifier`);
  }
  const validateFunctionArn = settings.networkFunctions[database.network];
  if (!validateFunctionArn) {
    throw new LifelineError(
      'InvalidConfig',
      `network ${database.network} of database ${input.database} has no PITR steps function deployed`,
    );
  }
  const point = input.restorePoint;
  const restorePoint: PitrRequest['restorePoint'] =
    point === 'latest'
      ? { kind: 'latest' }
      : typeof point === 'string'
        ? { kind: 'time', time: point }
        : 'identifier' in point.snapshot
          ? { kind: 'snapshot', identifier: point.snapshot.identifier }
          : { kind: 'latest-snapshot', type: point.snapshot.latest };
  return {
    database: input.database,
    source,
    restorePoint,
    target: { identifier: target },
    strategy: input.strategy ?? 'new-identifier',
    copyOnWrite: input.copyOnWrite,
    cutover: input.cutover ?? null,
    migrations:
      input.cutover !== undefined && input.runMigrations && owner.migrations ? { application: owner.name, ...owner.migrations } : null,
    runner: database.runner,
    ownerSecretArn: owner.connectionSecretArn,
    smokeChecks: input.smokeChecks ?? [],
    finalSnapshot: input.finalSnapshot,
    approval: {
      timeoutSeconds: input.approvalTimeoutHours !== undefined ? input.approvalTimeoutHours * 3600 : settings.approvalTimeoutSeconds,
      subject: notificationSubject(`approve the point-in-time recovery of ${input.database} into ${target}`),
    },
    cleanupFailedSubject: notificationSubject(`PITR of ${input.database} failed, and so did its cleanup`),
    validateFunctionArn,
    pollSeconds: settings.pollSeconds,
    maxPolls: Math.max(1, Math.ceil(settings.maxWaitSeconds / Math.max(settings.pollSeconds, 1))),
    execution,
  };
}

/** A request as the state holds it: JSON. */
const asRecord = (request: object) => JSON.parse(JSON.stringify(request)) as Record<string, unknown>;

const tagsOf = (resource: DBInstance | DBCluster | undefined) => resource?.TagList;

/**
 * Sends a restore call once: when RDS answers that the target exists already (an earlier attempt of this step whose
 * answer was lost, not yet visible to its Describe), it is this execution's if it carries its tag, and the step goes on.
 */
async function startOnce(send: () => Promise<unknown>, request: PitrRequest, deps: PitrStepDeps): Promise<void> {
  try {
    await send();
  } catch (error) {
    if (!/AlreadyExists/.test((error as Error).name)) throw error;
    const target = request.target.identifier;
    const existing = request.source.kind === 'instance' ? await findInstance(deps.rds, target) : await findCluster(deps.rds, target);
    if (!taggedBy(tagsOf(existing), request.execution.id)) {
      throw new LifelineError('InvalidInput', `target: "${target}" exists already and is not this execution's; nothing was created`);
    }
  }
}

/**
 * Starts the restore into the new identifier, the source's settings passed explicitly and everything tagged with
 * this execution. A retry of the step finds its own restore started (by the tag) and goes on; a target that exists
 * without this execution's tag is refused, and nothing is created.
 */
export async function startRestore(request: PitrRequest, point: ResolvedPoint, deps: PitrStepDeps): Promise<RestoreProgress> {
  const { rds, settings } = deps;
  const now = (deps.now ?? (() => new Date()))();
  const target = request.target.identifier;
  const execution = request.execution.id;
  const existing = request.source.kind === 'instance' ? await findInstance(rds, target) : await findCluster(rds, target);
  if (existing && !taggedBy(tagsOf(existing), execution)) {
    throw new LifelineError('InvalidInput', `target: "${target}" exists already and is not this execution's; nothing was created`);
  }
  let progress: Pick<RestoreProgress, 'copied' | 'modify' | 'writerTemplate' | 'sourceResourceId'>;
  const before = () => deps.deadline?.assertBefore(`restoring ${request.source.identifier} into ${target}`);
  if (request.source.kind === 'instance') {
    const source = await describeSourceInstance(rds, request.source.identifier);
    const tags = restoreTags(source.TagList, settings.deployment, execution);
    let copied: string[];
    if (point.kind === 'snapshot') {
      const restore = instanceSnapshotRequest(source, target, point.snapshot!, tags);
      copied = copiedFields(restore);
      before();
      if (!existing) await startOnce(() => rds.send(new RestoreDBInstanceFromDBSnapshotCommand(restore)), request, deps);
    } else {
      const restore = instancePointInTimeRequest(source, target, point, tags);
      copied = copiedFields(restore);
      before();
      if (!existing) await startOnce(() => rds.send(new RestoreDBInstanceToPointInTimeCommand(restore)), request, deps);
    }
    progress = {
      copied,
      modify: asRecord(instanceModifyRequest(source, target)),
      writerTemplate: null,
      sourceResourceId: source.DbiResourceId ?? null,
    };
  } else {
    const source = await describeSourceCluster(rds, request.source.identifier);
    const tags = restoreTags(source.TagList, settings.deployment, execution);
    const sourceWriter = source.DBClusterMembers?.find((member) => member.IsClusterWriter)?.DBInstanceIdentifier;
    const writer = writerRequest(sourceWriter ? await findInstance(rds, sourceWriter) : undefined, target, tags);
    let copied: string[];
    if (point.kind === 'snapshot') {
      const restore = clusterSnapshotRequest(source, target, point.snapshot!, tags);
      copied = copiedFields(restore);
      before();
      if (!existing) await startOnce(() => rds.send(new RestoreDBClusterFromSnapshotCommand(restore)), request, deps);
    } else {
      const restore = clusterPointInTimeRequest(source, target, point, tags, request.copyOnWrite);
      copied = copiedFields(restore);
      if (request.copyOnWrite && !existing) await assertCloneRoom(rds, source);
      before();
      if (!existing) await startOnce(() => rds.send(new RestoreDBClusterToPointInTimeCommand(restore)), request, deps);
    }
    progress = {
      copied,
      modify: asRecord(clusterModifyRequest(source, target)),
      writerTemplate: asRecord(writer),
      sourceResourceId: null,
    };
  }
  return {
    kind: request.source.kind,
    identifier: target,
    writer: null,
    ...progress,
    status: statusOf(existing) ?? 'creating',
    phase: 'waiting',
    polls: 0,
    startedAt: now.toISOString(),
  };
}

/** Aurora allows 15 copy-on-write clones per source (its clone group): a 16th is refused before it is asked for. */
export const MAX_CLONES_PER_SOURCE = 15;

async function assertCloneRoom(rds: RDSClient, source: DBCluster): Promise<void> {
  const group = source.CloneGroupId;
  if (!group) return;
  let clones = 0;
  for await (const page of paginateDescribeDBClusters({ client: rds }, { Filters: [{ Name: 'engine', Values: [source.Engine!] }] })) {
    clones += (page.DBClusters ?? []).filter(
      (c) => c.CloneGroupId === group && c.DBClusterIdentifier !== source.DBClusterIdentifier,
    ).length;
  }
  if (clones >= MAX_CLONES_PER_SOURCE) {
    throw new LifelineError(
      'InvalidInput',
      `copyOnWrite: ${source.DBClusterIdentifier} has ${clones} copy-on-write clones already, Aurora's most (${MAX_CLONES_PER_SOURCE}); delete one or restore a full copy; nothing was created`,
    );
  }
}

/**
 * One look at the restore: available (the cluster and its writer, for Aurora), still on its way, or ended in a
 * terminal status (PitrRestoreFailed, naming it). Past the request's bound, PitrTimedOut.
 */
export async function describeRestore(request: PitrRequest, restore: RestoreProgress, deps: PitrStepDeps): Promise<RestoreProgress> {
  const polls = restore.polls + 1;
  const what = restore.kind === 'instance' ? `RDS instance ${restore.identifier}` : `Aurora cluster ${restore.identifier}`;
  const resource =
    restore.kind === 'instance' ? await findInstance(deps.rds, restore.identifier) : await findCluster(deps.rds, restore.identifier);
  let status = statusOf(resource) ?? 'not-yet-visible';
  let phase: RestoreProgress['phase'] = 'waiting';
  const ended = (name: string, state: string) =>
    new LifelineError(
      'PitrRestoreFailed',
      `${name} ended in status ${state}, which RDS does not leave by itself; restore point ${describePoint(pointOf(request))}`,
    );
  const classified = classifyStatus(resource ? status : undefined);
  if (classified === 'terminal') throw ended(what, status);
  if (classified === 'available') {
    if (restore.kind === 'instance') phase = 'available';
    else if (restore.writer === null) phase = 'needs-writer';
    else {
      const writer = await findInstance(deps.rds, restore.writer);
      const writerStatus = writer?.DBInstanceStatus ?? 'not-yet-visible';
      status = `${status}; writer ${writerStatus}`;
      const writerClass = classifyStatus(writer ? writerStatus : undefined);
      if (writerClass === 'terminal') throw ended(`Aurora writer ${restore.writer}`, writerStatus);
      if (writerClass === 'available') phase = 'available';
    }
  }
  if (phase === 'waiting' && polls >= request.maxPolls) {
    throw new LifelineError(
      'PitrTimedOut',
      `${what} was not available after ${polls} looks ${request.pollSeconds} s apart (status ${status}); the bound is the deployment's maxWaitSeconds`,
    );
  }
  return { ...restore, status, phase, polls };
}

function pointOf(request: PitrRequest): Pick<ResolvedPoint, 'kind' | 'time' | 'snapshot'> {
  const p = request.restorePoint;
  if (p.kind === 'time') return { kind: 'time', time: p.time, snapshot: null };
  if (p.kind === 'latest') return { kind: 'latest', time: null, snapshot: null };
  return { kind: 'snapshot', time: null, snapshot: p.kind === 'snapshot' ? p.identifier : `the latest ${p.type}` };
}

/** Aurora: the writer instance, created once the restored cluster is available (a cluster restore has none). */
export async function createWriter(request: PitrRequest, restore: RestoreProgress, deps: PitrStepDeps): Promise<RestoreProgress> {
  if (restore.kind !== 'cluster' || restore.writerTemplate === null) {
    throw new LifelineError('InvalidInput', 'restore: only an Aurora cluster restore creates a writer');
  }
  const template = restore.writerTemplate as unknown as CreateDBInstanceCommandInput;
  const identifier = template.DBInstanceIdentifier!;
  const existing = await findInstance(deps.rds, identifier);
  if (existing && !taggedBy(existing.TagList, request.execution.id)) {
    throw new LifelineError('InvalidInput', `target: the writer "${identifier}" exists already and is not this execution's`);
  }
  if (!existing) {
    deps.deadline?.assertBefore(`creating the writer ${identifier}`);
    await deps.rds.send(new CreateDBInstanceCommand(template));
  }
  return { ...restore, writer: identifier, phase: 'waiting' };
}

/**
 * Once available: the settings a restore cannot take (monitoring, Performance Insights, windows, CA) and the
 * restored database's own RDS-managed master secret (ManageMasterUserPassword), on what this execution created
 * only; then where it listens.
 */
export async function finish(request: PitrRequest, restore: RestoreProgress, deps: PitrStepDeps): Promise<Omit<FinishedRestore, 'timing'>> {
  const finished = await modifyRestored(request, restore, deps);
  // The cutover reaches the restored server with its own managed secret: without one, fail before a human is asked.
  if (request.cutover !== null && finished.masterSecretArn === null) {
    throw new LifelineError(
      'PitrFailed',
      `RDS reported no managed master secret for ${restore.identifier} after ManageMasterUserPassword; the cutover of ${request.cutover} needs it`,
    );
  }
  return finished;
}

async function modifyRestored(
  request: PitrRequest,
  restore: RestoreProgress,
  deps: PitrStepDeps,
): Promise<Omit<FinishedRestore, 'timing'>> {
  const execution = request.execution.id;
  if (restore.identifier === request.source.identifier)
    throw new LifelineError('InvalidInput', 'restore: is the source, which is never modified');
  if (restore.kind === 'instance') {
    const instance = await findInstance(deps.rds, restore.identifier);
    if (!instance || !taggedBy(instance.TagList, execution)) {
      throw new LifelineError('PitrFailed', `${restore.identifier} is gone or not this execution's; it was not modified`);
    }
    deps.deadline?.assertBefore(`modifying ${restore.identifier}`);
    // A retried Finish finds the managed secret on already: it is not asked for twice.
    const modify = { ...restore.modify, ...(instance.MasterUserSecret ? { ManageMasterUserPassword: undefined } : {}) };
    const modified = (await deps.rds.send(new ModifyDBInstanceCommand(modify as unknown as ModifyDBInstanceCommandInput))).DBInstance;
    const endpoint = modified?.Endpoint ?? instance.Endpoint;
    if (!endpoint?.Address || !endpoint.Port) throw new LifelineError('PitrFailed', `${restore.identifier} reports no endpoint`);
    return {
      host: endpoint.Address,
      port: endpoint.Port,
      masterSecretArn: modified?.MasterUserSecret?.SecretArn ?? instance.MasterUserSecret?.SecretArn ?? null,
      modified: copiedFields(restore.modify).filter((field) => field !== 'DBInstanceIdentifier' && field !== 'ApplyImmediately'),
    };
  }
  const cluster = await findCluster(deps.rds, restore.identifier);
  if (!cluster || !taggedBy(cluster.TagList, execution)) {
    throw new LifelineError('PitrFailed', `${restore.identifier} is gone or not this execution's; it was not modified`);
  }
  deps.deadline?.assertBefore(`modifying ${restore.identifier}`);
  const modify = { ...restore.modify, ...(cluster.MasterUserSecret ? { ManageMasterUserPassword: undefined } : {}) };
  const modified = (await deps.rds.send(new ModifyDBClusterCommand(modify as unknown as ModifyDBClusterCommandInput))).DBCluster;
  const host = modified?.Endpoint ?? cluster.Endpoint;
  const port = modified?.Port ?? cluster.Port;
  if (!host || !port) throw new LifelineError('PitrFailed', `${restore.identifier} reports no writer endpoint`);
  return {
    host,
    port,
    masterSecretArn: modified?.MasterUserSecret?.SecretArn ?? cluster.MasterUserSecret?.SecretArn ?? null,
    modified: copiedFields(restore.modify).filter((field) => field !== 'DBClusterIdentifier' && field !== 'ApplyImmediately'),
  };
}

/** The execution's output and notification after success: the restore point, identifiers, copied settings, approver, durations. */
export function summarize(state: PitrState, now: Date) {
  const { request, point, restore, finish: finished, validation, approval, cutover, rename } = state;
  if (!point || !restore || !finished || !validation) {
    throw new LifelineError('InvalidInput', 'state: summarize needs the point, restore, finish and validation sections');
  }
  const stepSeconds: Record<string, number> = {
    ValidateInput: secondsBetween(request.timing.startedAt, request.timing.finishedAt),
    ResolveRestorePoint: secondsBetween(point.timing.startedAt, point.timing.finishedAt),
    Restore: secondsBetween(restore.startedAt, finished.timing.startedAt),
    Finish: secondsBetween(finished.timing.startedAt, finished.timing.finishedAt),
    Validate: secondsBetween(validation.timing.startedAt, validation.timing.finishedAt),
  };
  if (approval) stepSeconds.WaitForApproval = secondsBetween(validation.timing.finishedAt, approval.decidedAt);
  // Summarize runs as soon as the cutover ends.
  if (approval && cutover) stepSeconds.HandOver = secondsBetween(approval.decidedAt, now.toISOString());
  if (rename?.finishedAt) stepSeconds.Rename = secondsBetween(rename.startedAt, rename.finishedAt);
  const recoveryWallSeconds = secondsBetween(request.execution.startedAt, validation.timing.finishedAt);
  const renamed = rename
    ? ` ${request.target.identifier} took ${rename.source}'s identifier and endpoint; the source is ${rename.aside}.`
    : '';
  const approved = approval ? ` Approved by ${approval.approver}${approval.comment ? ` ("${approval.comment}")` : ''}.` : '';
  const handedOver = cutover ? ` Cutover switched ${request.cutover} to ${request.target.identifier}.` : renamed;
  return {
    status: 'SUCCEEDED',
    subject: notificationSubject(`${request.database} recovered into ${request.target.identifier}`),
    message: `${validation.summary}${approved}${handedOver} Recovered in ${recoveryWallSeconds} s. Execution ${request.execution.id}.`,
    database: request.database,
    source: request.source,
    target: {
      identifier: request.target.identifier,
      writer: restore.writer,
      host: finished.host,
      port: finished.port,
      masterSecretArn: finished.masterSecretArn,
    },
    restorePoint: { kind: point.kind, time: point.time, snapshot: point.snapshot, window: point.window },
    strategy: request.strategy,
    copyOnWrite: request.copyOnWrite,
    rename: rename ? { source: rename.source, aside: rename.aside, renamed: rename.renamed } : null,
    copiedSettings: restore.copied,
    modifiedSettings: finished.modified,
    validation,
    approver: approval?.approver ?? null,
    approvalComment: approval?.comment ?? null,
    cutover: cutover ?? null,
    stepSeconds,
    recoveryWallSeconds,
    /** From the execution's start to Summarize: after a cutover or a rename, the application is on the restored data. */
    totalSeconds: secondsBetween(request.execution.startedAt, now.toISOString()),
  };
}

/** The stable name and a readable cause for what Step Functions caught (a cutover's failure by the cutover's name). */
export function classifyFailure(caught: PitrState['error']): { error: LifelineErrorName; cause: string } {
  if (caught?.Error === 'States.TaskFailed') {
    const details = causeDetails(caught.Cause);
    if (details?.Status === 'FAILED' && typeof details.Error === 'string') {
      const child = nameCaught(
        { Error: details.Error, Cause: typeof details.Cause === 'string' ? details.Cause : undefined },
        'PitrFailed',
      );
      return { error: child.error, cause: `the cutover ${String(details.ExecutionArn)} failed: ${child.cause}` };
    }
    if (details?.Status === 'TIMED_OUT' || details?.Status === 'ABORTED') {
      return {
        error: 'CutoverUnresolved',
        cause: `the cutover ${String(details.ExecutionArn)} ended ${String(details.Status)} before it said what it left`,
      };
    }
  }
  return nameCaught(caught, 'PitrFailed');
}

/** What RenameBack did, for the notice. */
function renamedBack({ renameBack }: PitrState): string {
  if (!renameBack || renameBack.phase !== 'done') return '';
  return renameBack.renamed.length > 0
    ? ` Renamed back (${renameBack.renamed.join(', ')}): ${renameBack.source} is the source again.`
    : ` ${renameBack.source} was never renamed.`;
}

/** Deletes what this execution created (releaseRestore) and names the failure. */
export async function cleanup(state: PitrState, deps: PitrStepDeps): Promise<PitrFailure> {
  const { request } = state;
  const failed = classifyFailure(state.error);
  // RenameBack failed: that is what a human must act on; the first failure is its cause's start.
  const { error, cause } = state.renameBackError
    ? {
        error: 'PitrRenameUnresolved' as const,
        cause: `${failed.error}: ${failed.cause}; then ${nameCaught(state.renameBackError, 'PitrRenameUnresolved').cause}`,
      }
    : failed;
  const released = await releaseRestore(state, deps);
  const notes = `${renamedBack(state)}${released.notes.length ? ` ${released.notes.join(' ')}` : ' Nothing had been created.'}`;
  return {
    error,
    cause,
    deleted: released.deleted,
    kept: released.kept,
    subject: notificationSubject(`PITR of ${request.database} failed (${error})`),
    message: `Point-in-time recovery of ${request.database} into ${request.target.identifier} failed with ${error}: ${cause}${notes} Execution ${request.execution.id}.`,
  };
}
