import { readFileSync } from 'node:fs';
import http from 'node:http';
import pg from 'pg';

/**
 * The demo's sample application (`lifeline demo`), a local workload as a settings file describes one: started by its
 * command with LIFELINE_SECRET_FILE naming its connection secret (a URL, JSON with DATABASE_URL, or RDS JSON), which
 * it reads once, at start, as applications do; it keeps a pool of sessions to that database and answers
 * `GET /health` from it (the database's name and its orders). Only a restart moves it to another database.
 * Run by node itself (type stripping): it imports nothing of Lifeline's.
 */

/** The pg config an application derives from its connection secret. */
function connectionConfig(secret: string): pg.ClientConfig {
  const text = secret.trim();
  if (/^postgres(ql)?:\/\//.test(text)) return { connectionString: text };
  const json = JSON.parse(text) as Record<string, unknown>;
  if (typeof json.DATABASE_URL === 'string') return { connectionString: json.DATABASE_URL };
  return {
    host: json.host as string,
    port: Number(json.port),
    database: json.dbname as string,
    user: json.username as string,
    password: json.password as string,
  };
}

async function serve(port: number): Promise<void> {
  const file = process.env.LIFELINE_SECRET_FILE;
  if (!file) throw new Error('LIFELINE_SECRET_FILE is not set: start it as a local workload of a lifeline settings file');
  const pool = new pg.Pool({ ...connectionConfig(readFileSync(file, 'utf8')), max: 2, idleTimeoutMillis: 0 });
  // A session the server ends (a write freeze ends them) is replaced on the next query.
  pool.on('error', () => undefined);
  // Connect at start, as applications that check their database before taking traffic do.
  (await pool.connect()).release();
  const server = http.createServer((request, response) => {
    if (request.url !== '/health') {
      response.writeHead(404).end();
      return;
    }
    pool
      .query<{ database: string; orders: number }>('SELECT current_database() AS database, (SELECT count(*)::int FROM orders) AS orders')
      .then(
        ({ rows }) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(rows[0])),
        (error: Error) => response.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: error.message })),
      );
  });
  server.listen(port, '127.0.0.1');
  process.on('SIGTERM', () => {
    server.close();
    void pool.end().finally(() => process.exit(0));
  });
}

const portFlag = process.argv.indexOf('--port');
serve(Number(process.argv[portFlag + 1])).catch((error: unknown) => {
  process.stderr.write(`sample application cannot start: ${(error as Error).message}\n`);
  process.exit(1);
});
