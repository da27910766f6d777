import { z } from 'zod';
import { fromRdsSecret, fromUrl, type ConnectionSettings, type SecretDefaults } from './connection.js';
import { LifelineError } from '../errors.js';

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
    const settings = fromUrl(url);
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
