import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { appendFile, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { LifelineError } from '../errors.js';

/**
 * Throwaway PostgreSQL clusters made with the machine's server binaries (initdb, pg_ctl) on a free loopback port, removed
 * afterwards: what `lifeline demo` runs on, and the test harness's clusters (test/support/postgres.ts).
 */

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

export interface PostgresCluster extends PostgresDatabases {
  /** The CA certificate that signed the server's certificate, for a cluster started with `tls: { hostname }`. */
  caFile?: string;
  /** Stops the server the way a crash would; the data directory stays until stop(). */
  kill(): Promise<void>;
  /** Stops the server if it runs and removes its directory; safe to call more than once. */
  stop(): Promise<void>;
}

const run = promisify(execFile);
const START_ATTEMPTS = 5;

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

export interface PostgresOptions {
  password?: string;
  /**
   * The server's TLS: by default a self-signed certificate (enough for sslmode=require); `{ hostname }` a
   * certificate for that name (DNS or IP subjectAltName) signed by a throwaway CA, exposed as `caFile`, so
   * verify-ca and verify-full can be exercised; `false` no TLS at all.
   */
  tls?: false | { hostname: string };
  /** `trust`: the server asks no password of anyone (trust authentication); by default it asks one (scram-sha-256). */
  auth?: 'scram-sha-256' | 'trust';
}

/** Starts a throwaway cluster on a free loopback port; call stop() to remove it. */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresCluster> {
  const password = options.password ?? randomBytes(18).toString('base64url');
  const bin = serverBinDir();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lifeline-pg-'));
  const dataDir = path.join(dir, 'data');
  let running = false;

  const pgCtlPath = path.join(bin, 'pg_ctl');
  const pgCtl = (...args: string[]) => asServerUser(pgCtlPath, ['-D', dataDir, ...args], dir);
  const watchdog = startWatchdog(dir, serverUserCommand(pgCtlPath, ['-D', dataDir, 'stop', '-m', 'immediate']));

  try {
    const owner = serverUser();
    if (owner) await chown(dir, owner.uid, owner.gid);
    // The password goes through a file so that it never shows up in a process listing.
    const pwFile = path.join(dir, 'pwfile');
    await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (owner) await chown(pwFile, owner.uid, owner.gid);
    await asServerUser(
      path.join(bin, 'initdb'),
      [
        '-D',
        dataDir,
        '--username=postgres',
        `--pwfile=${pwFile}`,
        `--auth=${options.auth ?? 'scram-sha-256'}`,
        '--encoding=UTF8',
        `--locale=${utf8Locale()}`,
        '--no-sync',
        '--no-instructions',
      ],
      dir,
    );
    await rm(pwFile);
    let caFile: string | undefined;
    if (options.tls) {
      const ca = await createCertificateAuthority(dir, 'Lifeline test CA');
      await issueServerCertificate(ca, options.tls.hostname, dataDir);
      caFile = ca.certFile;
    } else if (options.tls === undefined) {
      // TLS with a throwaway self-signed certificate, so that sslmode=require works here.
      await asServerUser(
        'openssl',
        ['req', '-new', '-x509', '-days', '2', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.crt'],
        dataDir,
      );
    }
    await appendFile(
      path.join(dataDir, 'postgresql.conf'),
      [
        '',
        "listen_addresses = '127.0.0.1'",
        // Sockets and their lock files in the cluster's own directory, never in the shared /var/run/postgresql.
        `unix_socket_directories = '${dir.replaceAll("'", "''")}'`,
        // Durability is pointless for a throwaway cluster and costs most of the time.
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        "shared_buffers = '32MB'",
        `ssl = ${options.tls === false ? 'off' : 'on'}`,
        '',
      ].join('\n'),
    );

    // Another test file may take the port between probing and binding it, so retry on a collision.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      // A log per attempt, so that a failure is judged by its own messages.
      const logFile = path.join(dir, `server-${attempt}.log`);
      try {
        await pgCtl('start', '-w', '-t', '60', '-l', logFile, '-o', `-p ${port}`);
      } catch (error) {
        const log = await logTail(logFile);
        if (attempt < START_ATTEMPTS && /could not bind|address already in use/i.test(log)) continue;
        throw new Error(`PostgreSQL did not start: ${String(error)}\n--- server log ---\n${log}`, { cause: error });
      }
      running = true;

      const databases = connectPostgres({ host: '127.0.0.1', port, user: 'postgres', password });
      let stopped: Promise<void> | undefined;
      return {
        ...databases,
        caFile,
        async kill() {
          if (!running) return;
          await pgCtl('stop', '-w', '-m', 'immediate');
          running = false;
        },
        stop() {
          stopped ??= (async () => {
            watchdog.kill();
            try {
              if (running) await pgCtl('stop', '-w', '-m', 'fast');
              running = false;
            } finally {
              await rm(dir, { recursive: true, force: true });
            }
          })();
          return stopped;
        },
      };
    }
  } catch (error) {
    watchdog.kill();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
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
async function issueServerCertificate(ca: CertificateAuthority, hostname: string, dataDir: string): Promise<void> {
  const extensions = path.join(dataDir, 'server.ext');
  await writeFile(extensions, `subjectAltName=${net.isIP(hostname) ? 'IP' : 'DNS'}:${hostname}\n`);
  const request = ['req', '-new', ...EC_KEY, '-subj', `/CN=${hostname}`, '-keyout', 'server.key', '-out', 'server.csr'];
  await asServerUser('openssl', request, dataDir);
  const sign = ['x509', '-req', '-days', '2', '-in', 'server.csr', '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial'];
  await run('openssl', [...sign, '-extfile', extensions, '-out', 'server.crt'], { cwd: dataDir });
}

/**
 * A process that waits for this one to end and then stops the cluster and removes its directory, for a
 * process that ends without stop(): vitest ends its workers with a signal, a demo may be killed, and exit handlers don't run then.
 */
function startWatchdog(dir: string, [stop, stopArgs]: [string, string[]]): ChildProcess {
  const script = 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; shift; dir=$1; shift; "$@"; rm -rf "$dir"';
  const watchdog = spawn('sh', ['-c', script, 'watchdog', String(process.pid), dir, stop, ...stopArgs], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();
  return watchdog;
}

/** LIFELINE_PG_SERVER_BIN, the newest /usr/lib/postgresql/<major>/bin that has initdb (Debian's layout), or initdb on PATH. */
export function serverBinDir(): string {
  const root = '/usr/lib/postgresql';
  const install =
    'install the server package (Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install postgresql-server; macOS: brew install postgresql@17)';
  const override = process.env.LIFELINE_PG_SERVER_BIN;
  if (override) {
    if (existsSync(path.join(override, 'initdb'))) return override;
    throw new LifelineError(
      'InvalidConfig',
      `LIFELINE_PG_SERVER_BIN: ${override} holds no initdb; point it at PostgreSQL's server binaries, or ${install}`,
    );
  }
  const majors = existsSync(root) ? readdirSync(root).filter((name) => /^\d+$/.test(name)) : [];
  const newest = majors
    .sort((a, b) => Number(b) - Number(a))
    .map((major) => path.join(root, major, 'bin'))
    .find((dir) => existsSync(path.join(dir, 'initdb')));
  if (newest) return newest;
  const onPath = (process.env.PATH ?? '').split(path.delimiter).find((dir) => dir && existsSync(path.join(dir, 'initdb')));
  if (onPath) return onPath;
  throw new LifelineError(
    'InvalidConfig',
    `no PostgreSQL server binaries (initdb, pg_ctl) under ${root} or on PATH: ${install}, or set LIFELINE_PG_SERVER_BIN to the directory that holds initdb`,
  );
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

function serverUserCommand(command: string, args: string[]): [string, string[]] {
  return serverUser() ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

async function asServerUser(command: string, args: string[], cwd: string): Promise<void> {
  const [file, fileArgs] = serverUserCommand(command, args);
  await run(file, fileArgs, { cwd });
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

async function logTail(file: string, lines = 30): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '(no server log)');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
