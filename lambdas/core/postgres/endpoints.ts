import type { RDSClient } from '@aws-sdk/client-rds';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { LifelineError } from '../errors.js';
import type { ConnectionSettings } from './connection.js';
import { fromRdsSecret, parseRdsSecret, readSecretString } from './connection-secrets.js';
import { describeRdsEndpoint, describeRdsResource, type RdsResource } from './rds.js';

/**
 * A configured database's server as the deployment knows it: backups, the restore workflow and the runner reach
 * it the same way, through its admin secret and, for what the secret leaves out, the config and RDS.
 */
export interface DatabaseEndpoint {
  /** The database's label in the config and the vault (its PostgreSQL name is `databaseName`). */
  label: string;
  secretArn: string;
  /** For secrets without a host (RDS-managed ones); otherwise looked up from `rds`. */
  host?: string;
  /** The port the security groups open, for secrets without one. */
  port: number;
  /** For secrets without a dbname; otherwise looked up from `rds`. */
  databaseName?: string;
  rds: RdsResource;
}

/** The control planes a connection is looked up in. */
export interface EndpointClients {
  secrets: SecretsManagerClient;
  rds: RDSClient;
}

/**
 * How to reach the target: the secret's fields first, then the config's host, port and database name, then
 * what RDS reports of the instance or cluster, asked only for what is still missing.
 */
export async function endpointConnection(target: DatabaseEndpoint, clients: EndpointClients): Promise<ConnectionSettings> {
  const secretString = await readSecretString(clients.secrets, target.secretArn);
  const secret = parseRdsSecret(secretString);
  let { host, databaseName } = target;
  if ((secret.host ?? host) === undefined || (secret.dbname ?? databaseName) === undefined) {
    const found = await describeRdsEndpoint(clients.rds, target.rds);
    const rds = `RDS ${describeRdsResource(target.rds)}`;
    if (secret.host === undefined && host === undefined) {
      if (found.host === undefined) throw new LifelineError('DatabaseUnreachable', `${rds} has no endpoint yet`);
      if (found.port !== undefined && secret.port === undefined && found.port !== target.port) {
        throw new LifelineError(
          'InvalidConfig',
          `${rds} listens on port ${found.port}, but database "${target.label}" has "port": ${target.port} in the config (the port its security groups open): set it to ${found.port}`,
        );
      }
      host = found.host;
    }
    databaseName ??= found.database;
  }
  if (secret.dbname === undefined && databaseName === undefined) {
    throw new LifelineError(
      'InvalidConfig',
      `no database name for "${target.label}": its secret has no "dbname" and RDS ${describeRdsResource(target.rds)} was created without one; ` +
        `set "databaseName" for database "${target.label}" in the config`,
    );
  }
  return fromRdsSecret(secretString, { host, port: target.port, database: databaseName });
}
