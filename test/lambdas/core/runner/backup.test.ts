import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { createHash, randomUUID } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isManifestKey } from '../../../../lambdas/core/vault/keys.js';
import { runBackupRunner, type BackupRunnerDeps } from '../../../../lambdas/core/runner/backup.js';
import { listBackups, readManifest } from '../../../../lambdas/core/vault/backups.js';
import { RUNNER_BACKUP_COMMAND } from '../../../../lambdas/core/runner/environment.js';
import { runnerExitCode } from '../../../../lambdas/core/exit-codes.js';
import { LifelineError } from '../../../../lambdas/core/errors.js';
import { sharedPostgres, sharedS3 } from '../../../support/shared.js';
import { fargateBackup, ORDERS_SECRET_ARN } from '../../../support/stacks.js';

const pg = sharedPostgres();
const s3 = sharedS3();
const secrets = mockClient(SecretsManagerClient);
const rds = mockClient(RDSClient);
const cloudwatch = mockClient(CloudWatchClient);
const sqs = mockClient(SQSClient);
const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/lifeline-vault-DeadLettersQueue631681B1-AbCdEfGhIjKl';

interface Deployed {
  /** The container's environment as synthesized, the vault bucket and the queue URL resolved to the test's. */
  environment: Record<string, string>;
  /** Its entry point and command. */
  command: string[];
  /** The dimensions the database's alarms read. */
  alarmDimensions: { Name: string; Value: string }[];
}

/** Synthesizes the example deployment with one database, "orders", backed up on Fargate, and reads its task definition. */
function deploy(bucket: string): Deployed {
  const deployed = fargateBackup({ port: pg.port });
  // Only the vault's name and the queue's URL are deploy-time values; everything else is fixed at synth.
  const variables = Object.fromEntries(
    (deployed.container.Environment as { Name: string; Value: unknown }[]).map((v) => [v.Name, v.Value]),
  );
  expect(variables.VAULT_BUCKET).toHaveProperty('Fn::Join');
  expect(variables.BACKUP_DEAD_LETTER_QUEUE_URL).toHaveProperty('Fn::ImportValue');
  const [stale] = Object.values(
    deployed.template.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: 'lifeline-orders-backup-stale' } }),
  );
  return {
    environment: deployed.environment(bucket, QUEUE_URL),
    command: deployed.command,
    alarmDimensions: stale!.Properties.Dimensions,
  };
}

/** A loopback port nothing listens on: connecting to it is refused at once. */
async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** What the secret answers: Secrets Manager's shape, a self-managed secret's fields when `fields` has them. */
const secretValue = (fields: Record<string, unknown>) => ({
  ARN: ORDERS_SECRET_ARN,
  Name: 'rds!db-orders',
  SecretString: JSON.stringify({ username: pg.user, password: pg.password, ...fields }),
  VersionId: randomUUID(),
  VersionStages: ['AWSCURRENT'],
});

interface Run {
  code: number;
  stdout: string[];
  stderr: string[];
  /** The waits between attempts. */
  waits: number[];
  /** Each PutMetricData's metrics. */
  metrics: { MetricName?: string; Unit?: string; Value?: number; Dimensions?: { Name?: string; Value?: string }[] }[][];
  deadLetters: { QueueUrl?: string; body: any }[];
}

/** `lifeline runner backup` in-process, as the task runs it: its environment, the image's, and the AWS clients. */
async function run(env: Record<string, string>, options: Pick<BackupRunnerDeps, 'signal' | 'sleep'> = {}): Promise<Run> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waits: number[] = [];
  const code = await runBackupRunner(env, {
    s3: s3.client,
    secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
    rds: new RDSClient({ region: 'eu-west-1' }),
    cloudwatch: new CloudWatchClient({ region: 'eu-west-1' }),
    sqs: new SQSClient({ region: 'eu-west-1' }),
    signal: options.signal,
    sleep: (ms, signal) => {
      waits.push(ms);
      return options.sleep?.(ms, signal) ?? Promise.resolve();
    },
    stdout: (line) => stdout.push(line),
    stderr: (line) => stderr.push(line),
  });
  const printed = [...stdout, ...stderr].join('\n');
  expect(printed).not.toContain(pg.password);
  return {
    code,
    stdout,
    stderr,
    waits,
    metrics: cloudwatch.commandCalls(PutMetricDataCommand).map((call) => call.args[0].input.MetricData ?? []),
    deadLetters: sqs.commandCalls(SendMessageCommand).map((call) => ({
      QueueUrl: call.args[0].input.QueueUrl,
      body: JSON.parse(call.args[0].input.MessageBody!),
    })),
  };
}

beforeEach(() => {
  // Each answers as its API does: PutMetricData with nothing, SendMessage with the message's id and body digest.
  cloudwatch.on(PutMetricDataCommand).resolves({});
  sqs
    .on(SendMessageCommand)
    .callsFake(({ MessageBody }: { MessageBody: string }) =>
      Promise.resolve({ MessageId: randomUUID(), MD5OfMessageBody: createHash('md5').update(MessageBody).digest('hex') }),
    );
});
afterEach(() => {
  for (const mock of [secrets, rds, cloudwatch, sqs]) mock.reset();
});

describe('lifeline runner backup (a Fargate backup task), as its task definition runs it', () => {
  let bucket: string;
  let database: string;
  let deployed: Deployed;
  beforeAll(async () => {
    bucket = await s3.createBucket('runner-backup');
    database = await pg.createDatabase('runner_orders');
    await pg.query(database, 'CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 1000);');
    deployed = deploy(bucket);
  });

  it('backs up the database its environment names, from an RDS-managed secret and RDS, into the vault with its manifest', async () => {
    expect(deployed.command).toEqual(RUNNER_BACKUP_COMMAND);
    secrets.on(GetSecretValueCommand, { SecretId: ORDERS_SECRET_ARN }).resolves(secretValue({}));
    rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-production' }).resolves({
      DBInstances: [{ DBInstanceIdentifier: 'orders-production', Endpoint: { Address: '127.0.0.1', Port: pg.port }, DBName: database }],
    });

    const { code, stdout, stderr, waits, metrics, deadLetters } = await run(deployed.environment);
    expect(stderr).toEqual([]);
    expect(code).toBe(0);
    expect(stdout).toHaveLength(1);
    const summary = JSON.parse(stdout[0]!);
    expect(Object.keys(summary).sort()).toEqual(['bytes', 'durationMs', 'key', 'manifestKey', 'sha256', 'tier']);
    expect((await listBackups(s3.client, bucket, 'orders')).map((backup) => backup.key)).toEqual([summary.key]);
    const manifest = await readManifest(s3.client, bucket, summary.key);
    expect(manifest).toMatchObject({ database: 'orders', trigger: 'schedule', tables: [{ name: 'orders', rows: 1000 }] });
    expect(manifest.source.databaseName).toBe(database);
    expect(waits).toEqual([]);
    expect(deadLetters).toEqual([]);

    // The function's metrics, less those about Lambda's time limit, with the dimensions the alarms read.
    expect(metrics).toHaveLength(1);
    expect(cloudwatch.commandCalls(PutMetricDataCommand)[0]!.args[0].input.Namespace).toBe('Lifeline');
    expect(metrics[0]!.map(({ MetricName, Unit, Value }) => ({ MetricName, Unit, Value }))).toEqual([
      { MetricName: 'BackupSucceeded', Unit: 'Count', Value: 1 },
      { MetricName: 'BackupBytes', Unit: 'Bytes', Value: summary.bytes },
      { MetricName: 'BackupDuration', Unit: 'Seconds', Value: summary.durationMs / 1000 },
    ]);
    const byName = (a: { Name?: string }, b: { Name?: string }) => a.Name!.localeCompare(b.Name!);
    for (const metric of metrics[0]!) expect([...metric.Dimensions!].sort(byName)).toEqual([...deployed.alarmDimensions].sort(byName));

    // The next backup compares itself with this one and publishes the drop.
    await pg.query(database, 'DELETE FROM orders WHERE id > 100');
    const next = await run(deployed.environment);
    expect(next.code).toBe(0);
    expect(next.metrics.at(-1)).toContainEqual(expect.objectContaining({ MetricName: 'BackupShrinkPercent', Unit: 'Percent', Value: 90 }));
  });

  it('tries again a minute after a failure another attempt may fix, and backs up once', async () => {
    const vault = await s3.createBucket('runner-retry');
    // A self-managed secret's endpoint wins over the config's and RDS's: the first read points nowhere.
    secrets
      .on(GetSecretValueCommand)
      .resolvesOnce(secretValue({ host: '127.0.0.1', port: await closedPort(), dbname: database }))
      .resolves(secretValue({ host: '127.0.0.1', port: pg.port, dbname: database }));

    const { code, stdout, stderr, waits, metrics, deadLetters } = await run({ ...deployed.environment, VAULT_BUCKET: vault });
    expect(code).toBe(0);
    expect(waits).toEqual([60_000]);
    expect(stderr).toEqual([
      expect.stringMatching(/^lifeline: attempt 1 of 3 failed: DatabaseUnreachable: cannot connect to .*; trying again in 60 s$/),
    ]);
    expect(await listBackups(s3.client, vault, 'orders')).toHaveLength(1);
    expect(JSON.parse(stdout[0]!).key).toMatch(/\/orders\//);
    expect(metrics.map((data) => data.map((metric) => metric.MetricName))).toEqual([
      ['BackupFailed'],
      ['BackupSucceeded', 'BackupBytes', 'BackupDuration'],
    ]);
    expect(deadLetters).toEqual([]);
    expect(rds.calls()).toHaveLength(0);
  });

  it('gives up after three attempts, as Lambda does: one dead letter naming the request and the error, no secret, and the exit code of the error', async () => {
    const vault = await s3.createBucket('runner-unreachable');
    secrets.on(GetSecretValueCommand).resolves(secretValue({ host: '127.0.0.1', port: await closedPort(), dbname: database }));

    const { code, stdout, stderr, waits, metrics, deadLetters } = await run({ ...deployed.environment, VAULT_BUCKET: vault });
    expect(code).toBe(runnerExitCode(new LifelineError('DatabaseUnreachable', '')));
    expect(code).toBe(12);
    expect(stdout).toEqual([]);
    expect(stderr.at(-1)).toMatch(/^lifeline: DatabaseUnreachable: cannot connect to /);
    expect(waits).toEqual([60_000, 120_000]);
    expect(metrics).toEqual([
      [expect.objectContaining({ MetricName: 'BackupFailed', Unit: 'Count', Value: 1 })],
      expect.anything(),
      expect.anything(),
    ]);
    expect(metrics.flat().map((metric) => metric.MetricName)).toEqual(['BackupFailed', 'BackupFailed', 'BackupFailed']);
    expect(deadLetters).toEqual([
      {
        QueueUrl: QUEUE_URL,
        body: {
          source: 'lifeline runner backup',
          database: 'orders',
          request: { trigger: 'schedule', tier: 'auto' },
          attempts: 3,
          error: { name: 'DatabaseUnreachable', message: expect.stringMatching(/^cannot connect to /) },
          failedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        },
      },
    ]);
    const letter = JSON.stringify(deadLetters);
    expect(letter).not.toContain(pg.password);
    expect(letter).not.toContain('SecretString');
    expect(await s3.listKeys(vault)).toEqual([]);
  });

  it('stops waiting for the next attempt when the task is stopped, and gives the request up as Interrupted', async () => {
    secrets.on(GetSecretValueCommand).resolves(secretValue({ host: '127.0.0.1', port: await closedPort(), dbname: database }));
    const stop = new AbortController();
    const { code, waits, deadLetters } = await run(deployed.environment, {
      signal: stop.signal,
      // StopTask during the minute's wait: the wait ends as node:timers/promises ends it.
      sleep: (_, signal) => {
        stop.abort();
        return Promise.reject(signal!.reason as Error);
      },
    });
    expect(code).toBe(17);
    expect(waits).toEqual([60_000]);
    expect(deadLetters.map((letter) => letter.body)).toEqual([
      expect.objectContaining({
        attempts: 1,
        error: { name: 'Interrupted', message: 'the backup task was stopped while it waited to try again' },
      }),
    ]);
  });

  it('does not try again what another attempt cannot fix: a config that names the wrong port', async () => {
    secrets.on(GetSecretValueCommand).resolves(secretValue({}));
    rds
      .on(DescribeDBInstancesCommand)
      .resolves({ DBInstances: [{ Endpoint: { Address: '127.0.0.1', Port: pg.port + 1 }, DBName: database }] });

    const { code, stderr, waits, metrics, deadLetters } = await run(deployed.environment);
    expect(code).toBe(runnerExitCode(new LifelineError('InvalidConfig', '')));
    expect(code).toBe(18);
    expect(waits).toEqual([]);
    expect(stderr).toEqual([expect.stringMatching(new RegExp(`^lifeline: InvalidConfig: .*listens on port ${pg.port + 1}`))]);
    expect(metrics.flat().map((metric) => metric.MetricName)).toEqual(['BackupFailed']);
    expect(deadLetters).toEqual([
      expect.objectContaining({
        body: expect.objectContaining({ attempts: 1, error: expect.objectContaining({ name: 'InvalidConfig' }) }),
      }),
    ]);
  });

  it('keeps a backup whose metrics cannot be published, and says so', async () => {
    secrets.on(GetSecretValueCommand).resolves(secretValue({ host: '127.0.0.1', port: pg.port, dbname: database }));
    cloudwatch
      .on(PutMetricDataCommand)
      .rejectsOnce(Object.assign(new Error('User is not authorized to perform: cloudwatch:PutMetricData'), { name: 'AccessDenied' }));
    const { code, stdout, stderr } = await run(deployed.environment);
    expect(code).toBe(0);
    expect(stdout).toHaveLength(1);
    expect(stderr).toEqual([
      'lifeline: warning: the metrics were not published: User is not authorized to perform: cloudwatch:PutMetricData',
    ]);
  });

  it('refuses a request or an environment that is not one, naming the variable, before it backs up or reports anything', async () => {
    const refused = [
      [{ LIFELINE_BACKUP_REQUEST: '{"trigger":"hourly"}' }, 10, /^lifeline: InvalidInput: invalid LIFELINE_BACKUP_REQUEST: trigger: /],
      [{ LIFELINE_BACKUP_REQUEST: '{"trigger": ' }, 10, /^lifeline: InvalidInput: LIFELINE_BACKUP_REQUEST is not JSON: /],
      [
        { LIFELINE_BACKUP_REQUEST: '{"database":"payroll"}' },
        10,
        /^lifeline: InvalidInput: invalid LIFELINE_BACKUP_REQUEST: unknown fields "database"/,
      ],
      [
        { BACKUP_DEAD_LETTER_QUEUE_URL: 'lifeline-dead-letters' },
        18,
        /^lifeline: InvalidConfig: invalid runner environment: BACKUP_DEAD_LETTER_QUEUE_URL: /,
      ],
      [{ BACKUP_TIME_ZONE: 'Mars/Olympus' }, 18, /^lifeline: InvalidConfig: invalid backup environment: BACKUP_TIME_ZONE: /],
    ] as const;
    for (const [change, exitCode, message] of refused) {
      const { code, stdout, stderr, metrics, deadLetters } = await run({ ...deployed.environment, ...change });
      expect(code, JSON.stringify(change)).toBe(exitCode);
      expect(stdout).toEqual([]);
      expect(stderr).toEqual([expect.stringMatching(message)]);
      expect(metrics).toEqual([]);
      expect(deadLetters).toEqual([]);
    }
    expect(secrets.calls()).toHaveLength(0);
  });
});

describe('lifeline runner backup stopped by ECS (SIGTERM)', () => {
  it('aborts its upload, leaves no manifest and no upload in progress, does not try again, and exits Interrupted', async () => {
    const vault = await s3.createBucket('runner-stopped');
    const large = await pg.createDatabase('runner_large');
    // Barely compressible: an archive of several 8 MiB parts, a multipart upload to stop in flight.
    await pg.query(
      large,
      'CREATE TABLE events (id int, payload text); INSERT INTO events SELECT i, md5(i::text) || md5((-i)::text) || md5((i * 31)::text) FROM generate_series(1, 500000) i;',
    );
    secrets.on(GetSecretValueCommand).resolves(secretValue({ host: '127.0.0.1', port: pg.port, dbname: large }));
    const stop = new AbortController();
    // As StopTask would, once S3 holds the backup's multipart upload.
    void (async () => {
      while ((await s3.listIncompleteUploads(vault)).length === 0) await sleep(10);
      stop.abort();
    })();

    const { code, stdout, stderr, waits, metrics, deadLetters } = await run(deploy(vault).environment, { signal: stop.signal });
    expect(stop.signal.aborted).toBe(true);
    expect(code).toBe(runnerExitCode(new LifelineError('Interrupted', '')));
    expect(code).toBe(17);
    expect(stdout).toEqual([]);
    expect(stderr).toEqual([expect.stringMatching(/^lifeline: Interrupted: the backup was interrupted; its upload was aborted$/)]);
    expect(waits).toEqual([]);
    expect(await s3.listIncompleteUploads(vault)).toEqual([]);
    expect((await s3.listKeys(vault)).filter(isManifestKey)).toEqual([]);
    expect(await listBackups(s3.client, vault)).toEqual([]);
    expect(metrics.flat().map((metric) => metric.MetricName)).toEqual(['BackupFailed']);
    expect(deadLetters.map((letter) => letter.body.error.name)).toEqual(['Interrupted']);
  });
});
