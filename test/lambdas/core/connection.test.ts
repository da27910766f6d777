import { describe, expect, it, vi } from 'vitest';
import { describe as describeConnection, fromRdsSecret, fromUrl, libpqEnv, redact } from '../../../lambdas/core/connection.js';
import { parseInput } from '../../../lambdas/core/validation.js';
import { BackupRequest } from '../../../lambdas/core/backup-request.js';

describe('connection settings', () => {
  it('parses a URL with TLS options and percent-encoded credentials', () => {
    const settings = fromUrl('postgresql://app%40prod:p%40ss%2Fw0rd@db.example.com:6543/orders?sslmode=verify-full&sslrootcert=/etc/rds.pem');
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

  it('reads an RDS secret, requiring TLS and verifying the server when a CA bundle is given', () => {
    const secret = JSON.stringify({ engine: 'postgres', host: 'h', port: 5432, username: 'u', password: 'pw', dbname: 'app' });
    expect(fromRdsSecret(secret).sslMode).toBe('require');
    expect(fromRdsSecret(secret, { sslRootCert: '/ca.pem' })).toMatchObject({ sslMode: 'verify-full', sslRootCert: '/ca.pem', database: 'app' });
    const clusterSecret = JSON.stringify({ host: 'h', port: '5432', username: 'u', password: 'pw' });
    expect(() => fromRdsSecret(clusterSecret)).toThrow(/dbname is missing/);
    expect(fromRdsSecret(clusterSecret, { database: 'other' }).database).toBe('other');
    expect(() => fromRdsSecret('{"host":"h","username":"u"}')).toThrow(/password/);
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

describe('backup request', () => {
  it('applies defaults and names every bad field', () => {
    expect(parseInput(BackupRequest, { database: 'orders', databaseUrl: 'postgres://u@h/db' }, 'backup request')).toMatchObject({
      trigger: 'manual',
      tier: 'auto',
      timeZone: 'UTC',
    });
    expect(() => parseInput(BackupRequest, { database: 'a/b', databaseUrl: 'x', trigger: 'cron' }, 'backup request')).toThrow(
      /database: .*trigger: /,
    );
    expect(() => parseInput(BackupRequest, { database: 'orders' }, 'backup request')).toThrow(/secretArn: give exactly one of secretArn or databaseUrl/);
    expect(() => parseInput(BackupRequest, { database: 'orders', databaseUrl: 'x', extra: 1 }, 'backup request')).toThrow(/extra/);
  });
});
