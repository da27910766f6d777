import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { LifelineError } from '../errors.js';
import { parseInput } from '../validation.js';
import { defaultSslMode, fromUrl, type ConnectionSettings } from './connection.js';

/**
 * Connection settings from Secrets Manager secrets: a server's admin secret in the RDS JSON shape (what backups,
 * restores and the runner connect with), and an application's connection secret in whichever shape it keeps.
 */

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

/**
 * The JSON of an RDS-style Secrets Manager secret. Secrets that RDS manages (ManageMasterUserPassword,
 * `rds!db-...` and `rds!cluster-...`) hold only username and password; self-managed ones add engine, host,
 * port (some rotation templates write it as a string) and usually dbname.
 */
export const RdsSecret = z.object({
  host: z.string().min(1).optional(),
  port: z.coerce.number().int().positive().optional(),
  username: z.string().min(1),
  /** Empty for a server that asks none (trust authentication): a local run's URL without one stands in so. */
  password: z.string(),
  dbname: z.string().min(1).optional(),
});
export type RdsSecret = z.infer<typeof RdsSecret>;

/** What the deployment knows of the database, for the fields its secret leaves out. */
export interface SecretDefaults {
  host?: string;
  port?: number;
  database?: string;
  sslRootCert?: string;
}

/** Errors name the fields, never the secret's values. */
export function parseRdsSecret(secretString: string): RdsSecret {
  let json: unknown;
  try {
    json = JSON.parse(secretString);
  } catch {
    throw new LifelineError('InvalidInput', 'database secret: not JSON (expected {username, password, host?, port?, dbname?})');
  }
  return parseInput(RdsSecret, json, 'database secret');
}

/**
 * The secret's own fields win; `defaults` fill in the rest. RDS servers are verified (verify-full) unless
 * reached through a loopback tunnel; never downgraded for a missing CA.
 */
export function fromRdsSecret(secretString: string, defaults: SecretDefaults = {}): ConnectionSettings {
  const secret = parseRdsSecret(secretString);
  const host = secret.host ?? defaults.host;
  const database = secret.dbname ?? defaults.database;
  if (!host) throw new LifelineError('InvalidInput', 'database secret: host is missing and no default was given');
  if (!database) throw new LifelineError('InvalidInput', 'database secret: dbname is missing and no default was given');
  return {
    host,
    port: secret.port ?? defaults.port ?? 5432,
    user: secret.username,
    password: secret.password === '' ? undefined : secret.password,
    database,
    sslMode: defaultSslMode(host),
    sslRootCert: defaults.sslRootCert,
  };
}

/**
 * An application's connection secret in the shapes applications keep it: a plain `postgres://` URL, a JSON
 * object with a `DATABASE_URL` key, or the RDS JSON shape (host, port, dbname, username, password). Restore
 * reads the application's role from it, cutover also rewrites it in its shape. Errors never echo the value.
 */

export const SecretShape = z.enum(['url', 'json-url', 'rds-json']);
export type SecretShape = z.infer<typeof SecretShape>;

const SHAPES = 'a postgres:// URL, a JSON object with DATABASE_URL, or the RDS JSON shape (host, port, dbname, username, password)';

export interface ConnectionSecret {
  shape: SecretShape;
  settings: ConnectionSettings;
}

function isUrl(text: string): boolean {
  return /^postgres(ql)?:\/\//i.test(text.trim());
}

/** The secret's JSON object; `what` names the secret in errors. */
export function connectionSecretObject(text: string, what: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new LifelineError('InvalidInput', `${what}: not ${SHAPES}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new LifelineError('InvalidInput', `${what}: not ${SHAPES}`);
  return json as Record<string, unknown>;
}

/**
 * The secret's shape and the connection it holds; `what` names the secret in errors. `defaults` fill in what an
 * RDS JSON secret leaves out (as fromRdsSecret), and the CA bundle where a URL names none.
 */
export function parseConnectionSecret(secretString: string, what: string, defaults: SecretDefaults = {}): ConnectionSecret {
  const named = (error: unknown): never => {
    throw new LifelineError('InvalidInput', `${what}: ${(error as Error).message}`);
  };
  const fromSecretUrl = (url: string): ConnectionSettings => {
    const settings = fromUrl(url, { applicationParameters: true });
    return { ...settings, sslRootCert: settings.sslRootCert ?? defaults.sslRootCert };
  };
  if (isUrl(secretString)) {
    try {
      return { shape: 'url', settings: fromSecretUrl(secretString.trim()) };
    } catch (error) {
      return named(error);
    }
  }
  const json = connectionSecretObject(secretString, what);
  if (typeof json.DATABASE_URL === 'string') {
    try {
      return { shape: 'json-url', settings: fromSecretUrl(json.DATABASE_URL) };
    } catch (error) {
      return named(error);
    }
  }
  if (typeof json.username === 'string' && typeof json.password === 'string') {
    try {
      return { shape: 'rds-json', settings: fromRdsSecret(secretString, defaults) };
    } catch (error) {
      return named(error);
    }
  }
  throw new LifelineError('InvalidInput', `${what}: not ${SHAPES}`);
}
