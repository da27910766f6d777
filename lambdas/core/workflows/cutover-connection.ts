import { fromRdsSecret, fromUrl, type ConnectionSettings } from '../connection.js';
import { LifelineError } from '../errors.js';
import type { Endpoint, SecretShape } from './cutover-state.js';

/**
 * An application's connection secret in the shapes applications keep it: a plain `postgres://` URL, a JSON
 * object with a `DATABASE_URL` key, or the RDS JSON shape (host, port, dbname, username, password). Cutover
 * rewrites it in the shape it has, keeping every other key and URL parameter. Errors never echo the value.
 */

const SHAPES = 'a postgres:// URL, a JSON object with DATABASE_URL, or the RDS JSON shape (host, port, dbname, username, password)';

/** Where to point a connection, with the credentials to use there. */
export interface ConnectionTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

interface ParsedSecret {
  shape: SecretShape;
  settings: ConnectionSettings;
}

function isUrl(text: string): boolean {
  return /^postgres(ql)?:\/\//i.test(text.trim());
}

function asObject(text: string, what: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new LifelineError('InvalidInput', `${what}: not ${SHAPES}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new LifelineError('InvalidInput', `${what}: not ${SHAPES}`);
  return json as Record<string, unknown>;
}

/** The secret's shape and the connection it holds; `what` names the secret in errors. */
export function parseConnectionSecret(secretString: string, what: string, sslRootCert?: string): ParsedSecret {
  const named = (error: unknown): never => {
    throw new LifelineError('InvalidInput', `${what}: ${(error as Error).message}`);
  };
  if (isUrl(secretString)) {
    try {
      return { shape: 'url', settings: { ...fromUrl(secretString.trim()), sslRootCert } };
    } catch (error) {
      return named(error);
    }
  }
  const json = asObject(secretString, what);
  if (typeof json.DATABASE_URL === 'string') {
    try {
      return { shape: 'json-url', settings: { ...fromUrl(json.DATABASE_URL), sslRootCert } };
    } catch (error) {
      return named(error);
    }
  }
  if (typeof json.username === 'string' && typeof json.password === 'string') {
    if (json.host === undefined)
      throw new LifelineError('InvalidInput', `${what}: holds no host, so it cannot be pointed at another server`);
    try {
      return { shape: 'rds-json', settings: fromRdsSecret(secretString, { sslRootCert }) };
    } catch (error) {
      return named(error);
    }
  }
  throw new LifelineError('InvalidInput', `${what}: not ${SHAPES}`);
}

function rewriteUrl(url: string, to: ConnectionTarget): string {
  const parsed = new URL(url.trim());
  parsed.hostname = to.host.includes(':') ? `[${to.host}]` : to.host;
  parsed.port = String(to.port);
  parsed.pathname = `/${encodeURIComponent(to.database)}`;
  parsed.username = encodeURIComponent(to.user);
  parsed.password = encodeURIComponent(to.password);
  return parsed.toString();
}

/** The secret's new value: the same shape, every other key and URL parameter kept, pointing at `to`. */
export function rewriteConnectionSecret(secretString: string, shape: SecretShape, to: ConnectionTarget): string {
  switch (shape) {
    case 'url':
      return rewriteUrl(secretString, to);
    case 'json-url': {
      const json = asObject(secretString, 'connection secret');
      return JSON.stringify({ ...json, DATABASE_URL: rewriteUrl(json.DATABASE_URL as string, to) });
    }
    case 'rds-json': {
      const json = asObject(secretString, 'connection secret');
      // Some rotation templates keep the port as a string; keep the type the application parses.
      const port = typeof json.port === 'string' ? String(to.port) : to.port;
      return JSON.stringify({ ...json, host: to.host, port, dbname: to.database, username: to.user, password: to.password });
    }
  }
}

export function endpointOf(settings: ConnectionSettings): Endpoint {
  return { host: settings.host, port: settings.port, database: settings.database, role: settings.user };
}

export function sameDatabase(a: Endpoint, b: Endpoint): boolean {
  return a.host === b.host && a.port === b.port && a.database === b.database;
}
