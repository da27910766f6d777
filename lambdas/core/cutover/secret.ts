import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  UpdateSecretVersionStageCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { createHash } from 'node:crypto';
import { LifelineError } from '../errors.js';

/**
 * The application's connection secret as cutover changes it: a new version made AWSCURRENT by PutSecretValue
 * (the previous one becomes AWSPREVIOUS and stays readable), and back with UpdateSecretVersionStage.
 */

const CURRENT = 'AWSCURRENT';
const PENDING = 'AWSPENDING';

export interface SecretVersion {
  versionId: string;
  secretString: string;
}

/** A version of the secret (AWSCURRENT without `versionId`). Failures name the secret, never a value. */
export async function readSecretVersion(client: SecretsManagerClient, secretArn: string, versionId?: string): Promise<SecretVersion> {
  let answer;
  try {
    answer = await client.send(new GetSecretValueCommand({ SecretId: secretArn, ...(versionId ? { VersionId: versionId } : {}) }));
  } catch (error) {
    throw new LifelineError(
      'SecretUnreadable',
      `reading secret ${secretArn}${versionId ? ` version ${versionId}` : ''} failed: ${(error as Error).name}`,
    );
  }
  if (!answer.SecretString || !answer.VersionId) throw new LifelineError('SecretUnreadable', `secret ${secretArn} has no SecretString`);
  return { versionId: answer.VersionId, secretString: answer.SecretString };
}

/** PutSecretValue's ClientRequestToken for an execution: the same on every retry, so a retried swap writes one version. */
export function swapTokenFor(executionId: string): string {
  const hex = createHash('sha256').update(`lifeline-cutover:${executionId}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Each labelled version's staging labels, by version id (DescribeSecret's VersionIdsToStages). */
async function versionStages(client: SecretsManagerClient, secretArn: string): Promise<Record<string, string[]>> {
  const { VersionIdsToStages: stages = {} } = await client.send(new DescribeSecretCommand({ SecretId: secretArn }));
  return stages;
}

function currentOf(stages: Record<string, string[]>, secretArn: string): string {
  const current = Object.entries(stages).find(([, labels]) => labels.includes(CURRENT));
  if (!current) throw new LifelineError('SecretUnreadable', `secret ${secretArn} has no ${CURRENT} version`);
  return current[0];
}

async function currentVersionId(client: SecretsManagerClient, secretArn: string): Promise<string> {
  return currentOf(await versionStages(client, secretArn), secretArn);
}

/**
 * The version a rotation is writing: labelled AWSPENDING but not AWSCURRENT. Once a rotation finishes, AWSPENDING
 * is on the current version or on none (RotateSecret's documentation), so only a rotation in progress, or one that
 * failed and left its label, has one.
 */
function pendingRotation(stages: Record<string, string[]>): string | undefined {
  return Object.entries(stages).find(([, labels]) => labels.includes(PENDING) && !labels.includes(CURRENT))?.[0];
}

function rotationInProgress(secretArn: string, pending: string, what: string): LifelineError {
  return new LifelineError(
    'RotationInProgress',
    `${what} ${secretArn} is being rotated: its version ${pending} is ${PENDING}, not yet ${CURRENT}, and the rotation would make it current over the switch. ` +
      `Nothing was changed. Let the rotation finish (its rotation function moves ${CURRENT} to that version) and start the cutover again; ` +
      `if the rotation failed, fix it, or take its label off: aws secretsmanager update-secret-version-stage --secret-id ${secretArn} --version-stage ${PENDING} --remove-from-version-id ${pending}`,
  );
}

/**
 * Refuses a secret that a rotation is changing, before anything is switched: the rotation's last step makes its
 * AWSPENDING version current, which would throw the switch away (or, during a rollback, the recorded version).
 */
export async function refuseRotationInProgress(client: SecretsManagerClient, secretArn: string, what: string): Promise<void> {
  let stages;
  try {
    stages = await versionStages(client, secretArn);
  } catch (error) {
    throw new LifelineError('SecretUnreadable', `describing ${what} ${secretArn} failed: ${(error as Error).name}`);
  }
  const pending = pendingRotation(stages);
  if (pending !== undefined) throw rotationInProgress(secretArn, pending, what);
}

/**
 * Writes `secretString` as the new AWSCURRENT version, unless someone else changed the secret after it was
 * recorded (then nothing is written: switching would throw their change away) or a rotation began since
 * (RotationInProgress: it would make its own version current over the switch).
 */
export async function putConnectionSecret(
  client: SecretsManagerClient,
  secretArn: string,
  recordedVersionId: string,
  token: string,
  secretString: string,
): Promise<string> {
  const stages = await versionStages(client, secretArn);
  const current = currentOf(stages, secretArn);
  if (current !== recordedVersionId && current !== token) {
    throw new LifelineError(
      'SecretChanged',
      `secret ${secretArn} changed since it was recorded (AWSCURRENT is ${current}, not ${recordedVersionId}); nothing was switched`,
    );
  }
  // A rotation that started after Record would make its own version current over the switch.
  const pending = current === recordedVersionId ? pendingRotation(stages) : undefined;
  if (pending !== undefined) throw rotationInProgress(secretArn, pending, 'secret');
  const { VersionId } = await client.send(
    new PutSecretValueCommand({ SecretId: secretArn, SecretString: secretString, ClientRequestToken: token }),
  );
  return VersionId ?? token;
}

/** The label of the version a revert writes under the swap's token, so that no swap can write under it later. */
const FENCE_STAGE = 'LIFELINE_FENCED';
const FENCE_VALUE = JSON.stringify({ lifeline: 'this version fences a cutover that was reverted: it is never current' });

/**
 * Takes the swap's token before a late swap can: a Swap whose state timed out may still be running (Step Functions
 * does not stop it), and its PutSecretValue, after the revert, would switch the application again. Once a version
 * holds the token with another value, that PutSecretValue fails (ResourceExistsException). Returns false when the
 * swap had written its version already; a retried fence is the same request, and changes nothing.
 */
async function fenceSwap(client: SecretsManagerClient, secretArn: string, token: string): Promise<boolean> {
  try {
    await client.send(
      new PutSecretValueCommand({
        SecretId: secretArn,
        ClientRequestToken: token,
        SecretString: FENCE_VALUE,
        VersionStages: [FENCE_STAGE],
      }),
    );
    return true;
  } catch (error) {
    if ((error as Error).name === 'ResourceExistsException') return false;
    throw new LifelineError('SecretUnreadable', `fencing the swap of secret ${secretArn} failed: ${(error as Error).name}`);
  }
}

/**
 * Makes the recorded version AWSCURRENT again, taking the label only from the version this execution wrote
 * (`token`); a no-op when the recorded version is current already (a retried revert, a swap that never wrote, whose
 * token it fences first). Any other current version is someone else's change (a rotation): it is left current, and
 * SecretChanged says so.
 */
export async function restoreSecretVersion(
  client: SecretsManagerClient,
  secretArn: string,
  recordedVersionId: string,
  token: string,
): Promise<{ moved: boolean }> {
  await fenceSwap(client, secretArn, token);
  const current = await currentVersionId(client, secretArn);
  if (current === recordedVersionId) return { moved: false };
  if (current !== token) {
    throw new LifelineError(
      'SecretChanged',
      `secret ${secretArn} changed under the cutover: AWSCURRENT is ${current}, neither the recorded version ${recordedVersionId} nor the one this cutover wrote (${token}); it was left as it is`,
    );
  }
  await client.send(
    new UpdateSecretVersionStageCommand({
      SecretId: secretArn,
      VersionStage: CURRENT,
      MoveToVersionId: recordedVersionId,
      RemoveFromVersionId: current,
    }),
  );
  return { moved: true };
}
