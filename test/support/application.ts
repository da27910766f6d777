import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/**
 * A real application for the cutover tests, run as its own process (`node test/support/application.ts`):
 * it reads its database connection from its connection secret when it starts (APP_CONNECTION_SECRET, in
 * any shape cutover writes: a URL, JSON with DATABASE_URL, or the RDS JSON shape), keeps a pool of sessions
 * to that database as applications do, and serves /health by reading its `app_health` table. It never
 * re-reads the secret: only a restart moves it, as with real applications.
 */

const THIS_FILE = fileURLToPath(import.meta.url);

/** The pg config an application derives from its connection secret. */
function connectionConfig(secret: string): pg.ClientConfig {
  if (/^postgres(ql)?:\/\//.test(secret)) return { connectionString: secret };
  const json = JSON.parse(secret) as Record<string, unknown>;
  if (typeof json.DATABASE_URL === 'string') return { connectionString: json.DATABASE_URL };
  return {
    host: json.host as string,
    port: Number(json.port),
    database: json.dbname as string,
    user: json.username as string,
    password: json.password as string,
  };
}

async function serve(): Promise<void> {
  const pool = new pg.Pool({ ...connectionConfig(process.env.APP_CONNECTION_SECRET ?? ''), max: 2, idleTimeoutMillis: 0 });
  pool.on('error', () => undefined); // a session ended by the server (a freeze) is replaced on the next query
  // Connect at start, as applications that check their database before taking traffic do.
  (await pool.connect()).release();
  const server = http.createServer((request, response) => {
    if (request.url !== '/health') {
      response.writeHead(404).end();
      return;
    }
    pool.query<{ database: string }>('SELECT current_database() AS database, (SELECT count(*) FROM app_health) AS checks').then(
      ({ rows }) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(rows[0])),
      (error: Error) => response.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: error.message })),
    );
  });
  server.listen(Number(process.env.APP_PORT), '127.0.0.1', () => process.stdout.write('listening\n'));
  process.on('SIGTERM', () => {
    server.close();
    void pool.end().finally(() => process.exit(0));
  });
}

if (process.argv[1] === THIS_FILE) {
  serve().catch((error: unknown) => {
    process.stderr.write(`cannot start: ${(error as Error).message}\n`);
    process.exit(1);
  });
}

/** A port nothing listens on. */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** The application's one running process (one ECS task), started and replaced by the ECS stand-in. */
export class ApplicationProcess {
  private child: ChildProcess | undefined;
  readonly port: number;
  readonly healthUrl: string;

  // No parameter properties: node runs this file with type stripping only.
  constructor(port: number) {
    this.port = port;
    this.healthUrl = `http://127.0.0.1:${port}/health`;
  }

  /** Starts the process with this secret value; rejects when it exits before it listens (a task that fails to start). */
  async start(secretString: string): Promise<void> {
    await this.stop();
    const child = spawn(process.execPath, [THIS_FILE], {
      env: { PATH: process.env.PATH, APP_PORT: String(this.port), APP_CONNECTION_SECRET: secretString },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('listening')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the application exited with ${code}: ${stderr.trim()}`)));
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
}
