import type { ConnectionSettings } from '../postgres/connection.js';
import { connectionSecretObject, type SecretShape } from '../postgres/connection-secrets.js';
import type { Endpoint } from './state.js';

/**
 * Cutover rewrites the application's connection secret (postgres/connection-secrets.ts reads it) in the shape it
 * has, keeping every other key and URL parameter.
 */

/** Where to point a connection, with the credentials to use there. */
export interface ConnectionTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
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
      const json = connectionSecretObject(secretString, 'connection secret');
      return JSON.stringify({ ...json, DATABASE_URL: rewriteUrl(json.DATABASE_URL as string, to) });
    }
    case 'rds-json': {
      const json = connectionSecretObject(secretString, 'connection secret');
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
