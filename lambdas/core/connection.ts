import { readFileSync } from 'node:fs';
import pg, { type ClientConfig } from 'pg';
import { z } from 'zod';
import { LifelineError } from './errors.js';
import { parseInput } from './validation.js';

export const SslMode = z.enum(['disable', 'prefer', 'require', 'verify-ca', 'verify-full']);
export type SslMode = z.infer<typeof SslMode>;

/** Where and how to reach one PostgreSQL database. The password never leaves this object except through
 * a child's environment (`libpqEnv`) or the `pg` client config. */
export interface ConnectionSettings {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  sslMode: SslMode;
  /** CA bundle for verify-ca/verify-full, e.g. the RDS global bundle. */
  sslRootCert?: string;
}

const URL_PARAMETERS = new Set(['sslmode', 'sslrootcert']);

/** Parses `postgres://user:password@host:port/database?sslmode=...&sslrootcert=...`. Errors never echo the URL. */
export function fromUrl(url: string): ConnectionSettings {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new LifelineError('InvalidInput', 'database URL: not a valid URL (expected postgres://user:password@host:port/database)');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new LifelineError('InvalidInput', `database URL: scheme must be postgres:// or postgresql://, not ${parsed.protocol}//`);
  }
  for (const name of parsed.searchParams.keys()) {
    if (!URL_PARAMETERS.has(name)) {
      throw new LifelineError('InvalidInput', `database URL: unsupported parameter "${name}" (supported: sslmode, sslrootcert)`);
    }
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!parsed.hostname) throw new LifelineError('InvalidInput', 'database URL: host is missing');
  if (!database) throw new LifelineError('InvalidInput', 'database URL: database name is missing');
  if (!parsed.username) throw new LifelineError('InvalidInput', 'database URL: user is missing');
  const sslMode = parseInput(SslMode.default('prefer'), parsed.searchParams.get('sslmode') ?? undefined, 'database URL sslmode');
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port ? Number(parsed.port) : 5432,
    user: decodeURIComponent(parsed.username),
    password: parsed.password ? decodeURIComponent(parsed.password) : process.env.PGPASSWORD,
    database,
    sslMode,
    sslRootCert: parsed.searchParams.get('sslrootcert') ?? undefined,
  };
}

/** The JSON that RDS and Aurora keep in a Secrets Manager secret for a database user. */
export const RdsSecret = z.object({
  host: z.string().min(1),
  port: z.coerce.number().int().positive().default(5432),
  username: z.string().min(1),
  password: z.string().min(1),
  dbname: z.string().min(1).optional(),
});

export interface SecretOverrides {
  /** Database to connect to when the secret names none (RDS secrets for a cluster often do not). */
  database?: string;
  sslRootCert?: string;
}

/** RDS requires TLS in practice: verify the server when a CA bundle is at hand, otherwise still encrypt. */
export function fromRdsSecret(secretString: string, overrides: SecretOverrides = {}): ConnectionSettings {
  let json: unknown;
  try {
    json = JSON.parse(secretString);
  } catch {
    throw new LifelineError('InvalidInput', 'database secret: not JSON (expected {host, port, username, password, dbname})');
  }
  const secret = parseInput(RdsSecret, json, 'database secret');
  const database = secret.dbname ?? overrides.database;
  if (!database) throw new LifelineError('InvalidInput', 'database secret: dbname is missing');
  return {
    host: secret.host,
    port: secret.port,
    user: secret.username,
    password: secret.password,
    database,
    sslMode: overrides.sslRootCert ? 'verify-full' : 'require',
    sslRootCert: overrides.sslRootCert,
  };
}

/** `user@host:port/database`: safe for logs, errors and outputs. */
export function describe(settings: ConnectionSettings): string {
  return `${settings.user}@${settings.host}:${settings.port}/${settings.database}`;
}

/**
 * Environment for pg_dump/pg_restore. Built from scratch rather than inherited, so neither stray PG*
 * variables nor the function's AWS credentials reach the child, and the password stays off the command line.
 */
export function libpqEnv(settings: ConnectionSettings): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    LC_ALL: 'C.UTF-8',
    PGHOST: settings.host,
    PGPORT: String(settings.port),
    PGUSER: settings.user,
    PGDATABASE: settings.database,
    PGSSLMODE: settings.sslMode,
    PGAPPNAME: 'lifeline',
    PGCONNECT_TIMEOUT: '15',
  };
  if (settings.password !== undefined) env.PGPASSWORD = settings.password;
  if (settings.sslRootCert) env.PGSSLROOTCERT = settings.sslRootCert;
  return env;
}

function readCaBundle(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new LifelineError('InvalidInput', `sslrootcert: cannot read the CA bundle ${path}`);
  }
}

function tlsOptions(settings: ConnectionSettings): ClientConfig['ssl'] {
  const ca = () => (settings.sslRootCert ? readCaBundle(settings.sslRootCert) : undefined);
  switch (settings.sslMode) {
    case 'disable':
      return false;
    case 'prefer':
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      return { ca: ca(), rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { ca: ca(), rejectUnauthorized: true };
  }
}

/**
 * Connects a `pg` client the way libpq would connect pg_dump: `prefer` tries TLS first and falls back to
 * plain only when the server has no TLS. Failures are DatabaseUnreachable, with the password redacted.
 */
export async function connectClient(settings: ConnectionSettings): Promise<pg.Client> {
  const attempts = settings.sslMode === 'prefer' ? [tlsOptions(settings), false] : [tlsOptions(settings)];
  for (const [index, ssl] of attempts.entries()) {
    const client = new pg.Client({
      host: settings.host,
      port: settings.port,
      user: settings.user,
      password: settings.password,
      database: settings.database,
      ssl,
      application_name: 'lifeline',
      connectionTimeoutMillis: 15_000,
    });
    client.on('error', () => undefined); // a dropped connection also fails the query in flight, reported there
    try {
      await client.connect();
      return client;
    } catch (error) {
      await client.end().catch(() => undefined);
      const message = (error as Error).message;
      if (index < attempts.length - 1 && /does not support SSL/i.test(message)) continue;
      throw new LifelineError('DatabaseUnreachable', `cannot connect to ${describe(settings)}: ${redact(message, settings)}`);
    }
  }
  throw new LifelineError('DatabaseUnreachable', `cannot connect to ${describe(settings)}`);
}

/** Removes the password, and anything shaped like a credential, from text bound for logs or errors. */
export function redact(text: string, settings?: ConnectionSettings): string {
  let out = text
    .replace(/(postgres(?:ql)?:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1***@')
    .replace(/(password\s*=\s*)('[^']*'|\S+)/gi, '$1***');
  if (settings?.password) out = out.split(settings.password).join('***');
  return out;
}
