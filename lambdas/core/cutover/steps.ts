import type { ECSClient } from '@aws-sdk/client-ecs';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { RDSClient } from '@aws-sdk/client-rds';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { setTimeout as delay } from 'node:timers/promises';
import { parseConnectionSecret } from '../postgres/connection-secrets.js';
import { connectClient, type ConnectionSettings } from '../postgres/connection.js';
import { depsWithin, stepDeadline, withinStepDeadline, type StepDeadline } from '../deadline.js';
import { LifelineError, type LifelineErrorName } from '../errors.js';
import { parseInput } from '../validation.js';
import { endpointOf, rewriteConnectionSecret, sameDatabase, type ConnectionTarget } from './connection.js';
import { compensateCutover, type CutoverCompensationDeps } from './compensation.js';
import { applyFreeze, liftFreeze, recordFreeze } from './freeze.js';
import { proveHealth } from './health.js';
import { CutoverInput, namesFunctionVersion, type CutoverDatabase } from './input.js';
import { trustedApproval, type HandOverStateMachines } from './origin.js';
import { describeRdsEndpoint, describeRdsResource } from '../postgres/rds.js';
import { putConnectionSecret, readSecretVersion, refuseRotationInProgress, restoreSecretVersion, swapTokenFor } from './secret.js';
import {
  CUTOVER_TIMEOUT_SECONDS,
  CutoverStepEvent,
  sameFunction,
  type CutoverApplication,
  type CutoverFailure,
  type CutoverServer,
  type CutoverOutcome,
  type CutoverRequest,
  type CutoverSettings,
  type CutoverState,
  type Recorded,
} from './state.js';
import { pendingRestarts, recordWorkloads, restartWorkloads } from './workloads.js';
import { notificationSubject } from '../workflows/notifications.js';
import { unlockCommand } from '../operator/locks.js';
import { nameCaught, secondsBetween, stepTimer, type CaughtError } from '../workflows/execution-state.js';

export interface CutoverStepDeps {
  settings: CutoverSettings;
  secrets: SecretsManagerClient;
  ecs: ECSClient;
  lambda: LambdaClient;
  ssm: SSMClient;
  /** The CA bundle for TLS to the databases (the Lambda image's RDS bundle, PGSSLROOTCERT). */
  sslRootCert?: string;
  /** What is left of the Lambda's own time (its context's getRemainingTimeInMillis()). */
  lambdaRemainingMs?: number;
  /** The step's deadline (withinStepDeadline sets it): every AWS call, connection and statement ends by then. */
  deadline?: StepDeadline;
  /** Where a configured server without `host` listens: RDS's endpoint of it (ValidateInput). */
  rds?: RDSClient;
  /** Reads the execution that handed over, to take the approval it brought (origin.ts); without it none is taken. */
  stepFunctions?: SFNClient;
  /** The state machines whose executions may hand over an approval; by default this deployment's restore and PITR. */
  handOverStateMachines?: HandOverStateMachines;
  /** What compensating an execution takes besides the above (compensation.ts): EventBridge's events only. */
  compensation?: Pick<CutoverCompensationDeps, 'stepFunctions' | 'dynamodb' | 'lockTable' | 'notify'>;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

/** Runs one step of cutover.asl.json within its deadline; the cutover steps Lambda is this function. */
export async function runCutoverStep(event: unknown, deps: CutoverStepDeps): Promise<unknown> {
  return withinStepDeadline('cutover', event, deps.lambdaRemainingMs, (step, deadline) =>
    runStep(
      step,
      depsWithin(
        deps,
        deadline,
        (['secrets', 'ecs', 'lambda', 'ssm', 'rds', 'stepFunctions'] as const).filter((client) => deps[client] !== undefined),
      ),
    ),
  );
}

async function runStep(event: unknown, deps: CutoverStepDeps): Promise<unknown> {
  const parsed = parseInput(CutoverStepEvent, event, 'cutover step event');
  const now = deps.now ?? (() => new Date());
  const timed = stepTimer(now);
  switch (parsed.step) {
    case 'validateInput':
      return timed(await validateInput(parsed.input, parsed.execution, deps.settings, now(), deps));
    case 'record':
      return timed(await record(parsed.request, deps));
    case 'freeze': {
      const old = await connectionAt(parsed.recorded, parsed.recorded.secret.versionId, deps);
      const drain = {
        deadline: deps.deadline ?? stepDeadline('cutover', 'Freeze', deps.lambdaRemainingMs),
        pollMs: parsed.request.deployment.pollSeconds * 1000,
        sleep: deps.sleep ?? ((ms: number) => delay(ms)),
      };
      return timed({ mode: parsed.recorded.freeze.mode, ...(await applyFreeze(parsed.recorded.freeze, old, deps, drain)) });
    }
    case 'swap':
      return timed({ versionId: await swap(parsed.request, parsed.recorded, deps) });
    case 'restart': {
      const at = now();
      const restarted = await restartWorkloads(parsed.recorded, parsed.side, deps, at);
      const deadline = new Date(at.getTime() + parsed.request.deployment.timeoutSeconds * 1000).toISOString();
      return timed({ side: parsed.side, ...restarted, deadline });
    }
    case 'checkRestart': {
      const pending = await pendingRestarts(parsed.restart, deps, now());
      return timed({ done: pending.length === 0, pending });
    }
    case 'proveHealth': {
      const { request, recorded, side } = parsed;
      const database = await connectionAt(recorded, side === 'new' ? request.swapToken : recorded.secret.versionId, deps);
      return timed(await proveHealth(side, request.application.healthCheck, database, { now, sleep: deps.sleep ?? ((ms) => delay(ms)) }));
    }
    case 'unfreeze': {
      const { recorded } = parsed.state;
      if (recorded && recorded.freeze.mode !== 'none') {
        const old = await connectionAt(recorded, recorded.secret.versionId, deps);
        await liftFreeze(recorded.freeze, old, deps);
      }
      return timed({ mode: recorded?.freeze.mode ?? 'none' });
    }
    case 'revert': {
      const { arn, versionId } = parsed.recorded.secret;
      return timed({ versionId, ...(await restoreSecretVersion(deps.secrets, arn, versionId, parsed.request.swapToken)) });
    }
    case 'summarize':
      return summarize(parsed.state);
    case 'conclude':
      return conclude(parsed.state);
    case 'compensate':
      if (!deps.compensation) throw new LifelineError('InvalidConfig', 'the cutover steps function has no compensation settings');
      return compensateCutover(parsed.executionArn, { ...deps, ...deps.compensation });
  }
}

/**
 * The input checked against its schema and the deployed config. A bad input ends here, before anything changes.
 * The new database's server is the config's, never the input's; an approval in the input is taken only when the
 * execution that handed over vouches for it (origin.ts), else the cutover asks a person (WaitForApproval).
 */
export async function validateInput(
  value: unknown,
  execution: { id: string; startedAt: string },
  settings: CutoverSettings,
  now: Date,
  lookups: Pick<CutoverStepDeps, 'rds' | 'stepFunctions' | 'handOverStateMachines'> = {},
): Promise<Omit<CutoverRequest, 'timing'>> {
  const input = parseInput(CutoverInput, value, 'cutover input');
  const application = settings.applications.find((a) => a.name === input.application);
  if (!application) {
    const configured = settings.applications.map((a) => a.name).join(', ') || 'none';
    throw new LifelineError(
      'InvalidInput',
      `application: "${input.application}" is not a configured application (configured: ${configured})`,
    );
  }
  if (input.freezeWrites === true && application.freeze.mode === 'none') {
    throw new LifelineError('InvalidInput', `freezeWrites: ${application.name} has no freeze configured (freeze mode "none")`);
  }
  if (input.applicationVersion !== undefined) checkApplicationVersion(application, input.applicationVersion);
  const origin = lookups.stepFunctions && { stepFunctions: lookups.stepFunctions, stateMachines: lookups.handOverStateMachines };
  const { approval, distrusted } = await trustedApproval(input, value, execution, origin);
  // A PITR execution hands over the instance it restored, which no config names: taken only from the PITR's own history.
  const restoredByPitr = approval !== null && input.origin?.workflow === 'pitr';
  const database = await configuredDatabase(input.database, application, settings, lookups.rds, restoredByPitr);
  const epochSeconds = (date: Date) => Math.floor(date.getTime() / 1000);
  const to =
    'secretArn' in database
      ? `the database of secret ${database.secretArn}`
      : `${database.name} on ${database.server!.host}:${database.server!.port}`;
  return {
    application,
    database,
    freeze: input.freezeWrites === false ? { mode: 'none' } : application.freeze,
    ...(input.applicationVersion === undefined ? {} : { applicationVersion: input.applicationVersion }),
    origin: input.origin ?? null,
    approval,
    approvalRequest: {
      subject: notificationSubject(`approve the cutover of ${application.name}`),
      question:
        `Cutover ${execution.id} asks to switch ${application.name} to ${to}. ${distrusted ?? ''}`.trimEnd() +
        ` A cutover started by hand needs a person's approval: approve to lock ${application.name}, record its connection and switch it.`,
    },
    deployment: settings.deployment,
    lock: {
      now: String(epochSeconds(now)),
      expiresAt: String(epochSeconds(new Date(execution.startedAt)) + CUTOVER_TIMEOUT_SECONDS),
    },
    swapToken: swapTokenFor(execution.id),
    execution,
  };
}

/**
 * An applicationVersion must name a version of each of the application's workloads, and only of its own: "previous"
 * (each one's own), a task definition (ECS services only) or a function version (Lambda functions only; by its
 * qualified ARN, of the application's one function). Functions take one only through their configured alias.
 */
function checkApplicationVersion(application: CutoverApplication, version: string): void {
  const { name, ecsServices, lambdaFunctions: functions } = application;
  const refuse = (why: string) => new LifelineError('InvalidInput', `applicationVersion: ${version} ${why}`);
  if (functions.length > 0 && application.lambdaAlias === undefined) {
    throw new LifelineError(
      'InvalidInput',
      `applicationVersion: ${name}'s Lambda functions (${functions.join(', ')}) have no alias configured (lambdaAlias): a cutover sets a function's version ` +
        "through the alias it is invoked by; set the application's lambdaAlias, or leave applicationVersion out and deploy them yourself",
    );
  }
  if (version === 'previous') return;
  if (!namesFunctionVersion(version)) {
    if (ecsServices.length === 0)
      throw refuse(`is a task definition; ${name} has no ECS services: give a version of its Lambda functions or "previous"`);
    if (functions.length > 0) {
      throw refuse(
        `is a task definition; ${name} also has Lambda functions (${functions.join(', ')}), whose version it does not name: give "previous", which applies to each`,
      );
    }
    return;
  }
  if (functions.length === 0)
    throw refuse(`is a Lambda function version; ${name} has no Lambda functions: give a task definition or "previous"`);
  if (ecsServices.length > 0) {
    throw refuse(
      `is a Lambda function version; ${name} also has ECS services, whose task definition it does not name: give "previous", which applies to each`,
    );
  }
  if (!version.startsWith('arn:')) return;
  const fn = version.slice(0, version.lastIndexOf(':'));
  if (!functions.some((own) => sameFunction(own, fn))) {
    throw refuse(
      `is a version of the Lambda function ${fn}, not of ${name}'s (${functions.join(', ')}); a cutover deploys only the application's own functions`,
    );
  }
  if (functions.length > 1) {
    throw refuse(
      `names a version of one of ${name}'s ${functions.length} Lambda functions: give a version number, which applies to each, or "previous"`,
    );
  }
}

/**
 * The new database as the config allows it: a connection secret that is neither an application's nor a configured
 * database's admin secret, or a database by name on a configured server, which listens where the config (or RDS for
 * the database's `rds`) says; an input's `database.server` (a restore's hand-over passes the one it restored onto)
 * must be that same place. The one exception is a PITR's hand-over, proved by the PITR execution's own history: the
 * instance it restored, by its own managed secret and endpoint.
 */
async function configuredDatabase(
  database: CutoverDatabase,
  application: CutoverApplication,
  settings: CutoverSettings,
  rds: RDSClient | undefined,
  restoredByPitr: boolean,
): Promise<CutoverDatabase> {
  const servers = settings.servers ?? [];
  if ('secretArn' in database) {
    if (database.secretArn === application.connectionSecretArn) {
      throw new LifelineError(
        'InvalidInput',
        `database.secretArn: is ${application.name}'s own connection secret; give the new database's secret`,
      );
    }
    const other = settings.applications.find((a) => a.connectionSecretArn === database.secretArn);
    if (other) {
      throw new LifelineError(
        'InvalidInput',
        `database.secretArn: is the connection secret of ${other.name}, another application; a cutover does not give one application another's credentials`,
      );
    }
    const admin = servers.find((s) => s.secretArn === database.secretArn);
    if (admin) {
      throw new LifelineError(
        'InvalidInput',
        `database.secretArn: is the admin secret of the configured database ${admin.name}; a cutover never gives an application admin credentials: ` +
          `name the new database on that server instead ({"serverSecretArn": "${admin.secretArn}", "name": "<database>"}), which connects as ${application.name}'s own role`,
      );
    }
    return database;
  }
  const server = servers.find((s) => s.secretArn === database.serverSecretArn);
  if (!server && restoredByPitr && database.server) return database;
  if (!server) {
    throw new LifelineError(
      'InvalidInput',
      `database.serverSecretArn: "${database.serverSecretArn}" is not the secret of a configured database whose server a cutover may switch to ` +
        `(the applications' databases: ${servers.map((s) => s.name).join(', ') || 'none'})`,
    );
  }
  const at = await serverAddress(server, rds);
  const given = database.server;
  if (given && (given.host.toLowerCase() !== at.host.toLowerCase() || given.port !== at.port)) {
    throw new LifelineError(
      'InvalidInput',
      `database.server: ${given.host}:${given.port} is not where the server of ${server.name} listens (${at.host}:${at.port}, ` +
        `${server.host === undefined ? "RDS's endpoint of it" : 'as the config says'}); leave database.server out, the cutover takes it from the config`,
    );
  }
  return { serverSecretArn: server.secretArn, name: database.name, server: at };
}

/** Where a configured server listens: the config's host, else RDS's endpoint of its instance or cluster; the config's port. */
async function serverAddress(server: CutoverServer, rds: RDSClient | undefined): Promise<{ host: string; port: number }> {
  if (server.host !== undefined) return { host: server.host, port: server.port };
  if (!rds) throw new LifelineError('InvalidConfig', `the cutover steps function cannot ask RDS where ${server.name} listens`);
  const found = await describeRdsEndpoint(rds, server.rds);
  if (found.host === undefined)
    throw new LifelineError('DatabaseUnreachable', `RDS ${describeRdsResource(server.rds)} has no endpoint yet`);
  return { host: found.host, port: server.port };
}

const secretName = (request: CutoverRequest) => `${request.application.name}'s connection secret`;

/** The application's connection as a version of its secret holds it. */
async function connectionAt(recorded: Recorded, versionId: string, deps: CutoverStepDeps): Promise<ConnectionSettings> {
  const { secretString } = await readSecretVersion(deps.secrets, recorded.secret.arn, versionId);
  const { settings } = parseConnectionSecret(secretString, `connection secret ${recorded.secret.arn}`, { sslRootCert: deps.sslRootCert });
  return { ...settings, deadline: deps.deadline };
}

/** Where the switch points the application: the new database's own secret, or its name on a server with the application's role. */
async function connectionTarget(request: CutoverRequest, current: ConnectionSettings, deps: CutoverStepDeps): Promise<ConnectionTarget> {
  const { database } = request;
  if ('secretArn' in database) {
    const { secretString } = await readSecretVersion(deps.secrets, database.secretArn);
    const to = parseConnectionSecret(secretString, `database.secretArn ${database.secretArn}`).settings;
    if (to.password === undefined) throw new LifelineError('InvalidInput', `database.secretArn ${database.secretArn}: holds no password`);
    return { host: to.host, port: to.port, database: to.database, user: to.user, password: to.password };
  }
  if (current.password === undefined) throw new LifelineError('InvalidInput', `${secretName(request)} holds no password`);
  // ValidateInput puts the configured server here; the admin secret is never read.
  const { server } = database;
  if (!server)
    throw new LifelineError(
      'InvalidInput',
      'request.database.server: ValidateInput resolves it from the config, and this request has none',
    );
  return { host: server.host, port: server.port, database: database.name, user: current.user, password: current.password };
}

/**
 * Everything rollback needs, read before anything changes, and every check that can refuse the cutover: no
 * rotation of the secret in progress, the secret's shape, the new database reachable as the application will
 * connect, the workloads, the freeze.
 */
async function record(request: CutoverRequest, deps: CutoverStepDeps): Promise<Omit<Recorded, 'timing'>> {
  const arn = request.application.connectionSecretArn;
  await refuseRotationInProgress(deps.secrets, arn, secretName(request));
  const current = await readSecretVersion(deps.secrets, arn);
  const old = parseConnectionSecret(current.secretString, secretName(request), { sslRootCert: deps.sslRootCert });
  const target = await connectionTarget(request, old.settings, deps);
  const next = parseConnectionSecret(rewriteConnectionSecret(current.secretString, old.shape, target), secretName(request), {
    sslRootCert: deps.sslRootCert,
  });
  const from = endpointOf(old.settings);
  const to = endpointOf(next.settings);
  if (sameDatabase(from, to)) {
    throw new LifelineError(
      'InvalidInput',
      `database: ${to.database} on ${to.host}:${to.port} is the database ${request.application.name} uses already`,
    );
  }
  const client = await connectClient({ ...next.settings, deadline: deps.deadline });
  await client.end().catch(() => undefined);
  const workloads = await recordWorkloads(request.application, deps, request.applicationVersion);
  const freeze = await recordFreeze(
    request.freeze,
    { ...old.settings, deadline: deps.deadline },
    { ssm: deps.ssm, services: workloads.services },
  );
  return { secret: { arn, versionId: current.versionId, shape: old.shape }, from, to, ...workloads, freeze };
}

/** The new connection as a new version of the application's secret, in its shape. */
async function swap(request: CutoverRequest, recorded: Recorded, deps: CutoverStepDeps): Promise<string> {
  const { arn, versionId, shape } = recorded.secret;
  const { secretString } = await readSecretVersion(deps.secrets, arn, versionId);
  const old = parseConnectionSecret(secretString, secretName(request), { sslRootCert: deps.sslRootCert });
  const next = rewriteConnectionSecret(secretString, shape, await connectionTarget(request, old.settings, deps));
  return putConnectionSecret(deps.secrets, arn, versionId, request.swapToken, next);
}

const where = (e: { database: string; host: string; port: number }) => `${e.database} on ${e.host}:${e.port}`;

/** The execution's output and notification after success, with the timings operators watch. */
export function summarize(state: CutoverState): CutoverOutcome {
  const { request, recorded, frozen, swap: swapped, health, unfrozen } = state;
  if (!recorded || !swapped || !health || !unfrozen) {
    throw new LifelineError('InvalidInput', 'state: summarize needs the recorded, swap, health and unfrozen sections');
  }
  const name = request.application.name;
  const frozenSeconds = frozen && frozen.mode !== 'none' ? secondsBetween(frozen.timing.finishedAt, unfrozen.timing.finishedAt) : null;
  const swapToHealthySeconds = secondsBetween(swapped.timing.finishedAt, health.timing.finishedAt);
  const stopped = frozen?.stoppedTasks === undefined ? '' : `, ${frozen.stoppedTasks} task(s) stopped`;
  const freezeNote =
    frozenSeconds === null ? 'No write freeze.' : `Writes were frozen (${recorded.freeze.mode}${stopped}) for ${frozenSeconds} s.`;
  const deployed = recorded.services.flatMap(({ cluster, service, taskDefinition, deploy }) =>
    deploy === undefined ? [] : [{ cluster, service, taskDefinition: deploy, previous: taskDefinition }],
  );
  const deployedFunctions = recorded.functions.flatMap(({ name: fn, alias }) =>
    alias === undefined ? [] : [{ function: fn, alias: alias.name, version: alias.deploy, previous: alias.version }],
  );
  const versionNote = [
    ...deployed.map((d) => ` ECS service ${d.service} runs ${d.taskDefinition} (it ran ${d.previous}).`),
    ...deployedFunctions.map(
      (f) => ` Lambda function ${f.function}'s alias ${f.alias} points at version ${f.version} (it pointed at ${f.previous}).`,
    ),
  ].join('');
  return {
    status: 'SUCCEEDED',
    subject: notificationSubject(`${name} switched to ${recorded.to.database}`),
    message:
      `${name} now uses ${where(recorded.to)} (secret version ${swapped.versionId}; the previous version ${recorded.secret.versionId} is AWSPREVIOUS). ` +
      `${health.summary}. Healthy ${swapToHealthySeconds} s after the switch.${versionNote} ${freezeNote} ` +
      `${where(recorded.from)} is kept unchanged. Execution ${request.execution.id}.`,
    application: name,
    from: recorded.from,
    to: recorded.to,
    secretVersionId: swapped.versionId,
    previousSecretVersionId: recorded.secret.versionId,
    health,
    freeze: recorded.freeze.mode,
    deployed,
    deployedFunctions,
    frozenSeconds,
    swapToHealthySeconds,
    origin: request.origin,
    approver: request.approval?.approver ?? null,
  };
}

const caughtError = (caught: CaughtError | undefined) => nameCaught(caught, 'CutoverFailed');

/**
 * Names the failure. After a switch: CutoverRolledBack when the revert proved the old side healthy, else
 * RollbackUnhealthy, which pages; SecretChanged, which pages too, when someone else's version of the secret was
 * current at the revert and so was left alone. A freeze that could not be lifted pages too. After RollbackUnhealthy
 * and SecretChanged the application's lock is kept (KeepLock), until a person clears it with `lifeline unlock`.
 */
export function conclude(state: CutoverState): CutoverFailure {
  const { request, recorded, rollback, rollbackError, unfreezeError } = state;
  const name = request.application.name;
  const execution = ` Execution ${request.execution.id}.`;
  const freezeHeld = unfreezeError
    ? ` The write freeze (${recorded?.freeze.mode}) could not be lifted: ${caughtError(unfreezeError).cause}; lift it by hand.`
    : '';
  if (!state.error && state.health?.passed) {
    // Only the unfreeze after a healthy switch failed: the application runs on the new database.
    const cause = `${name} was switched to ${recorded ? where(recorded.to) : 'the new database'} and is healthy.${freezeHeld}`;
    return {
      error: 'CutoverFailed',
      cause,
      subject: notificationSubject(`${name} switched, but its write freeze is still on`),
      message: `ACTION NEEDED: ${cause}${execution}`,
      page: true,
      keepLock: false,
    };
  }
  const original = caughtError(state.error);
  if (!rollback && !rollbackError) {
    return {
      error: original.error,
      cause: `${original.cause}${freezeHeld}`,
      subject: notificationSubject(`cutover of ${name} failed (${original.error})`),
      message: `Cutover of ${name} failed with ${original.error} before its connection was switched: ${original.cause}. Nothing else was changed.${freezeHeld}${execution}`,
      page: freezeHeld !== '',
      keepLock: false,
    };
  }
  const forward = state.health ? ` Health after the switch: ${state.health.summary}.` : '';
  // A second cutover now would record this state as the one to go back to: the lock stays until a person clears it.
  const lockKept =
    ` The lock on ${name} is kept, with no expiry, so that no other cutover starts from this state and records it as the one to go back to; ` +
    `once ${name} is checked and on the database it should use, clear it: ${unlockCommand(name, request.execution.id)}.`;
  if (rollbackError?.Error === 'SecretChanged') {
    const cause =
      `switching ${name} failed with ${original.error}: ${original.cause}.${forward} Not rolled back: ${caughtError(rollbackError).cause}. ` +
      `Someone else changed the connection secret during the cutover; check which database ${name} should use and restart it.${freezeHeld}${lockKept}`;
    return {
      error: 'SecretChanged',
      cause,
      subject: notificationSubject(`${name}'s connection secret changed during its cutover`),
      message: `ACTION NEEDED: ${cause}${execution}`,
      page: true,
      keepLock: true,
    };
  }
  const failed = rollbackError ? caughtError(rollbackError) : undefined;
  const back = failed
    ? ` The rollback failed with ${failed.error}: ${failed.cause}.`
    : rollback?.health
      ? ` Health after the rollback: ${rollback.health.summary}.`
      : '';
  const healthy = rollback?.health?.passed === true && !rollbackError && !unfreezeError;
  const error: LifelineErrorName = healthy ? 'CutoverRolledBack' : 'RollbackUnhealthy';
  const previous = recorded ? ` to ${where(recorded.from)} (secret version ${recorded.secret.versionId})` : '';
  const cause = `switching ${name} failed with ${original.error}: ${original.cause}.${forward} Rolled back${previous}.${back}${freezeHeld}${healthy ? '' : lockKept}`;
  return {
    error,
    cause,
    subject: notificationSubject(healthy ? `cutover of ${name} rolled back` : `${name} is unhealthy after a cutover rollback`),
    message: `${healthy ? '' : 'ACTION NEEDED: '}${cause}${execution}`,
    page: !healthy,
    keepLock: !healthy,
  };
}
