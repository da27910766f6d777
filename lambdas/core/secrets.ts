import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { fromRdsSecret, type ConnectionSettings, type SecretOverrides } from './connection.js';
import { LifelineError } from './errors.js';

/** Connection settings from an RDS-style Secrets Manager secret. The error names the secret, never its value. */
export async function connectionFromSecret(
  client: SecretsManagerClient,
  secretArn: string,
  overrides: SecretOverrides = {},
): Promise<ConnectionSettings> {
  let secretString: string | undefined;
  try {
    ({ SecretString: secretString } = await client.send(new GetSecretValueCommand({ SecretId: secretArn })));
  } catch (error) {
    throw new LifelineError('DatabaseUnreachable', `reading secret ${secretArn} failed: ${(error as Error).name}`);
  }
  if (!secretString) throw new LifelineError('InvalidInput', `secret ${secretArn} has no SecretString`);
  return fromRdsSecret(secretString, overrides);
}
