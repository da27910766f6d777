import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectClient, fromUrl, libpqEnv, type ConnectionSettings } from '../../lambdas/core/postgres/connection.js';
import { createCertificateAuthority, serverBinDir, startPostgres, type PostgresCluster } from '../support/postgres.js';

/** How a connection ended up: encrypted, in plain text, or refused (with the reason). */
type Outcome = { result: 'tls' | 'plain' } | { result: 'refused'; reason: string };
const IN_TLS = 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()';

async function throughPg(settings: ConnectionSettings): Promise<Outcome> {
  let client;
  try {
    client = await connectClient(settings);
  } catch (error) {
    return { result: 'refused', reason: (error as Error).message };
  }
  try {
    const { rows } = await client.query<{ ssl: boolean }>(IN_TLS);
    return { result: rows[0]!.ssl ? 'tls' : 'plain' };
  } finally {
    await client.end();
  }
}

/** psql with exactly the environment pg_dump and pg_restore get. */
async function throughLibpq(settings: ConnectionSettings): Promise<Outcome> {
  try {
    const { stdout } = await promisify(execFile)(path.join(serverBinDir(), 'psql'), ['-XAtc', IN_TLS], { env: libpqEnv(settings) });
    return { result: stdout.trim() === 't' ? 'tls' : 'plain' };
  } catch (error) {
    return { result: 'refused', reason: String((error as { stderr?: string }).stderr) };
  }
}

/** connectClient's warnings about plain-text connections (other warnings of the worker are none of ours). */
const warnings: string[] = [];
const collectWarning = (warning: NodeJS.ErrnoException) => {
  if (warning.code === 'LIFELINE_NO_TLS') warnings.push(warning.message);
};
/** Warnings are emitted on the next tick. */
const settled = () => new Promise((resolve) => setImmediate(resolve));

let server: PostgresCluster; // certificate for "localhost", signed by its own CA
let plainServer: PostgresCluster; // no TLS at all
let scratch: string;
let wrongCa: string; // a CA that signed nothing the servers hold

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'lifeline-tls-'));
  [server, plainServer, { certFile: wrongCa }] = await Promise.all([
    startPostgres({ tls: { hostname: 'localhost' } }),
    startPostgres({ tls: false }),
    createCertificateAuthority(scratch, 'Some other CA'),
  ]);
  process.on('warning', collectWarning);
});
afterAll(async () => {
  process.off('warning', collectWarning);
  await Promise.all([server?.stop(), plainServer?.stop(), rm(scratch, { recursive: true, force: true })]);
});
afterEach(() => {
  vi.unstubAllEnvs();
  warnings.length = 0;
});

function settingsFor(cluster: PostgresCluster, host: string, query: string): ConnectionSettings {
  return fromUrl(`postgres://${cluster.user}:${cluster.password}@${host}:${cluster.port}/postgres?${query}`);
}

describe('TLS modes: pg (connectClient) and libpq (pg_dump, pg_restore) agree', () => {
  // The server's certificate names localhost, so 127.0.0.1 is a mismatching host name.
  const cases: [host: string, sslmode: string, ca: 'right' | 'wrong' | 'none', expected: Outcome['result']][] = [
    ['127.0.0.1', 'disable', 'none', 'plain'],
    ['127.0.0.1', 'prefer', 'none', 'tls'],
    // libpq alone would verify here and drop to plain text on failure; prefer verifies nothing in either.
    ['127.0.0.1', 'prefer', 'wrong', 'tls'],
    ['127.0.0.1', 'require', 'none', 'tls'],
    // require with a root certificate verifies the chain, as libpq's does; pg on its own would not.
    ['127.0.0.1', 'require', 'right', 'tls'],
    ['127.0.0.1', 'require', 'wrong', 'refused'],
    ['127.0.0.1', 'verify-ca', 'right', 'tls'],
    ['127.0.0.1', 'verify-ca', 'wrong', 'refused'],
    ['127.0.0.1', 'verify-ca', 'none', 'refused'],
    ['127.0.0.1', 'verify-full', 'right', 'refused'],
    ['localhost', 'verify-full', 'right', 'tls'],
    ['localhost', 'verify-full', 'wrong', 'refused'],
    ['localhost', 'verify-full', 'none', 'refused'],
  ];

  it.each(cases)('%s sslmode=%s, CA %s: %s', async (host, sslmode, ca, expected) => {
    vi.stubEnv('PGSSLROOTCERT', undefined);
    const caFile = { right: server.caFile!, wrong: wrongCa, none: undefined }[ca];
    const settings = settingsFor(server, host, `sslmode=${sslmode}${caFile ? `&sslrootcert=${caFile}` : ''}`);
    const [pg, libpq] = await Promise.all([throughPg(settings), throughLibpq(settings)]);
    expect(pg.result, JSON.stringify(pg)).toBe(expected);
    expect(libpq.result, JSON.stringify(libpq)).toBe(expected);
    await settled();
    expect(warnings).toEqual([]);
  });

  it('refuses a certificate for another host name under verify-full, and says so in both', async () => {
    const settings = settingsFor(server, '127.0.0.1', `sslmode=verify-full&sslrootcert=${server.caFile}`);
    const [pg, libpq] = await Promise.all([throughPg(settings), throughLibpq(settings)]);
    expect(pg).toMatchObject({
      result: 'refused',
      reason: expect.stringMatching(/does not match certificate's altnames: IP: 127\.0\.0\.1 is not in/),
    });
    expect(libpq).toMatchObject({ result: 'refused', reason: expect.stringMatching(/does not match host name "127\.0\.0\.1"/) });
  });

  it('takes the CA bundle from PGSSLROOTCERT when the URL names none', async () => {
    const settings = settingsFor(server, '127.0.0.1', 'sslmode=verify-ca');
    vi.stubEnv('PGSSLROOTCERT', server.caFile);
    expect([(await throughPg(settings)).result, (await throughLibpq(settings)).result]).toEqual(['tls', 'tls']);
    vi.stubEnv('PGSSLROOTCERT', wrongCa);
    expect([(await throughPg(settings)).result, (await throughLibpq(settings)).result]).toEqual(['refused', 'refused']);
  });

  it('names a missing CA bundle instead of connecting unverified', async () => {
    vi.stubEnv('PGSSLROOTCERT', undefined);
    const settings = settingsFor(server, 'localhost', 'sslmode=verify-full');
    await expect(connectClient(settings)).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringMatching(/sslmode=verify-full .* needs a CA bundle: set sslrootcert in the URL or PGSSLROOTCERT/),
    });
  });
});

describe('a server without TLS', () => {
  it('gets plain text under prefer in both, and pg warns that the connection is not encrypted', async () => {
    const settings = settingsFor(plainServer, '127.0.0.1', 'sslmode=prefer');
    expect(await throughPg(settings)).toEqual({ result: 'plain' });
    await settled();
    expect(warnings).toEqual([
      `postgres@127.0.0.1:${plainServer.port}/postgres offers no TLS: connected without encryption (sslmode=prefer)`,
    ]);
    expect(await throughLibpq(settings)).toEqual({ result: 'plain' });
  });

  it('is refused under require in both', async () => {
    const settings = settingsFor(plainServer, '127.0.0.1', 'sslmode=require');
    const [pg, libpq] = await Promise.all([throughPg(settings), throughLibpq(settings)]);
    expect([pg.result, libpq.result]).toEqual(['refused', 'refused']);
  });
});
