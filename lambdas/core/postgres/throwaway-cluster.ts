import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { appendFile, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { LifelineError, type LifelineErrorName } from '../errors.js';
import { whenThisProcessEnds } from '../process-owner.js';
import type { ConnectionSettings } from './connection.js';

/**
 * Throwaway PostgreSQL clusters made with this machine's server binaries (initdb, pg_ctl) in a directory of their own,
 * stopped and removed by stop(), or by a guard process however this process ends: the restore drill's (socket only,
 * inside the runner or on the operator's machine), `lifeline demo`'s and the test harness's (on a free loopback port,
 * test/support/postgres.ts).
 */

const run = promisify(execFile);

/** The superuser a cluster is created with; it exists only inside the cluster. */
const SUPERUSER = 'postgres';
/** A socket-only cluster's port: it only names the socket file. */
const SOCKET_PORT = 5432;
const START_ATTEMPTS = 5;
const START_TIMEOUT_SECONDS = 120;

/** Where and as whom to connect; plain data, so it can be handed to test workers. */
export interface PostgresCoordinates {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** What a test may do with a cluster it shares with others. */
export interface PostgresDatabases extends PostgresCoordinates {
  url(database?: string): string;
  /** Creates a database with a unique name starting with `prefix` and returns the name. */
  createDatabase(prefix: string): Promise<string>;
  /** Runs `sql` on one short-lived connection; with several statements, returns the last one's rows. */
  query<T = Record<string, unknown>>(database: string, sql: string, params?: unknown[]): Promise<T[]>;
}

export interface ThrowawayCluster extends PostgresCoordinates {
  /** The directory holding the data directory, the socket and the logs; removed by stop(). */
  dir: string;
  /** The server's major version, from its binaries. */
  major: number;
  /** The server's version as `postgres --version` prints it. */
  version: string;
  /** The CA certificate that signed the server's certificate, for a cluster started with `tls: { hostname }`. */
  caFile?: string;
  /** Settings for a connection to `database` as `user` (default the superuser, with its password). */
  connection(database: string, user?: string): ConnectionSettings;
  /** The server log's last lines, for an error's message: the log goes with the directory. */
  serverLog(): Promise<string>;
  /** Stops the server the way a crash would; the directory stays until stop(). */
  kill(): Promise<void>;
  /** Stops the server (fast, else immediate) and removes its directory; safe to call more than once. Says what it did. */
  stop(): Promise<string>;
}

/**
 * The server's TLS: by default a self-signed certificate (enough for sslmode=require); `{ hostname }` a certificate
 * for that name (DNS or IP subjectAltName) signed by a throwaway CA, exposed as `caFile`, so verify-ca and
 * verify-full can be exercised; `false` no TLS at all.
 */
export type ServerTls = false | { hostname: string };

export interface ClusterOptions {
  /** Where the cluster's directory is made; default the OS temp directory. As root, the `postgres` user must reach it. */
  parent?: string;
  /** The server binaries (initdb, pg_ctl, postgres); default serverBinDir(). */
  binDir?: string;
  /** `trust`: the server asks no password of anyone; by default it asks one (scram-sha-256). */
  auth?: 'scram-sha-256' | 'trust';
  /** The superuser's password; default a random one. */
  password?: string;
  /** initdb's locale; default C.UTF-8 where this machine has it, else C. */
  locale?: string;
  /** The error's name when the cluster cannot be made; default InvalidConfig (this machine cannot run it). */
  errorName?: LifelineErrorName;
}

/**
 * `socket`: no TCP listener, only the Unix socket in the cluster's own directory (mode 0700), which nothing else on
 * the machine or the network reaches, and no TLS. `loopback`: also TCP on a free 127.0.0.1 port.
 */
export type ThrowawayClusterOptions = ClusterOptions & ({ listen: 'socket' } | { listen: 'loopback'; tls?: ServerTls });

/** Starts a throwaway cluster in a new directory under `parent`; nothing is left when it fails to start. */
export async function startThrowawayCluster(options: ThrowawayClusterOptions): Promise<ThrowawayCluster> {
  const binDir = options.binDir ?? serverBinDir();
  const errorName = options.errorName ?? 'InvalidConfig';
  const password = options.password ?? randomBytes(18).toString('base64url');
  const tls = options.listen === 'loopback' ? options.tls : false;
  const owner = serverUser();
  const dir = await mkdtemp(path.join(options.parent ?? os.tmpdir(), 'lifeline-pg-'));
  const dataDir = path.join(dir, 'data');
  const pgCtlPath = path.join(binDir, 'pg_ctl');
  // However this process ends, the cluster is stopped and its directory removed.
  const [stop, stopArgs] = asServerUser(owner, pgCtlPath, ['-D', dataDir, 'stop', '-m', 'immediate']);
  const dismissGuard = whenThisProcessEnds('lifeline-pg-guard', 'dir=$1; shift; "$@" >/dev/null 2>&1; rm -rf "$dir"', [
    dir,
    stop,
    ...stopArgs,
  ]);

  /** Runs `command` as the server's user, with no more of this process's environment than PATH (its credentials stay here). */
  const server = async (command: string, args: string[], cwd = dir) => {
    const [file, fileArgs] = asServerUser(owner, command, args);
    try {
      return await run(file, fileArgs, { cwd, env: { PATH: process.env.PATH, LC_ALL: 'C' } });
    } catch (error) {
      const { stderr } = error as { stderr?: string };
      const detail = (stderr || (error as Error).message).trim();
      throw new LifelineError(errorName, `the throwaway PostgreSQL's ${path.basename(command)} failed: ${detail}`);
    }
  };
  const pgCtl = (...args: string[]) => server(pgCtlPath, ['-D', dataDir, ...args]);

  let state: 'not started' | 'running' | 'killed' | 'stopped' = 'not started';
  const remove = async (): Promise<string> => {
    let how: string = state;
    if (state === 'running') {
      how = await pgCtl('stop', '-w', '-m', 'fast')
        .then(() => 'stopped')
        .catch(() => pgCtl('stop', '-w', '-m', 'immediate').then(() => 'stopped (immediate)'));
      state = 'stopped';
    }
    await rm(dir, { recursive: true, force: true });
    await dismissGuard();
    return `server ${how}, ${dir} removed`;
  };

  try {
    if (owner) await chown(dir, owner.uid, owner.gid);
    const version = (await server(path.join(binDir, 'postgres'), ['--version'])).stdout.trim();
    // The password goes through a file so that it never shows up in a process listing.
    const pwFile = path.join(dir, 'pwfile');
    await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (owner) await chown(pwFile, owner.uid, owner.gid);
    await server(path.join(binDir, 'initdb'), [
      '-D',
      dataDir,
      `--username=${SUPERUSER}`,
      `--pwfile=${pwFile}`,
      `--auth=${options.auth ?? 'scram-sha-256'}`,
      '--encoding=UTF8',
      `--locale=${options.locale ?? utf8Locale()}`,
      '--no-sync',
      '--no-instructions',
    ]);
    await rm(pwFile);
    let caFile: string | undefined;
    if (tls) {
      const ca = await createCertificateAuthority(dir, 'Lifeline test CA');
      await issueServerCertificate(ca, tls.hostname, dataDir, server);
      caFile = ca.certFile;
    } else if (tls === undefined) {
      // TLS with a throwaway self-signed certificate, so that sslmode=require works here.
      const request = ['req', '-new', '-x509', '-days', '2', '-nodes', '-subj', '/CN=127.0.0.1'];
      await server('openssl', [...request, '-keyout', 'server.key', '-out', 'server.crt'], dataDir);
    }
    await appendFile(
      path.join(dataDir, 'postgresql.conf'),
      [
        '',
        `listen_addresses = '${options.listen === 'loopback' ? '127.0.0.1' : ''}'`,
        // The socket and its lock file in the cluster's own directory (mode 0700), never in the shared /var/run/postgresql.
        `unix_socket_directories = '${dir.replaceAll("'", "''")}'`,
        "unix_socket_permissions = '0700'",
        // Dynamic shared memory in the data directory: the runner's root filesystem (and maybe /dev/shm) is read-only.
        'dynamic_shared_memory_type = mmap',
        // Durability is pointless for a throwaway cluster and costs most of the time; bulk loads and scans go
        // through small buffer rings anyway, so little shared memory does.
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        "shared_buffers = '32MB'",
        `ssl = ${tls === false ? 'off' : 'on'}`,
        '',
      ].join('\n'),
    );

    for (let attempt = 1; ; attempt++) {
      const port = options.listen === 'loopback' ? await freePort() : SOCKET_PORT;
      // A log per attempt, so that a failure is judged by its own messages.
      const logFile = path.join(dir, `server-${attempt}.log`);
      try {
        await pgCtl('start', '-w', '-t', String(START_TIMEOUT_SECONDS), '-l', logFile, '-o', `-p ${port}`);
      } catch (error) {
        const log = await logTail(logFile);
        // Another process may take the port between probing and binding it.
        if (attempt < START_ATTEMPTS && /could not bind|address already in use/i.test(log)) continue;
        throw new LifelineError(errorName, `${(error as Error).message}\n--- server log ---\n${log}`);
      }
      state = 'running';
      const host = options.listen === 'loopback' ? '127.0.0.1' : dir;
      let stopped: Promise<string> | undefined;
      return {
        dir,
        host,
        port,
        user: SUPERUSER,
        password,
        major: serverMajor(version.replace(/^\D+/, '')) ?? 0,
        version,
        caFile,
        connection: (database, user = SUPERUSER) => ({
          host,
          port,
          user,
          ...(user === SUPERUSER && { password }),
          database,
          sslMode: tls === false ? 'disable' : 'require',
        }),
        serverLog: () => logTail(logFile),
        async kill() {
          if (state !== 'running') return;
          await pgCtl('stop', '-w', '-m', 'immediate');
          state = 'killed';
        },
        stop: () => (stopped ??= remove()),
      };
    }
  } catch (error) {
    await remove().catch(() => undefined);
    throw error;
  }
}

export type PostgresOptions = ClusterOptions & { tls?: ServerTls };
export interface PostgresCluster extends ThrowawayCluster, PostgresDatabases {}

/** A throwaway cluster on a free loopback port, with a handle on its databases: the demo's and the tests'. */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresCluster> {
  const cluster = await startThrowawayCluster({ ...options, listen: 'loopback' });
  return { ...cluster, ...connectPostgres(cluster) };
}

/** A handle on databases of a running server, without control over the server itself. */
export function connectPostgres(coordinates: PostgresCoordinates): PostgresDatabases {
  const { host, port, user, password } = coordinates;
  const credentials = `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
  const url = (database = 'postgres') => `postgresql://${credentials}@${host}:${port}/${encodeURIComponent(database)}`;

  async function query<T>(database: string, sql: string, params?: unknown[]): Promise<T[]> {
    const client = new pg.Client({ host, port, user, password, database });
    // A server that dies mid-query also rejects the query; without a listener the event would crash the worker.
    client.on('error', () => undefined);
    await client.connect();
    try {
      const result = (await client.query(sql, params)) as pg.QueryResult | pg.QueryResult[];
      const last = Array.isArray(result) ? result.at(-1) : result;
      return (last?.rows ?? []) as T[];
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async function createDatabase(prefix: string): Promise<string> {
    const stem = prefix
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_')
      .slice(0, 40);
    const name = `${stem}_${randomBytes(5).toString('hex')}`;
    await query('postgres', `CREATE DATABASE "${name}"`);
    return name;
  }

  return { host, port, user, password, url, createDatabase, query };
}

/** The major of a server version string: `15.4 (Debian 15.4-1)` and `PostgreSQL 16.2` give 15 and 16. */
export function serverMajor(version: string): number | undefined {
  const match = /(\d+)(?:\.\d+)?/.exec(version);
  return match ? Number(match[1]) : undefined;
}

export interface ServerBinaries {
  /**
   * The oldest major that will do (an archive restores into a server of its major or newer): the oldest such
   * server is taken; without it, the newest there is.
   */
  major?: number;
  /** The variable that names the directory: the CLI's and the tests' own, or the one the runner image sets (lambdas/Dockerfile). */
  variable?: 'LIFELINE_PG_SERVER_BIN' | 'PG_SERVER_BIN_DIR';
  env?: NodeJS.ProcessEnv;
}

const INSTALL_SERVER =
  'install the server package (Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install postgresql-server; macOS: brew install postgresql@17)';

/**
 * Where the server binaries (initdb, pg_ctl, postgres) are: the directory `variable` names, else Debian's
 * /usr/lib/postgresql/<major>/bin (the oldest fitting `major`, or the newest), else, with no major asked for, the
 * directory on PATH that has initdb. InvalidConfig, naming what to install, when there are none.
 */
export function serverBinDir({ major, variable = 'LIFELINE_PG_SERVER_BIN', env = process.env }: ServerBinaries = {}): string {
  const root = '/usr/lib/postgresql';
  const install = major === undefined ? INSTALL_SERVER : `install postgresql-${major}`;
  const configured = env[variable];
  if (configured) {
    if (existsSync(path.join(configured, 'initdb'))) return configured;
    throw new LifelineError(
      'InvalidConfig',
      `${variable}: ${configured} holds no initdb; point it at PostgreSQL's server binaries, or ${install}`,
    );
  }
  const majors = (existsSync(root) ? readdirSync(root) : [])
    .filter((name) => /^\d+$/.test(name) && existsSync(path.join(root, name, 'bin', 'initdb')))
    .map(Number)
    .sort((a, b) => a - b);
  if (major !== undefined) {
    const fitting = majors.find((m) => m >= major);
    if (fitting !== undefined) return path.join(root, String(fitting), 'bin');
    throw new LifelineError(
      'InvalidConfig',
      `no PostgreSQL server binaries of major ${major} or newer to restore into (found: ${majors.join(', ') || 'none'} under ${root}); ` +
        `${install} or set ${variable} to its bin directory`,
    );
  }
  const newest = majors.at(-1);
  if (newest !== undefined) return path.join(root, String(newest), 'bin');
  const onPath = (env.PATH ?? '').split(path.delimiter).find((dir) => dir && existsSync(path.join(dir, 'initdb')));
  if (onPath) return onPath;
  throw new LifelineError(
    'InvalidConfig',
    `no PostgreSQL server binaries (initdb, pg_ctl) under ${root} or on PATH: ${install}, or set ${variable} to the directory that holds initdb`,
  );
}

export interface CertificateAuthority {
  certFile: string;
  keyFile: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']; // fast to generate

/** A throwaway CA in `dir`: its key and self-signed certificate. */
export async function createCertificateAuthority(dir: string, name: string): Promise<CertificateAuthority> {
  const ca = { certFile: path.join(dir, 'ca.crt'), keyFile: path.join(dir, 'ca.key') };
  const subject = ['-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE'];
  await run('openssl', ['req', '-new', '-x509', '-days', '2', ...EC_KEY, ...subject, '-keyout', ca.keyFile, '-out', ca.certFile]);
  return ca;
}

/** server.key (the server user's, as PostgreSQL demands) and server.crt for `hostname`, signed by `ca`, in `dataDir`. */
async function issueServerCertificate(
  ca: CertificateAuthority,
  hostname: string,
  dataDir: string,
  asServer: (command: string, args: string[], cwd: string) => Promise<unknown>,
): Promise<void> {
  const extensions = path.join(dataDir, 'server.ext');
  await writeFile(extensions, `subjectAltName=${net.isIP(hostname) ? 'IP' : 'DNS'}:${hostname}\n`);
  const request = ['req', '-new', ...EC_KEY, '-subj', `/CN=${hostname}`, '-keyout', 'server.key', '-out', 'server.csr'];
  await asServer('openssl', request, dataDir);
  const sign = ['x509', '-req', '-days', '2', '-in', 'server.csr', '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial'];
  await run('openssl', [...sign, '-extfile', extensions, '-out', 'server.crt'], { cwd: dataDir });
}

/** initdb and pg_ctl refuse to run as root, so as root they run as the `postgres` system user. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find((fields) => fields[0] === 'postgres');
  if (!entry) {
    throw new LifelineError(
      'InvalidConfig',
      'initdb refuses to run as root, and there is no `postgres` system user to run the server as: run as another user, or create one (useradd --system postgres)',
    );
  }
  return { uid: Number(entry[2]), gid: Number(entry[3]) };
}

/** The command as the server's user: itself, or through runuser when this process is root. */
function asServerUser(owner: { uid: number } | undefined, command: string, args: string[]): [string, string[]] {
  return owner ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

let cachedLocale: string | undefined;
function utf8Locale(): string {
  if (cachedLocale) return cachedLocale;
  let available = '';
  try {
    available = execFileSync('locale', ['-a'], { encoding: 'utf8' });
  } catch {
    // No `locale` tool: assume the minimal C locale only.
  }
  cachedLocale = /^c\.utf-?8$/im.test(available) ? 'C.UTF-8' : 'C';
  return cachedLocale;
}

/** A port nothing listens on, on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function logTail(file: string, lines = 20): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '(no server log)');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
