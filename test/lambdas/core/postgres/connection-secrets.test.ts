import { describe, expect, it } from 'vitest';
import { fromRdsSecret, parseConnectionSecret } from '../../../../lambdas/core/postgres/connection-secrets.js';
import { fromUrl } from '../../../../lambdas/core/postgres/connection.js';

describe('connection secrets', () => {
  it('reads an RDS secret, verifying the server whether or not a CA bundle is given', () => {
    const secret = JSON.stringify({ engine: 'postgres', host: 'h', port: 5432, username: 'u', password: 'pw', dbname: 'app' });
    expect(fromRdsSecret(secret).sslMode).toBe('verify-full');
    expect(fromRdsSecret(secret, { sslRootCert: '/ca.pem' })).toMatchObject({
      sslMode: 'verify-full',
      sslRootCert: '/ca.pem',
      database: 'app',
    });
    const clusterSecret = JSON.stringify({ host: 'h', port: '5432', username: 'u', password: 'pw' });
    expect(() => fromRdsSecret(clusterSecret)).toThrow(/dbname is missing/);
    expect(fromRdsSecret(clusterSecret, { database: 'other' }).database).toBe('other');
    expect(() => fromRdsSecret('{"host":"h","username":"u"}')).toThrow(/password/);
  });

  it("takes an application's URL with its driver's parameters (Prisma's schema), which a URL Lifeline is given refuses", () => {
    const url = 'postgresql://shop_api:pw@shop.internal:5432/shop?schema=public&connection_limit=5&sslmode=require';
    for (const secret of [url, JSON.stringify({ DATABASE_URL: url })]) {
      expect(parseConnectionSecret(secret, 'shop-api secret').settings).toMatchObject({
        host: 'shop.internal',
        user: 'shop_api',
        database: 'shop',
        sslMode: 'require',
      });
    }
    expect(() => fromUrl(url)).toThrow('database URL: unsupported parameter "schema"');
  });

  it("refuses an application's secret in no shape it knows, naming the secret and never its value", () => {
    const managed = JSON.stringify({ username: 'postgres', password: 'hunter2-secret' });
    expect(() => parseConnectionSecret(managed, 'shop-api secret')).toThrow(
      'shop-api secret: database secret: host is missing and no default was given',
    );
    // Restore reads only the role from it: the server it restores onto fills in the rest.
    expect(parseConnectionSecret(managed, 'shop-api secret', { host: 'shop.internal', database: 'shop' }).settings).toMatchObject({
      host: 'shop.internal',
      user: 'postgres',
    });
    for (const value of ['hunter2-secret', JSON.stringify({ url: 'hunter2-secret' }), '["hunter2-secret"]']) {
      let message = '';
      try {
        parseConnectionSecret(value, 'shop-api secret');
      } catch (error) {
        expect(error).toMatchObject({ name: 'InvalidInput' });
        message = (error as Error).message;
      }
      expect(message).toMatch(/^shop-api secret: not a postgres:\/\/ URL, a JSON object with DATABASE_URL, or the RDS JSON shape/);
      expect(message).not.toContain('hunter2');
    }
  });
});
