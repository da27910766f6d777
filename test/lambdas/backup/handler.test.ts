import { DescribeDBClustersCommand, DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CLEANUP_MARGIN_MS } from '../../../lambdas/core/deadline.js';
import { isManifestKey } from '../../../lambdas/core/vault/keys.js';
import { listBackups, readManifest } from '../../../lambdas/core/vault/backups.js';
import { parseConfig } from '../../../lib/config/load.js';
import { serverBinDir, startPostgres, type PostgresCluster } from '../../support/postgres.js';
import { sharedS3 } from '../../support/shared.js';
import { exampleJson, synthesize } from '../../support/stacks.js';

const s3 = sharedS3();
const secrets = mockClient(SecretsManagerClient);
const rds = mockClient(RDSClient);
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-orders-AbCdEf';
const FIFTEEN_MINUTES = { getRemainingTimeInMillis: () => 900_000 };
/** A context that leaves the backup `budgetMs` after the cleanup margin. */
const withBudget = (budgetMs: number) => ({ getRemainingTimeInMillis: () => CLEANUP_MARGIN_MS + budgetMs });

let handler: (typeof import('../../../lambdas/backup/handler.js'))['handler'];
let cluster: PostgresCluster;
let bucket: string;
let database: string;

/** Everything the function prints (logs and EMF metrics, on stdout and stderr) while `run` runs. */
async function captureOutput<T>(run: () => Promise<T>): Promise<{ result: PromiseSettledResult<T>; lines: string[] }> {
  const lines: string[] = [];
  const capture = (chunk: unknown) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  };
  const spies = [
    vi.spyOn(process.stdout, 'write').mockImplementation(capture),
    vi.spyOn(process.stderr, 'write').mockImplementation(capture),
  ];
  const [result] = await Promise.allSettled([run()]);
  for (const spy of spies) spy.mockRestore();
  return { result: result as PromiseSettledResult<T>, lines };
}

/** The run's EMF metric line. */
function metricsOf(lines: string[]): Record<string, any> {
  const emf = lines.map((line) => JSON.parse(line)).find((line) => line._aws?.CloudWatchMetrics);
  expect(emf, 'an EMF line').toBeDefined();
  return emf;
}

interface Deployed {
  /** The function's environment as synthesized, with the vault bucket's name resolved to the test bucket. */
  environment: Record<string, string>;
  /** The schedule's input, undefined for an on-demand database. */
  scheduledEvent?: unknown;
  /** The function role's policy statements. */
  statements: { Sid: string; Action: string | string[]; Resource: unknown }[];
}

/** Synthesizes the example deployment with one database, "orders", on the test cluster, and reads its function. */
function deploy(entry: Record<string, unknown>, vault = bucket): Deployed {
  const json = exampleJson();
  json.applications = [];
  json.databases = [
    {
      name: 'orders',
      secretArn: SECRET_ARN,
      network: 'production',
      securityGroupId: 'sg-0a1b2c3d4e5f67890',
      port: cluster.port,
      postgresVersion: 15,
      schedule: { cron: '30 3 * * ? *', timeZone: 'Europe/Berlin' },
      ...entry,
    },
  ];
  const [template] = synthesize(parseConfig(json)).backupsTemplates;
  const [fn] = Object.values(template!.findResources('AWS::Lambda::Function'));
  const [role] = Object.values(template!.findResources('AWS::IAM::Role', { Properties: { Description: 'Lifeline backup of orders' } }));
  const [schedule] = Object.values(template!.findResources('AWS::Scheduler::Schedule'));
  const variables = fn!.Properties.Environment.Variables as Record<string, unknown>;
  // The vault's name is only known in the account (a CloudFormation expression); everything else is fixed at synth.
  expect(variables.VAULT_BUCKET).toHaveProperty('Fn::Join');
  const environment = { ...variables, VAULT_BUCKET: vault };
  for (const [name, value] of Object.entries(environment)) expect(typeof value, name).toBe('string');
  return {
    environment,
    scheduledEvent: schedule ? JSON.parse(schedule.Properties.Target.Input) : undefined,
    statements: role!.Properties.Policies[0].PolicyDocument.Statement,
  };
}

/** Runs as the deployed function: its environment, plus what the image's Dockerfile sets. */
function runAs(deployed: Deployed): void {
  for (const [name, value] of Object.entries(deployed.environment)) vi.stubEnv(name, value);
  vi.stubEnv('PGSSLROOTCERT', cluster.caFile);
  vi.stubEnv('PG_BIN_DIR', serverBinDir());
}

function answerSecret(secret: Record<string, unknown>): void {
  secrets
    .on(GetSecretValueCommand, { SecretId: SECRET_ARN })
    .resolves({ ARN: SECRET_ARN, Name: 'rds!db-orders', SecretString: JSON.stringify(secret) });
}

beforeAll(async () => {
  cluster = await startPostgres({ tls: { hostname: '127.0.0.1' } });
  bucket = await s3.createBucket('handler');
  database = await cluster.createDatabase('orders');
  await cluster.query(database, 'CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 100);');
  process.env.AWS_ENDPOINT_URL_S3 = s3.endpoint; // read when the module creates its S3 client, as in Lambda
  ({ handler } = await import('../../../lambdas/backup/handler.js'));
});
afterAll(async () => {
  await cluster?.stop();
});
afterEach(() => {
  secrets.reset();
  rds.reset();
  vi.unstubAllEnvs();
});

describe('the deployed backup function, with the secret shapes RDS and rotation templates write', () => {
  it('backs up from an RDS-managed instance secret (username and password only), asking RDS for the endpoint', async () => {
    const deployed = deploy({ rds: { instanceIdentifier: 'orders-production' } });
    expect(deployed.statements).toContainEqual({
      Sid: 'DescribeOwnDatabase',
      Effect: 'Allow',
      Action: 'rds:DescribeDBInstances',
      Resource: {
        'Fn::Join': [
          '',
          ['arn:', { Ref: 'AWS::Partition' }, ':rds:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':db:orders-production'],
        ],
      },
    });
    runAs(deployed);
    answerSecret({ username: cluster.user, password: cluster.password });
    rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-production' }).resolves({
      DBInstances: [
        {
          DBInstanceIdentifier: 'orders-production',
          Engine: 'postgres',
          DBInstanceStatus: 'available',
          Endpoint: { Address: '127.0.0.1', Port: cluster.port, HostedZoneId: 'Z29XKXDKYMONMX' },
          DBName: database,
        },
      ],
    });

    expect(deployed.scheduledEvent).toEqual({ trigger: 'schedule' });
    const { result, lines } = await captureOutput(() => handler(deployed.scheduledEvent, FIFTEEN_MINUTES));
    expect(result.status, JSON.stringify(result)).toBe('fulfilled');
    const value = (result as PromiseFulfilledResult<any>).value;
    expect(Object.keys(value).sort()).toEqual(['bytes', 'durationMs', 'key', 'manifestKey', 'sha256', 'tier']);
    expect(value.key).toMatch(/^monthly\/orders\//);
    expect(await s3.listKeys(bucket)).toEqual(expect.arrayContaining([value.key, value.manifestKey]));
    expect(rds.commandCalls(DescribeDBInstancesCommand)).toHaveLength(1);

    expect(lines.join('\n')).not.toContain(cluster.password);
    const emf = metricsOf(lines);
    expect(emf).toMatchObject({ Database: 'orders', service: 'lifeline-backup', BackupSucceeded: 1, BackupBytes: value.bytes });
    expect(emf._aws.CloudWatchMetrics[0].Namespace).toBe('Lifeline');
    expect(emf.BackupTimeLimitUsed).toBeLessThan(50);
  });

  it('backs up from an RDS-managed cluster secret, asking RDS for the writer endpoint and database name', async () => {
    const deployed = deploy({ rds: { clusterIdentifier: 'orders' } });
    expect(deployed.statements).toContainEqual(
      expect.objectContaining({
        Sid: 'DescribeOwnDatabase',
        Action: 'rds:DescribeDBClusters',
        Resource: { 'Fn::Join': ['', expect.arrayContaining([':cluster:orders'])] },
      }),
    );
    runAs(deployed);
    answerSecret({ username: cluster.user, password: cluster.password });
    rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'orders' }).resolves({
      DBClusters: [
        {
          DBClusterIdentifier: 'orders',
          Engine: 'aurora-postgresql',
          Status: 'available',
          Endpoint: '127.0.0.1',
          ReaderEndpoint: 'orders.cluster-ro-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com',
          Port: cluster.port,
          DatabaseName: database,
        },
      ],
    });
    const result = await handler({ trigger: 'manual', tier: 'daily' }, FIFTEEN_MINUTES);
    expect(result).toMatchObject({ tier: 'daily', key: expect.stringMatching(/^daily\/orders\//) });
  });

  it('names the config field to set when neither the secret nor RDS knows the database name', async () => {
    runAs(deploy({ rds: { clusterIdentifier: 'orders' } }));
    answerSecret({ username: cluster.user, password: cluster.password });
    rds
      .on(DescribeDBClustersCommand)
      .resolves({ DBClusters: [{ DBClusterIdentifier: 'orders', Endpoint: '127.0.0.1', Port: cluster.port }] });
    const { result, lines } = await captureOutput(() => handler({ trigger: 'manual' }, FIFTEEN_MINUTES));
    expect(result).toMatchObject({
      status: 'rejected',
      reason: { name: 'InvalidConfig', message: expect.stringMatching(/set "databaseName" for database "orders" in the config/) },
    });
    expect(metricsOf(lines)).toMatchObject({ Database: 'orders', BackupFailed: 1 });
  });

  it('takes the database name from the config and only the endpoint from RDS', async () => {
    runAs(deploy({ rds: { clusterIdentifier: 'orders' }, databaseName: database }));
    answerSecret({ username: cluster.user, password: cluster.password });
    rds
      .on(DescribeDBClustersCommand)
      .resolves({ DBClusters: [{ DBClusterIdentifier: 'orders', Endpoint: '127.0.0.1', Port: cluster.port }] });
    await expect(handler({ trigger: 'manual' }, FIFTEEN_MINUTES)).resolves.toMatchObject({ key: expect.stringMatching(/\/orders\//) });
  });

  it('refuses an RDS endpoint on another port than the one the security groups open', async () => {
    runAs(deploy({ rds: { instanceIdentifier: 'orders-production' }, databaseName: database }));
    answerSecret({ username: cluster.user, password: cluster.password });
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ Endpoint: { Address: '127.0.0.1', Port: cluster.port + 1 } }] });
    await expect(handler({ trigger: 'manual' }, FIFTEEN_MINUTES)).rejects.toMatchObject({
      name: 'InvalidConfig',
      message: expect.stringMatching(new RegExp(`listens on port ${cluster.port + 1}.*"port": ${cluster.port}`)),
    });
  });

  it('uses a self-managed secret as it is (host, port, dbname), without asking RDS', async () => {
    const deployed = deploy({ rds: { instanceIdentifier: 'orders-production' } });
    runAs(deployed);
    answerSecret({
      engine: 'postgres',
      host: '127.0.0.1',
      port: cluster.port,
      username: cluster.user,
      password: cluster.password,
      dbname: database,
    });
    await expect(handler(deployed.scheduledEvent, FIFTEEN_MINUTES)).resolves.toMatchObject({ key: expect.stringMatching(/\/orders\//) });
    expect(rds.calls()).toHaveLength(0);
  });

  it('completes a self-managed secret without dbname (its port a string) from the config, without asking RDS', async () => {
    const deployed = deploy({ rds: { instanceIdentifier: 'orders-production' }, host: 'db.example.invalid', databaseName: database });
    // Both given: the function may not ask RDS at all.
    expect(deployed.statements.map((s) => s.Sid)).not.toContain('DescribeOwnDatabase');
    runAs(deployed);
    // The secret's host wins over the config's.
    answerSecret({ engine: 'postgres', host: '127.0.0.1', port: String(cluster.port), username: cluster.user, password: cluster.password });
    await expect(handler(deployed.scheduledEvent, FIFTEEN_MINUTES)).resolves.toMatchObject({ key: expect.stringMatching(/\/orders\//) });
    expect(rds.calls()).toHaveLength(0);
  });

  it('asks RDS for the database name a self-managed secret without dbname leaves out', async () => {
    runAs(deploy({ rds: { instanceIdentifier: 'orders-production' } }));
    answerSecret({ engine: 'postgres', host: '127.0.0.1', port: cluster.port, username: cluster.user, password: cluster.password });
    rds
      .on(DescribeDBInstancesCommand)
      .resolves({ DBInstances: [{ Endpoint: { Address: 'elsewhere.invalid', Port: 5432 }, DBName: database }] });
    await expect(handler({}, FIFTEEN_MINUTES)).resolves.toMatchObject({ key: expect.stringMatching(/\/orders\//) });
  });
});

describe('the backup event', () => {
  it('carries only the trigger and the tier: a database, URL, secret or bucket in it is refused, naming the fields', async () => {
    runAs(deploy({ rds: { instanceIdentifier: 'orders-production' } }));
    const event = {
      database: 'payroll',
      databaseUrl: 'postgres://admin:hunter2@payroll.internal/payroll',
      bucket: 'elsewhere',
      trigger: 'manual',
    };
    const rejection = handler(event, FIFTEEN_MINUTES);
    await expect(rejection).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringMatching(/unknown fields "database", "databaseUrl", "bucket"/),
    });
    await expect(rejection).rejects.not.toMatchObject({ message: expect.stringContaining('hunter2') });
    expect(secrets.calls()).toHaveLength(0);
    await expect(handler({ tier: 'hourly' }, FIFTEEN_MINUTES)).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringMatching(/tier: /),
    });
  });

  it('reports an unreadable secret as SecretUnreadable, and counts it as a failed backup', async () => {
    runAs(deploy({ rds: { instanceIdentifier: 'orders-production' } }));
    secrets
      .on(GetSecretValueCommand)
      .rejects(Object.assign(new Error('User is not authorized to perform GetSecretValue'), { name: 'AccessDeniedException' }));
    const { result, lines } = await captureOutput(() => handler({ trigger: 'schedule' }, FIFTEEN_MINUTES));
    expect(result).toMatchObject({
      status: 'rejected',
      reason: { name: 'SecretUnreadable', message: expect.stringContaining(SECRET_ARN) },
    });
    expect(metricsOf(lines)).toMatchObject({ Database: 'orders', BackupFailed: 1 });
  });
});

describe("Lambda's time limit", () => {
  let large: string;
  let vault: string;
  beforeAll(async () => {
    vault = await s3.createBucket('deadline');
    large = await cluster.createDatabase('large');
    // Barely compressible: an archive of many 8 MiB parts, which takes seconds to dump.
    await cluster.query(
      large,
      'CREATE TABLE events (id int, payload text); INSERT INTO events SELECT i, md5(i::text) || md5((-i)::text) || md5((i * 31)::text) FROM generate_series(1, 1500000) i;',
    );
  });

  it('stops a scheduled backup that cannot finish in time, leaves no backup behind and returns the failure, so Lambda does not retry it', async () => {
    const deployed = deploy({ rds: { instanceIdentifier: 'orders-production' }, host: '127.0.0.1', databaseName: large }, vault);
    runAs(deployed);
    answerSecret({ username: cluster.user, password: cluster.password });
    // The whole backup takes 2 to 8 s here, so a second stops it in its dump or its upload (backup-abort.test.ts
    // stops one in its upload for sure).
    const { result, lines } = await captureOutput(() => handler(deployed.scheduledEvent, withBudget(1000)));
    expect(result).toMatchObject({
      status: 'fulfilled',
      value: {
        error: {
          name: 'DatabaseTooLargeForLambda',
          message: expect.stringMatching(
            /set "runner": "fargate" for database "orders" in the config, and its backups run on the Fargate runner/,
          ),
        },
      },
    });
    expect(await s3.listIncompleteUploads(vault)).toEqual([]);
    // Stopped in its upload, nothing is stored; stopped later (a loaded machine), the archive stays without its
    // manifest, which the runtime may not delete: no backup either way.
    expect((await s3.listKeys(vault)).filter(isManifestKey)).toEqual([]);
    expect(await listBackups(s3.client, vault)).toEqual([]);
    expect(metricsOf(lines)).toMatchObject({ Database: 'orders', BackupFailed: 1, BackupTooLargeForLambda: 1 });
    expect(lines.join('\n')).toMatch(/"errorName":"DatabaseTooLargeForLambda"/);
  });
});

describe("Lambda's time limit, for a caller who waits", () => {
  it('throws DatabaseTooLargeForLambda to a synchronous caller (console, CI), so the caller sees it', async () => {
    const vault = await s3.createBucket('deadline-sync');
    runAs(deploy({ rds: { instanceIdentifier: 'orders-production' }, host: '127.0.0.1', databaseName: database }, vault));
    answerSecret({ username: cluster.user, password: cluster.password });
    const { result, lines } = await captureOutput(() => handler({ trigger: 'pre-migration' }, withBudget(0)));
    expect(result).toMatchObject({ status: 'rejected', reason: { name: 'DatabaseTooLargeForLambda' } });
    expect(metricsOf(lines)).toMatchObject({ BackupFailed: 1, BackupTooLargeForLambda: 1 });
    expect(await s3.listKeys(vault)).toEqual([]);
  });

  it("returns DatabaseTooLargeForLambda to an alarm's asynchronous request, which Lambda would only retry", async () => {
    const vault = await s3.createBucket('deadline-alarm');
    runAs(deploy({ rds: { instanceIdentifier: 'orders-production' }, host: '127.0.0.1', databaseName: database }, vault));
    answerSecret({ username: cluster.user, password: cluster.password });
    const request = { trigger: 'alarm', alarm: { name: 'orders-5xx-rate', changedAt: '2026-11-23T10:50:12.345Z' } };
    const { result, lines } = await captureOutput(() => handler(request, withBudget(0)));
    expect(result).toMatchObject({ status: 'fulfilled', value: { error: { name: 'DatabaseTooLargeForLambda' } } });
    expect(metricsOf(lines)).toMatchObject({ BackupFailed: 1, BackupTooLargeForLambda: 1 });
    expect(await s3.listKeys(vault)).toEqual([]);
  });

  it('reports the share of its time a backup used: over half of it when a lock held it up', async () => {
    runAs(deploy({ rds: { instanceIdentifier: 'orders-production' }, host: '127.0.0.1', databaseName: database }));
    answerSecret({ username: cluster.user, password: cluster.password });
    // A migration holds the table for 3.5 s of the backup's 6 s; pg_dump waits for it.
    const migration = cluster.query(database, 'BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3.5); COMMIT;');
    const heldLocks =
      "SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'orders' AND l.mode = 'AccessExclusiveLock' AND l.granted";
    while ((await cluster.query(database, heldLocks)).length === 0) await sleep(20);
    const { result, lines } = await captureOutput(() => handler({ trigger: 'manual' }, withBudget(6000)));
    await migration;
    expect(result.status, JSON.stringify(result)).toBe('fulfilled');
    expect(metricsOf(lines).BackupTimeLimitUsed).toBeGreaterThan(50);
    expect(metricsOf(lines).BackupTimeLimitUsed).toBeLessThan(100);
  });
});

describe('a backup much smaller than the previous one', () => {
  it('records the drop in its manifest and publishes it as BackupShrinkPercent, which the first backup has none of', async () => {
    const vault = await s3.createBucket('shrink');
    const shrinking = await cluster.createDatabase('shrinking');
    await cluster.query(shrinking, 'CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 1000);');
    runAs(deploy({ rds: { instanceIdentifier: 'orders-production' }, host: '127.0.0.1', databaseName: shrinking }, vault));
    answerSecret({ username: cluster.user, password: cluster.password });
    const first = await captureOutput(() => handler({ trigger: 'manual' }, FIFTEEN_MINUTES));
    expect(first.result.status, JSON.stringify(first.result)).toBe('fulfilled');
    expect(metricsOf(first.lines)).not.toHaveProperty('BackupShrinkPercent');

    await cluster.query(shrinking, 'DELETE FROM orders WHERE id > 100');
    const { result, lines } = await captureOutput(() => handler({ trigger: 'manual' }, FIFTEEN_MINUTES));
    expect(result.status, JSON.stringify(result)).toBe('fulfilled');
    const { key } = (result as PromiseFulfilledResult<any>).value;
    expect((await readManifest(s3.client, vault, key)).comparison).toMatchObject({
      shrunkTables: [{ schema: 'public', name: 'orders', previousRows: 1000, rows: 100, dropPercent: 90 }],
      shrinkPercent: 90,
    });
    const emf = metricsOf(lines);
    expect(emf).toMatchObject({ Database: 'orders', BackupSucceeded: 1, BackupShrinkPercent: 90 });
    expect(emf._aws.CloudWatchMetrics[0].Metrics).toContainEqual({ Name: 'BackupShrinkPercent', Unit: 'Percent' });
  });
});
