import { describe, expect, it, vi } from 'vitest';
import { connectClient, describe as describeConnection, fromUrl, libpqEnv, redact } from '../../../../lambdas/core/postgres/connection.js';
import { fromRdsSecret } from '../../../../lambdas/core/postgres/connection-secrets.js';

describe('connection settings', () => {
  it('parses a URL with TLS options and percent-encoded credentials', () => {
    const settings = fromUrl(
      'postgresql://app%40prod:p%40ss%2Fw0rd@db.example.com:6543/orders?sslmode=verify-full&sslrootcert=/etc/rds.pem',
    );
    expect(settings).toEqual({
      host: 'db.example.com',
      port: 6543,
      user: 'app@prod',
      password: 'p@ss/w0rd',
      database: 'orders',
      sslMode: 'verify-full',
      sslRootCert: '/etc/rds.pem',
    });
    expect(describeConnection(settings)).toBe('app@prod@db.example.com:6543/orders');
  });

  it('names what is wrong with a URL without echoing it', () => {
    const secret = 'hunter2-secret';
    const cases: [string, RegExp][] = [
      [`mysql://u:${secret}@h/db`, /scheme must be postgres/],
      [`postgres://u:${secret}@h`, /database name is missing/],
      [`postgres://u:${secret}@h/db?sslmode=sometimes`, /sslmode/],
      [`postgres://u:${secret}@h/db?options=-c`, /unsupported parameter "options"/],
      [`not a url ${secret}`, /not a valid URL/],
    ];
    for (const [url, message] of cases) {
      expect(() => fromUrl(url)).toThrow(message);
      expect(() => fromUrl(url)).not.toThrow(new RegExp(secret));
    }
  });

  it('verifies servers across a network by default, and prefers TLS only on loopback', () => {
    const modes = (host: string) => [
      fromUrl(`postgres://u:pw@${host.includes(':') ? `[${host}]` : host}/db`).sslMode,
      fromRdsSecret(JSON.stringify({ host, username: 'u', password: 'pw', dbname: 'db' })).sslMode,
    ];
    for (const host of ['db.example.com', 'orders.abc123.eu-west-1.rds.amazonaws.com', '10.0.0.5', '128.0.0.1', 'fd00::1']) {
      expect(modes(host), host).toEqual(['verify-full', 'verify-full']);
    }
    for (const host of ['localhost', 'LOCALHOST', '127.0.0.1', '127.10.20.30', '::1']) {
      expect(modes(host), host).toEqual(['prefer', 'prefer']);
    }
    expect(fromUrl('postgres://u:pw@db.example.com/db?sslmode=require').sslMode).toBe('require');
  });

  it("gives pg_dump the CA bundle from PGSSLROOTCERT (the image's RDS bundle) unless the URL names one, and none under prefer", () => {
    vi.stubEnv('PGSSLROOTCERT', '/etc/pki/rds/global-bundle.pem');
    const env = (url: string) => libpqEnv(fromUrl(url));
    expect(env('postgres://u:pw@db.example.com/db')).toMatchObject({
      PGSSLMODE: 'verify-full',
      PGSSLROOTCERT: '/etc/pki/rds/global-bundle.pem',
    });
    expect(env('postgres://u:pw@db.example.com/db?sslrootcert=/own.pem').PGSSLROOTCERT).toBe('/own.pem');
    expect(env('postgres://u:pw@db.example.com/db?sslmode=require').PGSSLROOTCERT).toBe('/etc/pki/rds/global-bundle.pem');
    expect(env('postgres://u:pw@db.example.com/db?sslmode=prefer').PGSSLROOTCERT).toBeUndefined();
    vi.unstubAllEnvs();
  });

  it("refuses to connect to an RDS secret's server unverified when no CA bundle is at hand", async () => {
    vi.stubEnv('PGSSLROOTCERT', undefined);
    const settings = fromRdsSecret(JSON.stringify({ host: 'db.example.invalid', username: 'u', password: 'pw', dbname: 'app' }));
    await expect(connectClient(settings)).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringMatching(/needs a CA bundle/),
    });
    vi.unstubAllEnvs();
  });

  it('names the CA bundle it cannot read', async () => {
    const settings = fromUrl('postgres://u:pw@db.example.invalid/db?sslrootcert=/nonexistent/rds.pem');
    await expect(connectClient(settings)).rejects.toMatchObject({
      name: 'InvalidInput',
      message: 'sslrootcert: cannot read the CA bundle /nonexistent/rds.pem (ENOENT)',
    });
  });

  it('hands the password to child processes only through the environment, and no inherited PG* variables', () => {
    vi.stubEnv('PGSERVICE', 'elsewhere');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'function-credentials');
    const env = libpqEnv(fromUrl('postgres://u:pw@h:5/db?sslmode=require'));
    vi.unstubAllEnvs();
    expect(env).toMatchObject({ PGHOST: 'h', PGPORT: '5', PGUSER: 'u', PGPASSWORD: 'pw', PGDATABASE: 'db', PGSSLMODE: 'require' });
    expect(env.PGSERVICE).toBeUndefined();
    expect(env.AWS_SECRET_ACCESS_KEY).toBeUndefined();
  });

  it('redacts passwords and credential-shaped text', () => {
    const settings = fromUrl('postgres://u:s3cr3t@h/db');
    expect(redact('auth s3cr3t failed for postgres://u:other@h/db password=abc', settings)).toBe(
      'auth *** failed for postgres://u:***@h/db password=***',
    );
  });
});
