import { DeleteItemCommand, GetItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { LifelineError } from '../errors.js';
import { cutoverWorkflowName, DEFAULT_DEPLOYMENT_NAME } from '../names.js';

/**
 * The cutover lock as a person sees and clears it (`lifeline unlock`). The lock table holds one item per application
 * (key `application`) while a cutover of it runs, its holder in `executionArn`; TakeLock writes it with `expiresAt`
 * (epoch seconds) and ReleaseLock deletes it. After RollbackUnhealthy or SecretChanged, KeepLock rewrites it without
 * `expiresAt` and with `keptFor` (the error): it then stays until a person deletes it here.
 */

/** `arn:aws:states:<region>:<account>:execution:<state machine>:<name>`; groups: region, state machine. */
const EXECUTION_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):\d{12}:execution:([^:\s]{1,80}):[^:\s]{1,80}$/;

/**
 * The command that clears an application's kept lock, for the deployment (its state machine is `<name>-cutover`)
 * and region the execution ran in.
 */
export function unlockCommand(application: string, executionArn: string): string {
  const match = EXECUTION_ARN.exec(executionArn);
  const suffix = cutoverWorkflowName('');
  const stateMachine = match?.[2];
  const deployment = stateMachine?.endsWith(suffix) ? stateMachine.slice(0, -suffix.length) : undefined;
  const flags = [
    ...(deployment && deployment !== DEFAULT_DEPLOYMENT_NAME ? [`--name ${deployment}`] : []),
    ...(match ? [`--region ${match[1]}`] : []),
  ];
  return ['lifeline unlock', application, ...flags, '--reason "<what you checked>"'].join(' ');
}

/** A lock as the table holds it. */
export interface HeldLock {
  /** The execution holding it (null only for an item written by hand without one). */
  executionArn: string | null;
  /** When it expires (ISO time); null for a lock kept until a person clears it. */
  expiresAt: string | null;
  /** The error it was kept after (RollbackUnhealthy, SecretChanged, CutoverUnresolved); null while its cutover runs. */
  keptFor: string | null;
}

/** The holding execution as Step Functions knows it. */
export interface LockHolder {
  status: string;
  /** When it ended (ISO time); null while it runs. */
  stoppedAt: string | null;
}

export interface UnlockDeps {
  dynamodb: DynamoDBClient;
  sts: STSClient;
  /** The Step Functions client in an execution's region, to ask whether the lock's holder still runs. */
  sfn: (region: string) => SFNClient;
  now?: () => Date;
}

export interface UnlockRequest {
  application: string;
  /** Why the lock may go: what was checked. Printed with the caller's identity. */
  reason: string;
  /** The lock table, `<name>-cutover-locks`. */
  table: string;
}

export type UnlockResult =
  | { application: string; table: string; unlocked: false; message: string }
  | {
      application: string;
      table: string;
      unlocked: true;
      message: string;
      /** The lock that was deleted. */
      lock: HeldLock;
      /** Its execution when it was deleted (null: Step Functions does not know it any more). */
      holder: LockHolder | null;
      /** The caller's identity (STS GetCallerIdentity), who deleted it. */
      by: string;
      reason: string;
      at: string;
    };

const text = (value: AttributeValue | undefined) => value?.S ?? null;

function lockOf(item: Record<string, AttributeValue> | undefined): HeldLock | undefined {
  if (!item) return undefined;
  const expiresAt = item.expiresAt?.N;
  return {
    executionArn: text(item.executionArn),
    expiresAt: expiresAt === undefined ? null : new Date(Number(expiresAt) * 1000).toISOString(),
    keptFor: text(item.keptFor),
  };
}

async function withTable<T>(table: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if ((error as Error).name !== 'ResourceNotFoundException') throw error;
    throw new LifelineError(
      'InvalidInput',
      `no lock table ${table} in this region: pass --name with the config's name and --region with the deployment's region`,
    );
  }
}

async function readLock(application: string, table: string, deps: UnlockDeps): Promise<HeldLock | undefined> {
  const { Item } = await withTable(table, () =>
    deps.dynamodb.send(new GetItemCommand({ TableName: table, Key: { application: { S: application } }, ConsistentRead: true })),
  );
  return lockOf(Item);
}

/** The execution holding the lock; null when Step Functions does not know it (gone, or no execution ARN). */
async function holderOf(executionArn: string | null, deps: UnlockDeps): Promise<LockHolder | null> {
  const match = EXECUTION_ARN.exec(executionArn ?? '');
  if (!executionArn || !match) return null;
  try {
    const { status, stopDate } = await deps.sfn(match[1]!).send(new DescribeExecutionCommand({ executionArn }));
    return status ? { status, stoppedAt: stopDate?.toISOString() ?? null } : null;
  } catch (error) {
    if ((error as Error).name === 'ExecutionDoesNotExist') return null;
    throw error;
  }
}

function describeLock(lock: HeldLock, holder: LockHolder | null): string {
  const execution = `${lock.executionArn ?? 'no execution'}${holder ? ` (${holder.status}${holder.stoppedAt ? ` at ${holder.stoppedAt}` : ''})` : ''}`;
  if (lock.keptFor !== null) return `${execution}, kept after ${lock.keptFor}`;
  return `${execution}, ${lock.expiresAt === null ? 'with no expiry' : `expiring at ${lock.expiresAt}`}`;
}

/**
 * Deletes an application's cutover lock, saying who (the caller's AWS identity) and why: only the lock it read
 * (a conditional delete on its holder), and never one whose execution still runs (that one releases it when it
 * ends). No lock is an answer, not an error.
 */
export async function unlock(request: UnlockRequest, deps: UnlockDeps): Promise<UnlockResult> {
  const { application, table, reason } = request;
  const notHeld = (when = ''): UnlockResult => ({
    application,
    table,
    unlocked: false,
    message: `${application} holds no cutover lock in ${table}${when}: nothing to unlock`,
  });
  const lock = await readLock(application, table, deps);
  if (!lock) return notHeld();
  const holder = await holderOf(lock.executionArn, deps);
  if (holder?.status === 'RUNNING') {
    throw new LifelineError(
      'CutoverLocked',
      `${application}'s lock is held by ${describeLock(lock, holder)}, which is still running: it releases its lock when it ends (stop it first if it must not go on); nothing was deleted`,
    );
  }
  const { Arn: by } = await deps.sts.send(new GetCallerIdentityCommand({}));
  if (!by) throw new LifelineError('InvalidInput', 'STS GetCallerIdentity returned no ARN for the caller');
  try {
    await withTable(table, () =>
      deps.dynamodb.send(
        new DeleteItemCommand({
          TableName: table,
          Key: { application: { S: application } },
          ...(lock.executionArn === null
            ? { ConditionExpression: 'attribute_exists(#key) AND attribute_not_exists(#holder)' }
            : { ConditionExpression: '#holder = :holder', ExpressionAttributeValues: { ':holder': { S: lock.executionArn } } }),
          ExpressionAttributeNames: { '#holder': 'executionArn', ...(lock.executionArn === null ? { '#key': 'application' } : {}) },
        }),
      ),
    );
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
    const now = await readLock(application, table, deps);
    if (!now) return notHeld(' any more (it was released meanwhile)');
    throw new LifelineError(
      'CutoverLocked',
      `${application}'s lock changed hands while it was being cleared: it is now held by ${describeLock(now, null)}; nothing was deleted (run the command again to see that one)`,
    );
  }
  const at = (deps.now?.() ?? new Date()).toISOString();
  return {
    application,
    table,
    unlocked: true,
    message: `unlocked ${application}: deleted its cutover lock, held by ${describeLock(lock, holder)}, from ${table} at ${at} as ${by}, because: ${reason}`,
    lock,
    holder,
    by,
    reason,
    at,
  };
}
