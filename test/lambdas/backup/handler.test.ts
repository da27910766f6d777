import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { sharedPostgres, sharedS3 } from '../../support/shared.js';

const pg = sharedPostgres();
const s3 = sharedS3();
const secrets = mockClient(SecretsManagerClient);
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:lifeline/orders-AbCdEf';

let handler: (typeof import('../../../lambdas/backup/handler.js'))['handler'];
let bucket: string;
let database: string;

/** Everything the function prints (logs and EMF metrics, on stdout and stderr) while `run` runs. */
async function captureOutput<T>(run: () => Promise<T>): Promise<{ result: PromiseSettledResult<T>; lines: string[] }> {
  const lines: string[] = [];
  const capture = (chunk: unknown) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  };
  const spies = [vi.spyOn(process.stdout, 'write').mockImplementation(capture), vi.spyOn(process.stderr, 'write').mockImplementation(capture)];
  const [result] = await Promise.allSettled([run()]);
  for (const spy of spies) spy.mockRestore();
  return { result: result!, lines };
}

beforeAll(async () => {
  bucket = await s3.createBucket('handler');
  database = await pg.createDatabase('handler');
  await pg.query(database, `CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 100);`);
  // The function finds its vault and endpoint in its environment, as in Lambda.
  process.env.AWS_ENDPOINT_URL_S3 = s3.endpoint;
  process.env.VAULT_BUCKET = bucket;
  ({ handler } = await import('../../../lambdas/backup/handler.js'));
});

afterEach(() => secrets.reset());

describe('backup Lambda handler', () => {
  it('reads the RDS secret, backs up, emits metrics and returns a small result without secrets', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({
      ARN: SECRET_ARN,
      Name: 'lifeline/orders',
      SecretString: JSON.stringify({ engine: 'postgres', host: pg.host, port: pg.port, username: pg.user, password: pg.password, dbname: database }),
    });
    const { result, lines } = await captureOutput(() => handler({ database: 'orders', secretArn: SECRET_ARN, trigger: 'schedule' }));
    expect(result.status, JSON.stringify(result)).toBe('fulfilled');
    const value = (result as PromiseFulfilledResult<Awaited<ReturnType<typeof handler>>>).value;
    expect(Object.keys(value).sort()).toEqual(['bytes', 'durationMs', 'key', 'manifestKey', 'sha256', 'tier']);
    expect(value.key).toMatch(/^monthly\/orders\//);
    expect(await s3.listKeys(bucket)).toEqual(expect.arrayContaining([value.key, value.manifestKey]));

    const output = lines.join('\n');
    expect(output).not.toContain(pg.password);
    const emf = lines.map((l) => JSON.parse(l)).find((l) => l._aws?.CloudWatchMetrics);
    expect(emf).toMatchObject({ Database: 'orders', service: 'lifeline-backup', BackupSucceeded: 1, BackupBytes: value.bytes });
    expect(emf._aws.CloudWatchMetrics[0].Namespace).toBe('Lifeline');
  });

  it('counts a failure and rethrows it under its stable name', async () => {
    secrets.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ host: pg.host, port: pg.port, username: pg.user, password: 'not-the-password', dbname: database }),
    });
    const { result, lines } = await captureOutput(() => handler({ database: 'orders', secretArn: SECRET_ARN }));
    expect(result).toMatchObject({
      status: 'rejected',
      reason: { name: 'DatabaseUnreachable', message: expect.stringMatching(/password authentication failed/) },
    });
    expect(lines.join('\n')).toMatch(/"errorName":"DatabaseUnreachable"/);
    expect(lines.join('\n')).not.toContain('not-the-password');
    const emf = lines.map((l) => JSON.parse(l)).find((l) => l._aws?.CloudWatchMetrics);
    expect(emf).toMatchObject({ Database: 'orders', BackupFailed: 1 });
  });

  it('rejects a bad event naming its fields, before reading any secret', async () => {
    await expect(handler({ database: '../etc', secretArn: 'not-an-arn', tier: 'hourly' })).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringMatching(/database: .*secretArn: must be a Secrets Manager secret ARN.*tier: /),
    });
    expect(secrets.calls()).toHaveLength(0);
  });
});
