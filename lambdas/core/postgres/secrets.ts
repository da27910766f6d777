import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { fromRdsSecret, type ConnectionSettings, type SecretDefaults } from './connection.js';
import { LifelineError } from '../errors.js';

/** IAM grants GetSecretValue on this exact ARN, so the 6-character suffix Secrets Manager appends is required. */
export const SecretArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+-[A-Za-z0-9]{6}$/,
    'must be the complete Secrets Manager secret ARN, including the 6-character suffix',
  );

/** A secret's value. A failed read (permissions, KMS, a deleted secret) names the secret, never a value. */
export async function readSecretString(client: SecretsManagerClient, secretArn: string): Promise<string> {
  let secretString: string | undefined;
  try {
    ({ SecretString: secretString } = await client.send(new GetSecretValueCommand({ SecretId: secretArn })));
  } catch (error) {
    throw new LifelineError('SecretUnreadable', `reading secret ${secretArn} failed: ${(error as Error).name}`);
  }
  if (!secretString) throw new LifelineError('SecretUnreadable', `secret ${secretArn} has no SecretString`);
  return secretString;
}

/** Connection settings from an RDS-style secret; `defaults` fill in the fields it leaves out. */
export async function connectionFromSecret(
  client: SecretsManagerClient,
  secretArn: string,
  defaults: SecretDefaults = {},
): Promise<ConnectionSettings> {
  return fromRdsSecret(await readSecretString(client, secretArn), defaults);
}
