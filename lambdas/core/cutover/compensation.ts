import { DeleteItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { parseConnectionSecret } from '../postgres/connection-secrets.js';
import { unlockCommand } from '../operator/locks.js';
import {
  compensationNotice,
  compensationPrelude,
  nothingToUndo,
  waitForTaskInFlight,
  type CompensationDeps,
  type CompensationResult,
  type Ended,
} from '../workflows/compensation.js';
import type { ExecutionRecord } from '../workflows/execution-history.js';
import { liftFreeze } from './freeze.js';
import { pointAlias } from './function-versions.js';
import { readSecretVersion, restoreSecretVersion } from './secret.js';
import { CutoverState, type Endpoint, type Recorded } from './state.js';

/**
 * A cutover execution that ended without its own rollback (stopped, by hand or with the restore that started it;
 * timed out; or failed past every Catch) gets what its failure path does, as far as its record allows: the
 * application's connection secret back on the recorded version when this execution's swap is current (a swap whose
 * state timed out may still have written: the revert fences its token first), the write freeze it recorded lifted
 * (services scaled to zero back at their recorded counts, unless their secret could not be moved back), the aliases an
 * application version moved pointed back at their recorded versions (with the secret only), and its lock
 * released if it still holds it. Its workloads are not restarted: the notice names them, and pages
 * whenever the application may have been switched; then, as after RollbackUnhealthy, the lock is kept until a person
 * clears it (`lifeline unlock`), so that no other cutover records a half-rolled-back connection as the one to go back to.
 */

export interface CutoverCompensationDeps extends CompensationDeps {
  secrets: SecretsManagerClient;
  ssm: SSMClient;
  /** Scales back the services a `scale-to-zero` freeze scaled down. */
  ecs: ECSClient;
  /** Points back the aliases an applicationVersion moved. */
  lambda: LambdaClient;
  dynamodb: DynamoDBClient;
  /** The lock table (cutover.asl.json's ${LockTableName}). */
  lockTable: string;
  /** The CA bundle for TLS to the databases, as the steps use it. */
  sslRootCert?: string;
}

/** The cutover steps function's variable naming the lock table. */
export const LOCK_TABLE_VARIABLE = 'LIFELINE_CUTOVER_LOCK_TABLE';

/**
 * What a step may still do after its execution ended that the compensation could not undo after it: freeze writes,
 * and, where an application version moves aliases, a Restart pointing one forward after the compensation found it back.
 */
const sideEffectsInFlight = (recorded: Recorded | undefined) =>
  recorded?.functions.some((f) => f.alias !== undefined) ? ['Freeze', 'Restart'] : ['Freeze'];

const where = (e: Endpoint) => `${e.database} on ${e.host}:${e.port}`;

/** The application's old connection, as the recorded version of its secret holds it (where the freeze is). */
async function recordedConnection(recorded: Recorded, deps: CutoverCompensationDeps) {
  const { secretString } = await readSecretVersion(deps.secrets, recorded.secret.arn, recorded.secret.versionId);
  return parseConnectionSecret(secretString, `connection secret ${recorded.secret.arn}`, { sslRootCert: deps.sslRootCert }).settings;
}

/** The condition of every write of the lock here: this execution holds it (its holder is in `executionArn`). */
const heldBy = (executionArn: string) => ({
  ConditionExpression: '#holder = :me',
  ExpressionAttributeNames: { '#holder': 'executionArn' },
  ExpressionAttributeValues: { ':me': { S: executionArn } },
});

/** A write of the lock on the condition heldBy; false when this execution holds it no more. */
async function whileHeld(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    if ((error as Error).name === 'ConditionalCheckFailedException') return false;
    throw error;
  }
}

/** Deletes the application's lock (the item keyed by `application`), as cutover.asl.json's ReleaseLock does. */
const releaseLock = (application: string, executionArn: string, deps: CutoverCompensationDeps) =>
  whileHeld(
    deps.dynamodb.send(
      new DeleteItemCommand({ TableName: deps.lockTable, Key: { application: { S: application } }, ...heldBy(executionArn) }),
    ),
  );

/**
 * Keeps the application's lock as cutover.asl.json's KeepLock does: rewritten without `expiresAt`, naming why, so
 * that it lasts until a person clears it.
 */
const keepLock = (application: string, executionArn: string, why: string, deps: CutoverCompensationDeps) =>
  whileHeld(
    deps.dynamodb.send(
      new PutItemCommand({
        TableName: deps.lockTable,
        Item: { application: { S: application }, executionArn: { S: executionArn }, keptFor: { S: why } },
        ...heldBy(executionArn),
      }),
    ),
  );

const failed = (error: unknown) => `${(error as Error).name}: ${(error as Error).message}`;

/**
 * An execution its Conclude had named (the unfreeze and rollback ran before it) and that then ended before releasing
 * its lock or telling anyone: what remains is the lock (unless Conclude said to keep it) and the notice. Quiet when
 * the execution did both itself, as every failed cutover does.
 */
async function afterConclude(
  record: ExecutionRecord,
  data: Record<string, unknown>,
  { how, at }: Ended,
  deps: CutoverCompensationDeps,
): Promise<CompensationResult> {
  const failure = data.failure as { error?: unknown; message?: unknown; page?: unknown; keepLock?: unknown };
  const application = (data.request as { application?: { name?: unknown } } | undefined)?.application?.name;
  // Without Conclude, `failure` is Locked's: another execution held the lock, and this one changed nothing.
  if (typeof application !== 'string' || !record.entered.includes('Conclude'))
    return nothingToUndo(record, 'its own failure path ended it');
  const kept = failure.keepLock === true;
  let settled = false;
  let lockProblem = '';
  if (!record.entered.includes(kept ? 'KeepLock' : 'ReleaseLockAfterFailure') || !record.entered.includes('NotifyFailure')) {
    try {
      settled = kept
        ? await keepLock(application, record.executionArn, String(failure.error), deps)
        : await releaseLock(application, record.executionArn, deps);
    } catch (error) {
      lockProblem = kept
        ? ` Its lock on ${application} could not be kept for good (${failed(error)}): it expires with the execution's time limit; check ${application} before another cutover.`
        : ` Its lock on ${application} could not be released (${failed(error)}): ${unlockCommand(application, record.executionArn)}.`;
    }
  }
  const notified = record.entered.includes('NotifyFailure');
  if (!settled && lockProblem === '' && notified) return nothingToUndo(record, 'its own failure path ran to Conclude');
  const released = settled && !kept;
  const page = failure.page === true || lockProblem !== '';
  const named = typeof failure.message === 'string' && !notified ? ` What it concluded, never sent: ${failure.message}` : '';
  const notice = compensationNotice(
    `cutover of ${application} ${how} after it concluded${typeof failure.error === 'string' ? ` (${failure.error})` : ''}`,
    `Cutover of ${application} ${how} (${record.status}) in ${at}, after its Conclude.${released ? ` Released its lock on ${application}, which it had not released yet.` : ''}${settled && kept ? ` Kept its lock on ${application} until a person clears it: ${unlockCommand(application, record.executionArn)}.` : ''}${lockProblem}${named} Execution ${record.executionArn}.`,
    page,
  );
  await deps.notify(notice);
  return { executionArn: record.executionArn, status: record.status, compensated: true, reason: 'it ended after its Conclude', notice };
}

/** Compensates cutover execution `executionArn`, if it ended without succeeding and before its Conclude ran. */
export async function compensateCutover(executionArn: string, deps: CutoverCompensationDeps): Promise<CompensationResult> {
  // Nothing is changed before TakeLock; Conclude runs once every failure path has unfrozen, before the lock is released or kept.
  const start = await compensationPrelude(executionArn, deps, {
    workflow: 'cutover',
    firstChange: { state: 'TakeLock', before: 'changed nothing' },
    schema: CutoverState,
    undoneBy: 'its rollback ran',
    byHand: `check which database the application's connection secret names, that its write freeze is lifted and its lock (item of ${deps.lockTable} whose executionArn is this execution) released`,
    afterFailure: (record, data, ended) => afterConclude(record, data, ended, deps),
  });
  if ('result' in start) return start.result;
  const { record, state, how, at } = start;
  const { request, recorded } = state;
  const name = request.application.name;
  const waited = await waitForTaskInFlight(record, sideEffectsInFlight(recorded), deps);
  const done: string[] = [];
  const notDone: string[] = [];
  let page = false;
  let movedBack = false;
  // The application possibly half-switched, or on someone else's version of the secret: the lock stays, as the execution
  // keeps it after RollbackUnhealthy and SecretChanged, so that no other cutover records this connection as the one to go back to.
  let lockKept = false;

  // After a health proof on the new database the switch stands, as it does in the execution (its Unfreeze failing does not revert).
  const switchStands = state.health?.side === 'new' && state.health.passed;
  const swapped = recorded !== undefined && record.entered.includes('Swap') && !switchStands;
  if (recorded && switchStands) {
    done.push(`left ${name} on ${where(recorded.to)}, where it had been switched and proved healthy`);
  } else if (recorded && swapped) {
    const { arn, versionId } = recorded.secret;
    try {
      const { moved } = await restoreSecretVersion(deps.secrets, arn, versionId, request.swapToken);
      movedBack = true;
      done.push(
        moved
          ? `moved ${name}'s connection secret back to its recorded version ${versionId} (${where(recorded.from)})`
          : `found ${name}'s connection secret on its recorded version ${versionId} (${where(recorded.from)}) already`,
      );
      done.push("fenced this execution's swap, so that a late one cannot write");
    } catch (error) {
      notDone.push(
        `${name}'s connection secret was not moved back (${failed(error)}): check which database ${name} should use, set its secret and restart it`,
      );
    }
    // Workloads may have read the switched secret (a restart, a new task or Lambda environment): nothing here restarts them.
    const workloads = [
      ...recorded.services.map((s) => `ECS service ${s.cluster}/${s.service} (task definition ${s.taskDefinition})`),
      ...recorded.functions.map((f) => `Lambda function ${f.name}`),
    ];
    notDone.push(
      `restarted nothing: restart ${workloads.join(' and ') || "the application's workloads"} so that all of them connect to ${where(recorded.from)}, and check its health`,
    );
    page = true;
    lockKept = true;
  }

  // Back on the recorded version only with the recorded secret: the recorded code on the new database could be worse.
  const aliases = recorded?.functions.flatMap(({ name: fn, alias }) => (alias ? [{ fn, alias }] : [])) ?? [];
  for (const { fn, alias } of swapped ? aliases : []) {
    const named = `the alias ${alias.name} of Lambda function ${fn}`;
    if (!movedBack) {
      notDone.push(
        `left ${named} on version ${alias.deploy}, since the secret was not moved back: once it is, point it at version ${alias.version}`,
      );
      continue;
    }
    try {
      await pointAlias(deps.lambda, fn, alias, 'old');
      done.push(`pointed ${named} at its recorded version ${alias.version}`);
    } catch (error) {
      notDone.push(`${named} was not pointed back (${failed(error)})`);
    }
  }

  // Scaled up again, the services' tasks would start on the switched connection that could not be moved back.
  const scaledOnSwitched = recorded?.freeze.mode === 'scale-to-zero' && swapped && !movedBack;
  if (recorded && scaledOnSwitched) {
    const counts = recorded.freeze.mode === 'scale-to-zero' ? recorded.freeze.services : [];
    notDone.push(
      `left the ECS services scaled to zero, since their connection secret was not moved back: once it names the database ${name} should use, ` +
        `put back their desired counts (${counts.map((s) => `${s.cluster}/${s.service}: ${s.desiredCount}`).join(', ')})`,
    );
  } else if (recorded && recorded.freeze.mode !== 'none' && record.entered.includes('Freeze')) {
    try {
      await liftFreeze(recorded.freeze, await recordedConnection(recorded, deps), deps);
      done.push(`lifted the write freeze (${recorded.freeze.mode}) it had recorded on ${where(recorded.from)}`);
    } catch (error) {
      notDone.push(`the write freeze (${recorded.freeze.mode}) could not be lifted (${failed(error)}): lift it by hand`);
      page = true;
    }
  }

  const expires = new Date(Number(request.lock.expiresAt) * 1000).toISOString();
  const unlock = unlockCommand(name, executionArn);
  if (lockKept) {
    try {
      notDone.push(
        (await keepLock(name, executionArn, `compensation after ${record.status}`, deps))
          ? `kept its lock on ${name}, so that no other cutover starts from this connection: once ${name} is checked and on the database it should use, clear it: ${unlock}`
          : `found its lock on ${name} released already (or taken over after it expired): check ${name} before another cutover`,
      );
    } catch (error) {
      notDone.push(
        `its lock on ${name} could not be kept for good (${failed(error)}): it expires at ${expires}; check ${name} before another cutover`,
      );
    }
  } else {
    try {
      done.push(
        (await releaseLock(name, executionArn, deps))
          ? `released its lock on ${name}`
          : `found its lock on ${name} released already (or taken over after it expired)`,
      );
    } catch (error) {
      notDone.push(`its lock on ${name} could not be released (${failed(error)}): it expires at ${expires}, or clear it: ${unlock}`);
      page = true;
    }
  }

  const ended = `Cutover of ${name} ${how} (${record.status}) in ${at}`;
  const opening = swapped
    ? `${ended} after its connection was switched, so its rollback did not run to its end; this compensation did what the rollback does, but for restarting the application and proving it healthy.`
    : switchStands
      ? `${ended} after its switch was proved healthy, before it had unfrozen and released its lock for certain; this compensation finished that.`
      : `${ended} before its connection was switched, so its unfreeze and lock release never ran; this compensation did them.`;
  const sentences = [
    `${opening}${waited}`,
    `Done: ${done.join('; ')}.`,
    ...(notDone.length > 0 ? [`Not done: ${notDone.join('; ')}.`] : []),
    `Execution ${executionArn}.`,
  ];
  const summary =
    swapped && movedBack
      ? `${name} moved back, restart it`
      : page
        ? `${name} needs a hand`
        : switchStands
          ? `${name} stays switched`
          : `${name} left as it was`;
  const notice = compensationNotice(`cutover of ${name} ${how}: ${summary}`, sentences.join(' '), page);
  await deps.notify(notice);
  return { executionArn, status: record.status, compensated: true, reason: done.join('; '), notice };
}
