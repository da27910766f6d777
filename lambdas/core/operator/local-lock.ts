import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LifelineError } from '../errors.js';

/**
 * The cutover lock on this machine: one file per application in the state directory, taken, kept and released by
 * cutover.asl.json's DynamoDB states (TakeLock, KeepLock, ReleaseLock, ReleaseLockAfterFailure) with the conditions
 * those states send, answered as Step Functions' DynamoDB integration answers: `{}`, or the state failing with
 * DynamoDB.ConditionalCheckFailedException. A lock file is created only if none exists (O_EXCL), so two runs on one
 * machine cannot both take it.
 */

type AttributeValue = { S?: string; N?: string };
type Item = Record<string, AttributeValue>;

interface LockRequest {
  TableName?: string;
  Item?: Item;
  Key?: Item;
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, AttributeValue>;
}

/** The conditions cutover.asl.json's lock states send: a local lock knows these and refuses any other. */
const TAKE = 'attribute_not_exists(#application) OR #expiresAt < :now OR #holder = :me';
const HOLDER = '#holder = :me';

class ConditionalCheckFailed extends Error {
  constructor() {
    super('The conditional request failed');
    this.name = 'DynamoDB.ConditionalCheckFailedException';
  }
}

export class LocalLock {
  private readonly directory: string;

  constructor(stateDirectory: string) {
    this.directory = join(stateDirectory, 'locks');
  }

  file(application: string): string {
    return join(this.directory, `${application}.json`);
  }

  /** The lock item of an application, when one is held. */
  async holder(application: string): Promise<Item | undefined> {
    const text = await readFile(this.file(application), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : (JSON.parse(text) as Item);
  }

  /** The four states' tasks, by state name, for the local engine. */
  tasks(): Record<'TakeLock' | 'KeepLock' | 'ReleaseLock' | 'ReleaseLockAfterFailure', (parameters: unknown) => Promise<never>> {
    const put = (condition: string) => async (parameters: unknown) => {
      const request = checked(parameters as LockRequest, condition);
      await this.put(request.Item!, condition === TAKE, request.ExpressionAttributeValues ?? {});
      return {} as never;
    };
    const release = async (parameters: unknown) => {
      const request = checked(parameters as LockRequest, HOLDER);
      await this.release(request.Key?.application?.S ?? '', request.ExpressionAttributeValues?.[':me']?.S);
      return {} as never;
    };
    return { TakeLock: put(TAKE), KeepLock: put(HOLDER), ReleaseLock: release, ReleaseLockAfterFailure: release };
  }

  private async put(item: Item, take: boolean, values: Record<string, AttributeValue>): Promise<void> {
    const application = item.application?.S ?? '';
    const me = values[':me']?.S;
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    const held = await this.holder(application);
    if (held === undefined) {
      if (!take) throw new ConditionalCheckFailed();
      await writeFile(this.file(application), JSON.stringify(item), { flag: 'wx', mode: 0o600 }).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'EEXIST') throw new ConditionalCheckFailed();
        throw error;
      });
      return;
    }
    const mine = held.executionArn?.S === me;
    const expired = take && held.expiresAt?.N !== undefined && Number(held.expiresAt.N) < Number(values[':now']?.N);
    if (!mine && !expired) throw new ConditionalCheckFailed();
    const temporary = `${this.file(application)}.${randomUUID()}.tmp`;
    await writeFile(temporary, JSON.stringify(item), { mode: 0o600 });
    await rename(temporary, this.file(application));
  }

  private async release(application: string, me: string | undefined): Promise<void> {
    const held = await this.holder(application);
    if (held === undefined || held.executionArn?.S !== me) throw new ConditionalCheckFailed();
    await unlink(this.file(application));
  }
}

/** The request as the state sends it; a condition this lock does not know is refused, never half-honoured. */
function checked(request: LockRequest, condition: string): LockRequest {
  const names = request.ExpressionAttributeNames ?? {};
  const known =
    request.ConditionExpression === condition &&
    (names['#holder'] === undefined || names['#holder'] === 'executionArn') &&
    (names['#expiresAt'] === undefined || names['#expiresAt'] === 'expiresAt') &&
    (request.Item?.application?.S ?? request.Key?.application?.S) !== undefined;
  if (!known) {
    throw new LifelineError(
      'InvalidConfig',
      `a local cutover lock answers cutover.asl.json's lock requests only, not ${JSON.stringify(request.ConditionExpression)}`,
    );
  }
  return request;
}
