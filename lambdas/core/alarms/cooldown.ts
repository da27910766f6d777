import {
  ConditionalCheckFailedException,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import type { AlarmAction } from './routes.js';

/**
 * The cool-down: after a transition starts a run for a database, later transitions into ALARM that ask the same of
 * it within this time start nothing, so that a flapping alarm cannot start a storm of restores, PITRs or backups.
 *
 * One item per database and action in a DynamoDB table, written with a condition: the write is atomic however many
 * starters run at once (duplicate deliveries arrive together), it covers backups, which have no execution to list,
 * and it reads no execution history (ListExecutions is eventually consistent and counts runs a human started). The
 * item also remembers whether its transition's run was started, so that a second delivery of that transition
 * starts nothing (a backup has no execution name to be refused by).
 */
export const ALARM_COOLDOWN_MINUTES = 60;

/** The starter's time limit: a claim older than this belongs to a starter that died before starting its run. */
export const ALARM_STARTER_TIMEOUT_SECONDS = 60;

/** How long an item outlives its cool-down, for EventBridge's retries (24 hours) of the transition that wrote it. */
const KEPT_HOURS = 48;

/** The table's key and time-to-live attributes (lib/alarms creates the table with them). */
export const COOLDOWN_KEY = 'runFor';
export const COOLDOWN_EXPIRY = 'expiresAt';

export type Claim =
  /** This starter may start the run (a new transition, or one whose starter died). */
  | { kind: 'claimed' }
  /** This transition's run was started already (a duplicate delivery). */
  | { kind: 'started' }
  /** Another starter is starting this transition's run now. */
  | { kind: 'in-progress' }
  /** Another transition started a run for this database and action, and its cool-down lasts until `until`. */
  | { kind: 'cooling-down'; until: Date; transition: string };

interface ClaimItem {
  transition: string;
  until: number;
  claimedAt: number;
  startedAt?: number;
}

function readItem(item: Record<string, AttributeValue> | undefined): ClaimItem | undefined {
  if (item === undefined) return undefined;
  return {
    transition: item.transition?.S ?? '',
    until: Number(item.until?.N ?? 0),
    claimedAt: Number(item.claimedAt?.N ?? 0),
    startedAt: item.startedAt?.N === undefined ? undefined : Number(item.startedAt.N),
  };
}

export interface CooldownTable {
  dynamodb: DynamoDBClient;
  tableName: string;
  now: () => Date;
}

/**
 * Claims the run of `transition` (its execution name) for `database`'s `action`. Cool-downs count in the alarms' own
 * times (when each transition happened), not in delivery times, so a retry delivered hours late decides as the first
 * delivery did. Only a run that started holds a cool-down: another transition takes over the claim of one whose
 * starter failed or died before starting it.
 */
export async function claimRun(
  table: CooldownTable,
  request: { database: string; action: AlarmAction; transition: string; changedAt: Date },
): Promise<Claim> {
  const key = { [COOLDOWN_KEY]: { S: `${request.database}#${request.action}` } };
  const changedAt = request.changedAt.getTime();
  const now = table.now().getTime();
  try {
    await table.dynamodb.send(
      new PutItemCommand({
        TableName: table.tableName,
        Item: {
          ...key,
          transition: { S: request.transition },
          until: { N: String(changedAt + ALARM_COOLDOWN_MINUTES * 60_000) },
          claimedAt: { N: String(now) },
          [COOLDOWN_EXPIRY]: { N: String(Math.ceil(Math.max(changedAt, now) / 1000) + KEPT_HOURS * 3600) },
        },
        ConditionExpression:
          'attribute_not_exists(#key) OR (#transition <> :transition AND (#until <= :changedAt OR (attribute_not_exists(startedAt) AND claimedAt < :stale)))',
        ExpressionAttributeNames: { '#key': COOLDOWN_KEY, '#until': 'until', '#transition': 'transition' },
        ExpressionAttributeValues: {
          ':changedAt': { N: String(changedAt) },
          ':transition': { S: request.transition },
          ':stale': { N: String(now - ALARM_STARTER_TIMEOUT_SECONDS * 1000) },
        },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { kind: 'claimed' };
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    const held = readItem(error.Item);
    if (held === undefined) throw error;
    if (held.transition !== request.transition) {
      return { kind: 'cooling-down', until: new Date(held.until), transition: held.transition };
    }
    if (held.startedAt !== undefined) return { kind: 'started' };
    if (now - held.claimedAt < ALARM_STARTER_TIMEOUT_SECONDS * 1000) return { kind: 'in-progress' };
    return (await takeOver(table, key, request.transition, held.claimedAt, now)) ? { kind: 'claimed' } : { kind: 'in-progress' };
  }
}

/** Takes over the claim of a starter that died before starting the run; false when another starter took it first. */
async function takeOver(table: CooldownTable, key: Record<string, AttributeValue>, transition: string, claimedAt: number, now: number) {
  try {
    await table.dynamodb.send(
      new UpdateItemCommand({
        TableName: table.tableName,
        Key: key,
        UpdateExpression: 'SET claimedAt = :now',
        ConditionExpression: '#transition = :transition AND claimedAt = :claimedAt AND attribute_not_exists(startedAt)',
        ExpressionAttributeNames: { '#transition': 'transition' },
        ExpressionAttributeValues: {
          ':now': { N: String(now) },
          ':transition': { S: transition },
          ':claimedAt': { N: String(claimedAt) },
        },
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/** Records that the claimed transition's run started, so that later deliveries of it start nothing. */
export async function markStarted(
  table: CooldownTable,
  request: { database: string; action: AlarmAction; transition: string },
): Promise<void> {
  try {
    await table.dynamodb.send(
      new UpdateItemCommand({
        TableName: table.tableName,
        Key: { [COOLDOWN_KEY]: { S: `${request.database}#${request.action}` } },
        UpdateExpression: 'SET startedAt = :now',
        ConditionExpression: '#transition = :transition',
        ExpressionAttributeNames: { '#transition': 'transition' },
        ExpressionAttributeValues: { ':now': { N: String(table.now().getTime()) }, ':transition': { S: request.transition } },
      }),
    );
  } catch (error) {
    // A later transition's claim replaced the item: its cool-down now answers for this one too.
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
  }
}
