import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient, type GetSecretValueCommandOutput } from '@aws-sdk/client-secrets-manager';
import type { ConnectionSettings } from '../postgres/connection.js';
import { LifelineError } from '../errors.js';
import { type RdsSecret } from '../postgres/connection-secrets.js';

/**
 * The AWS control planes a local run cannot reach, answering in the real APIs' shapes: the workflow's code
 * runs unchanged, with clients whose requests never leave this process.
 */

const LOCAL_REGION = 'us-east-1';

/** Secrets Manager holding one RDS-style secret per stand-in ARN; an unknown ARN fails as the real service fails it. */
export function localSecretsManager(secrets: ReadonlyMap<string, ConnectionSettings>): SecretsManagerClient {
  const client = new SecretsManagerClient({ region: LOCAL_REGION });
  client.middlewareStack.add(
    () => (args) => {
      const secretId = (args.input as { SecretId?: string }).SecretId ?? '';
      const settings = secrets.get(secretId);
      if (!settings) {
        const error = new Error(`Secrets Manager can't find the specified secret.`);
        error.name = 'ResourceNotFoundException';
        return Promise.reject(error);
      }
      const secret: RdsSecret = {
        host: settings.host,
        port: settings.port,
        username: settings.user,
        password: settings.password ?? '',
        dbname: settings.database,
      };
      const output: GetSecretValueCommandOutput = {
        $metadata: { httpStatusCode: 200 },
        ARN: secretId,
        Name: secretId.split(':secret:')[1]?.replace(/-\w{6}$/, ''),
        SecretString: JSON.stringify(secret),
        VersionId: '00000000-0000-0000-0000-000000000000',
        VersionStages: ['AWSCURRENT'],
        CreatedDate: new Date(0),
      };
      // No HTTP response: the request never left this process.
      return Promise.resolve({ output, response: undefined });
    },
    { step: 'initialize', name: 'lifelineLocalSecrets' },
  );
  return client;
}

/** RDS is asked only for secrets without a host; a local secret always has one. */
export function localRds(): RDSClient {
  const client = new RDSClient({ region: LOCAL_REGION });
  client.middlewareStack.add(
    () => () => Promise.reject(new LifelineError('InvalidConfig', 'a local run cannot ask RDS for an endpoint: give the host in the URL')),
    { step: 'initialize', name: 'lifelineLocalRds' },
  );
  return client;
}
