import { describe, expect, it } from 'vitest';
import { parseConnectionSecret } from '../../../../lambdas/core/postgres/connection-secrets.js';
import { rewriteConnectionSecret } from '../../../../lambdas/core/cutover/connection.js';

const to = {
  host: 'shop-restored.c1a2b3.eu-west-1.rds.amazonaws.com',
  port: 5433,
  database: 'shop_restored',
  user: 'shop_app',
  password: 'n3w p@ss/word',
};

describe('connection secrets in the shapes applications keep them', () => {
  it('rewrites a plain URL, keeping its parameters, with the credentials encoded', () => {
    const old = 'postgresql://shop_app:old@shop.c1a2b3.eu-west-1.rds.amazonaws.com:5432/shop?sslmode=verify-full';
    const { shape } = parseConnectionSecret(old, 'secret');
    expect(shape).toBe('url');
    const rewritten = rewriteConnectionSecret(old, shape, to);
    expect(rewritten).toBe(
      'postgresql://shop_app:n3w%20p%40ss%2Fword@shop-restored.c1a2b3.eu-west-1.rds.amazonaws.com:5433/shop_restored?sslmode=verify-full',
    );
    expect(parseConnectionSecret(rewritten, 'secret').settings).toMatchObject({ ...to, sslMode: 'verify-full' });
    // A CA bundle the URL names wins over the deployment's.
    const bundle = { sslRootCert: '/opt/rds-ca.pem' };
    expect(parseConnectionSecret(old, 'secret', bundle).settings.sslRootCert).toBe('/opt/rds-ca.pem');
    expect(parseConnectionSecret(`${old}&sslrootcert=/etc/app-ca.pem`, 'secret', bundle).settings.sslRootCert).toBe('/etc/app-ca.pem');
  });

  it('rewrites DATABASE_URL in a JSON secret and keeps the other keys', () => {
    const old = JSON.stringify({ DATABASE_URL: 'postgres://shop_app:old@10.0.0.5:5432/shop', STRIPE_KEY: 'sk_live_x' });
    const { shape } = parseConnectionSecret(old, 'secret');
    expect(shape).toBe('json-url');
    const rewritten = JSON.parse(rewriteConnectionSecret(old, shape, to));
    expect(rewritten.STRIPE_KEY).toBe('sk_live_x');
    expect(parseConnectionSecret(rewritten.DATABASE_URL, 'secret').settings).toMatchObject(to);
  });

  it('rewrites the RDS JSON shape, keeping engine and a port written as a string', () => {
    const old = JSON.stringify({
      engine: 'postgres',
      host: 'shop.internal',
      port: '5432',
      username: 'shop_app',
      password: 'old',
      dbname: 'shop',
    });
    const { shape } = parseConnectionSecret(old, 'secret');
    expect(shape).toBe('rds-json');
    expect(JSON.parse(rewriteConnectionSecret(old, shape, to))).toEqual({
      engine: 'postgres',
      host: to.host,
      port: '5433',
      username: 'shop_app',
      password: to.password,
      dbname: 'shop_restored',
    });
  });
});
