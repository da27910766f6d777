import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { appendFile, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LifelineError } from '../errors.js';
import type { ConnectionSettings } from '../postgres/connection.js';

/**
 * A throwaway PostgreSQL server for a restore drill, started inside the runner (or on the operator's machine) from
 * the server binaries there: its data directory and socket in one directory of the staging volume, no TCP listener
 * (only its Unix socket, in that directory), trust authentication, and no durability. It ends with this process
 * however this process ends, and stop() removes it.
 */

const run = promisify(execFile);

/** The superuser the cluster is created with; it exists only inside the cluster. */
const SUPERUSER = 'postgres';
/** The port only names the socket file: nothing listens on TCP. */
const SOCKET_PORT = 5432;
const START_TIMEOUT_SECONDS = 120;

export interface ThrowawayCluster {
  /** The directory holding the data directory, the socket and the log; removed by stop(). */
  dir: string;
  /** The server's major version, from its binaries. */
  major: number;
  /** The server's version as `postgres --version` prints it. */
  version: string;
  /** A superuser connection to `database` over the cluster's socket. */
  connection(database: string, user?: string): ConnectionSettings;
  /** Stops the server (fast, then immediate) and removes its directory; safe to call more than once. Says what it did. */
  stop(): Promise<string>;
}

/** The major of a server version string: `15.4 (Debian 15.4-1)` and `PostgreSQL 16.2` give 15 and 16. */
export function serverMajor(version: string): number | undefined {
  const match = /(\d+)(?:\.\d+)?/.exec(version);
  return match ? Number(match[1]) : undefined;
}

/**
 * Where the server binaries (initdb, pg_ctl, postgres) for a backup of `major` are: PG_SERVER_BIN_DIR (the runner
 * image sets it to the packaged server's), else Debian's /usr/lib/postgresql/<major>/bin, the backup's own major or
 * the newest newer one (pg_restore restores an archive into a server as new or newer). InvalidConfig when none fits.
 */
export function serverBinDir(major: number, env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.PG_SERVER_BIN_DIR;
  if (configured) return configured;
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, 'bin', 'initdb')))
        .map(Number)
    : [];
  const fitting = majors.filter((m) => m >= major).sort((a, b) => a - b);
  if (fitting.length === 0) {
    throw new LifelineError(
      'InvalidConfig',
      `no PostgreSQL server binaries of major ${major} or newer to restore into (found: ${majors.join(', ') || 'none'} under ${root}); ` +
        `install postgresql-${major} or set PG_SERVER_BIN_DIR to its bin directory`,
    );
  }
  return join(root, String(fitting[0]), 'bin');
}

/** initdb and pg_ctl refuse to run as root: as root, the server runs as the `postgres` system user. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find((fields) => fields[0] === 'postgres');
  if (!entry) {
    throw new LifelineError(
      'InvalidConfig',
      'PostgreSQL refuses to run its server as root, and this machine has no `postgres` system user to run it as; run as another user',
    );
  }
  return { uid: Number(entry[2]), gid: Number(entry[3]) };
}

/** The command as the server's user: itself, or through runuser when this process is root. */
function asServerUser(owner: { uid: number } | undefined, command: string, args: string[]): [string, string[]] {
  return owner ? ['runuser', ['-u', SUPERUSER, '--', command, ...args]] : [command, args];
}

/**
 * A shell that stops the cluster and removes its directory once this process has ended, SIGKILL included: it waits
 * on a pipe only this process writes to, whose end the kernel closes when this process exits. Returns what
 * dismisses it after an orderly stop.
 */
function stopWhenThisProcessEnds(dir: string, stop: [string, string[]]): () => Promise<void> {
  const script = 'read -r _ <&3; dir=$1; shift; "$@" >/dev/null 2>&1; rm -rf "$dir"';
  const guard = spawn('/bin/sh', ['-c', script, 'lifeline-drill-guard', dir, stop[0], ...stop[1]], {
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    detached: true,
  });
  guard.on('error', () => undefined);
  const exited = new Promise<void>((resolve) => guard.once('close', () => resolve()));
  guard.unref();
  const pipe = guard.stdio[3] as Socket | null;
  pipe?.unref();
  return async () => {
    // Held again while it ends: an unreferenced child alone would let this process exit before it is reaped.
    guard.ref();
    if (guard.exitCode === null && guard.signalCode === null) guard.kill('SIGKILL');
    pipe?.destroy();
    await exited;
  };
}

async function logTail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-10).join('\n');
}

/**
 * Starts a throwaway cluster in a new directory under `parent` with the binaries in `binDir`. Nothing is left when it
 * fails to start.
 */
export async function startThrowawayCluster(parent: string, binDir: string): Promise<ThrowawayCluster> {
  const owner = serverUser();
  const dir = await mkdtemp(join(parent, 'drill-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const pgCtl = join(binDir, 'pg_ctl');
  const dismiss = stopWhenThisProcessEnds(dir, asServerUser(owner, pgCtl, ['-D', dataDir, 'stop', '-m', 'immediate']));
  const server = async (command: string, args: string[]) => {
    const [file, fileArgs] = asServerUser(owner, command, args);
    try {
      return await run(file, fileArgs, { cwd: dir, env: { PATH: process.env.PATH, LC_ALL: 'C' } });
    } catch (error) {
      const { stderr } = error as { stderr?: string };
      const name = command.split('/').pop();
      throw new LifelineError('RestoreFailed', `the drill's ${name} failed: ${(stderr || (error as Error).message).trim()}`);
    }
  };
  let started = false;
  const remove = async (): Promise<string> => {
    let how = 'not started';
    if (started) {
      how = await server(pgCtl, ['-D', dataDir, 'stop', '-w', '-m', 'fast'])
        .then(() => 'stopped')
        .catch(() => server(pgCtl, ['-D', dataDir, 'stop', '-w', '-m', 'immediate']).then(() => 'stopped (immediate)'));
      started = false;
    }
    await rm(dir, { recursive: true, force: true });
    await dismiss();
    return `server ${how}, ${dir} removed`;
  };
  try {
    if (owner) await chown(dir, owner.uid, owner.gid);
    const { stdout: version } = await server(join(binDir, 'postgres'), ['--version']);
    await server(join(binDir, 'initdb'), [
      '-D',
      dataDir,
      `--username=${SUPERUSER}`,
      '--auth=trust',
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
      '--no-instructions',
    ]);
    await appendFile(
      join(dataDir, 'postgresql.conf'),
      [
        '',
        // Only the socket, in this directory (mode 0700): nothing else on the machine or the network reaches it.
        "listen_addresses = ''",
        `unix_socket_directories = '${dir.replaceAll("'", "''")}'`,
        "unix_socket_permissions = '0700'",
        `port = ${SOCKET_PORT}`,
        // Its dynamic shared memory in its own directory: the runner's root filesystem (and maybe /dev/shm) is read-only.
        'dynamic_shared_memory_type = mmap',
        // The cluster is thrown away: durability only costs time.
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        '',
      ].join('\n'),
    );
    try {
      await server(pgCtl, ['-D', dataDir, 'start', '-w', '-t', String(START_TIMEOUT_SECONDS), '-l', logFile]);
    } catch (error) {
      throw new LifelineError('RestoreFailed', `${(error as Error).message}\n${await logTail(logFile)}`);
    }
    started = true;
    const trimmed = version.trim();
    let stopped: Promise<string> | undefined;
    return {
      dir,
      major: serverMajor(trimmed.replace(/^\D+/, '')) ?? 0,
      version: trimmed,
      connection: (database, user = SUPERUSER) => ({ host: dir, port: SOCKET_PORT, user, database, sslMode: 'disable' }),
      stop: () => (stopped ??= remove()),
    };
  } catch (error) {
    await remove().catch(() => undefined);
    throw error;
  }
}
