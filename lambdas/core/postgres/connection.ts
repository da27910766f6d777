import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import pg, { type ClientConfig } from 'pg';
import { z } from 'zod';
import type { StepDeadline } from '../deadline.js';
import { LifelineError } from '../errors.js';
import { parseInput } from '../validation.js';

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
  /** CA bundle for verify-ca/verify-full (and require); unset means PGSSLROOTCERT, as in libpq. */
  sslRootCert?: string;
  /** A workflow step's deadline: connecting, and each statement and lock wait of its sessions, end by then. */
  deadline?: StepDeadline;
}

/** 127.0.0.0/8, ::1 and localhost: this machine, or the near end of a tunnel. */
function isLoopback(host: string): boolean {
  const name = host.toLowerCase();
  return name === 'localhost' || name === '::1' || (isIPv4(name) && name.startsWith('127.'));
}

/**
 * The TLS mode when none is given: verify-full for any server across a network (the Lambda image points
 * PGSSLROOTCERT at the RDS CA bundle); prefer on loopback, where a local server often has no TLS.
 */
export function defaultSslMode(host: string): SslMode {
  return isLoopback(host) ? 'prefer' : 'verify-full';
}

const URL_PARAMETERS = new Set(['sslmode', 'sslrootcert']);

/**
 * Parses `postgres://user:password@host:port/database?sslmode=...&sslrootcert=...`. Errors never echo the URL. Other
 * parameters are refused, unless `applicationParameters`: an application's URL carries its driver's (Prisma's
 * `schema`, `connection_limit`), which are its own and not Lifeline's to use.
 */
export function fromUrl(url: string, { applicationParameters = false } = {}): ConnectionSettings {
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
    if (!URL_PARAMETERS.has(name) && !applicationParameters) {
      throw new LifelineError('InvalidInput', `database URL: unsupported parameter "${name}" (supported: sslmode, sslrootcert)`);
    }
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!parsed.hostname) throw new LifelineError('InvalidInput', 'database URL: host is missing');
  if (!database) throw new LifelineError('InvalidInput', 'database URL: database name is missing');
  if (!parsed.username) throw new LifelineError('InvalidInput', 'database URL: user is missing');
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const sslMode = parseInput(
    SslMode.default(defaultSslMode(host)),
    parsed.searchParams.get('sslmode') ?? undefined,
    'database URL sslmode',
  );
  return {
    host,
    port: parsed.port ? Number(parsed.port) : 5432,
    user: decodeURIComponent(parsed.username),
    password: parsed.password ? decodeURIComponent(parsed.password) : process.env.PGPASSWORD,
    database,
    sslMode,
    sslRootCert: parsed.searchParams.get('sslrootcert') ?? undefined,
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
  const rootCert = rootCertificate(settings);
  if (rootCert) env.PGSSLROOTCERT = rootCert;
  return env;
}

/**
 * The CA bundle the server is verified against, the same for `pg` and for libpq. prefer never verifies in
 * either: libpq would check a root certificate there and then fall back to plain text when the check fails,
 * which is worse than an unverified but encrypted connection.
 */
function rootCertificate(settings: ConnectionSettings): string | undefined {
  if (settings.sslMode === 'disable' || settings.sslMode === 'prefer') return undefined;
  return settings.sslRootCert ?? process.env.PGSSLROOTCERT;
}

function readCaBundle(settings: ConnectionSettings): string {
  const path = rootCertificate(settings);
  if (!path) {
    throw new LifelineError(
      'InvalidInput',
      `sslmode=${settings.sslMode} for ${describe(settings)} needs a CA bundle: set sslrootcert in the URL or PGSSLROOTCERT`,
    );
  }
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new LifelineError('InvalidInput', `sslrootcert: cannot read the CA bundle ${path} (${(error as NodeJS.ErrnoException).code})`);
  }
}

/** node-postgres options that mean what the same sslmode means to libpq. */
function tlsOptions(settings: ConnectionSettings): ClientConfig['ssl'] {
  const verifyChain = () => ({ ca: readCaBundle(settings), rejectUnauthorized: true, checkServerIdentity: () => undefined });
  switch (settings.sslMode) {
    case 'disable':
      return false;
    case 'prefer':
      return { rejectUnauthorized: false };
    case 'require':
      // libpq's require verifies the chain (as verify-ca) when it has a root certificate; pg on its own would not.
      return rootCertificate(settings) ? verifyChain() : { rejectUnauthorized: false };
    case 'verify-ca':
      return verifyChain();
    case 'verify-full':
      return { ca: readCaBundle(settings), rejectUnauthorized: true };
  }
}

/** No step waits for a server more than 15 s; within a step's deadline, nothing waits past it. */
function sessionTimeouts(deadline: StepDeadline | undefined) {
  if (!deadline) return { connectionTimeoutMillis: 15_000 };
  deadline.assertBefore('connecting to the database');
  const left = Math.max(Math.floor(deadline.remainingMs()), 1);
  return { connectionTimeoutMillis: Math.min(15_000, left), statement_timeout: left, lock_timeout: left, query_timeout: left };
}

/**
 * Bounds the session's next statements by what is left of the deadline, as of now (a session's own timeouts count
 * from its connection): called right before a side effect that must not outlive its step.
 */
export async function boundStatements(client: pg.Client, deadline: StepDeadline, action: string): Promise<void> {
  deadline.assertBefore(action);
  const left = String(Math.max(Math.floor(deadline.remainingMs()), 1));
  await client.query(`SELECT set_config('statement_timeout', $1, false), set_config('lock_timeout', $1, false)`, [left]);
}

async function openClient(settings: ConnectionSettings, ssl: ClientConfig['ssl']): Promise<pg.Client> {
  const client = new pg.Client({
    host: settings.host,
    port: settings.port,
    user: settings.user,
    password: settings.password,
    database: settings.database,
    ssl,
    application_name: 'lifeline',
    ...sessionTimeouts(settings.deadline),
  });
  client.on('error', () => undefined); // a dropped connection also fails the query in flight, reported there
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    throw new LifelineError(
      'DatabaseUnreachable',
      `cannot connect to ${describe(settings)}: ${redact((error as Error).message, settings)}`,
    );
  }
}

/** The servers (host:port) this process has warned about: a run connects to one many times, and says it once. */
const warnedWithoutTls = new Set<string>();

/**
 * Connects a `pg` client the way libpq connects pg_dump with the same settings. Under `prefer`, a server
 * without TLS gets a plain connection, as in libpq, and a process warning (code LIFELINE_NO_TLS) says so, once
 * per server in a process (a run). Failures are DatabaseUnreachable, with the password redacted; a CA bundle that
 * is missing or unreadable is InvalidInput.
 */
export async function connectClient(settings: ConnectionSettings): Promise<pg.Client> {
  const ssl = tlsOptions(settings);
  try {
    return await openClient(settings, ssl);
  } catch (error) {
    if (settings.sslMode !== 'prefer' || !/does not support SSL/i.test((error as Error).message)) throw error;
  }
  const client = await openClient(settings, false);
  const server = `${settings.host}:${settings.port}`;
  if (!warnedWithoutTls.has(server)) {
    warnedWithoutTls.add(server);
    process.emitWarning(`${describe(settings)} offers no TLS: connected without encryption (sslmode=prefer)`, { code: 'LIFELINE_NO_TLS' });
  }
  return client;
}

/** `use` with a client connected by `settings`, ended afterwards whatever `use` does. */
export async function withClient<T>(settings: ConnectionSettings, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connectClient(settings);
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Removes the password, and anything shaped like a credential, from text bound for logs or errors. */
export function redact(text: string, settings?: ConnectionSettings): string {
  let out = text.replace(/(postgres(?:ql)?:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1***@').replace(/(password\s*=\s*)('[^']*'|\S+)/gi, '$1***');
  if (settings?.password) out = out.split(settings.password).join('***');
  return out;
}
