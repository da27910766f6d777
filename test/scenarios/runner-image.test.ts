import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBackups } from '../../lambdas/core/vault/backups.js';
import { RUNNER_BACKUP_COMMAND, RUNNER_USER } from '../../lambdas/core/runner/environment.js';
import { bundleOf, buildBundle, imageEnvironment } from '../support/dockerfile.js';
import { imageUserDir, type ImageUserDir } from '../support/image-user.js';
import { startJsonEndpoint, type JsonEndpoint } from '../support/json-endpoint.js';
import { serverBinDir } from '../support/postgres.js';
import { sharedPostgres, sharedS3 } from '../support/shared.js';
import { fargateBackup } from '../support/stacks.js';

const pg = sharedPostgres();
const s3 = sharedS3();

const execute = promisify(execFile);

/**
 * Runs `command` as Fargate runs the backup task's container: as RUNNER_USER's uid with the root filesystem
 * read-only (a mount namespace of its own, remounted read-only; /dev/shm too, which Fargate would leave writable).
 * It starts in `/`, a directory the user may enter as it may the image's WORKDIR; not in the checkout, which it may not.
 */
async function inReadOnlyContainer(command: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  const [uid] = RUNNER_USER.split(':');
  const script = 'mount -o remount,bind,ro / && mount -o remount,bind,ro /dev/shm && exec runuser -u "$(id -nu "$0")" -- "$@"';
  const sandbox = ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, uid!, ...command];
  return execute('unshare', sandbox, { cwd: '/', env: { PATH: process.env.PATH, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (failed: { code: number; stdout: string; stderr: string }) => ({ code: failed.code, stdout: failed.stdout, stderr: failed.stderr }),
  );
}

describe('the backup runner in the image, on a read-only root filesystem', () => {
  let dir: ImageUserDir;
  let bundle: string;
  let endpoint: JsonEndpoint;
  let bucket: string;
  let database: string;

  beforeAll(async () => {
    dir = await imageUserDir();
    bundle = path.join(dir.path, 'lifeline.mjs');
    await buildBundle('bin/lifeline.ts', bundle);
    database = await pg.createDatabase('read_only');
    await pg.query(database, 'CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 100);');
    bucket = await s3.createBucket('read-only');
    // Secrets Manager and CloudWatch as they answer; the child process cannot be reached by aws-sdk-client-mock.
    endpoint = await startJsonEndpoint({
      'secretsmanager.GetSecretValue': ({ SecretId }: { SecretId: string }) => ({
        ARN: SecretId,
        Name: 'rds!db-orders',
        SecretString: JSON.stringify({ username: pg.user, password: pg.password }),
        VersionId: 'a1b2c3d4-5678-90ab-cdef-EXAMPLE11111',
        VersionStages: ['AWSCURRENT'],
      }),
      'GraniteServiceVersion20100801.PutMetricData': () => ({}),
    });
  });
  afterAll(async () => {
    await endpoint?.close();
    await dir?.remove();
  });

  it('is a sandbox that refuses every write to the root filesystem, /tmp and HOME included', async () => {
    const { code, stderr } = await inReadOnlyContainer(['sh', '-c', 'touch /tmp/probe || touch "$HOME/probe" || touch /var/task/probe'], {
      HOME: '/',
    });
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/Read-only file system/);
  });

  it("backs up with the task definition's command and environment, writing nothing but to pipes and the network", async () => {
    const deployed = fargateBackup({ host: '127.0.0.1', port: pg.port, databaseName: database });
    expect(deployed.command).toEqual(RUNNER_BACKUP_COMMAND);
    const [, cli, ...args] = deployed.command;
    expect(cli).toBe((await bundleOf('bin/lifeline.ts')).inImage);

    const { code, stdout, stderr } = await inReadOnlyContainer([dir.node, bundle, ...args], {
      ...deployed.environment(bucket, `${endpoint.url}/123456789012/dead-letters`),
      // What the image's Dockerfile sets, with this machine's PostgreSQL client.
      PG_BIN_DIR: serverBinDir(),
      NODE_OPTIONS: (await imageEnvironment()).NODE_OPTIONS,
      // As in a task: the role's credentials and the region come from the environment, HOME is the read-only root.
      HOME: '/',
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint.url,
      AWS_ENDPOINT_URL_CLOUDWATCH: endpoint.url,
      AWS_ENDPOINT_URL_SQS: endpoint.url,
    });
    expect(stderr).not.toMatch(/EROFS|read-only|EACCES/i);
    expect(code, stderr).toBe(0);
    const summary = JSON.parse(stdout.trim());
    expect((await listBackups(s3.client, bucket, 'orders')).map((backup) => backup.key)).toEqual([summary.key]);
    expect(endpoint.calls.map((call) => call.target)).toEqual([
      'secretsmanager.GetSecretValue',
      'GraniteServiceVersion20100801.PutMetricData',
    ]);
    expect(endpoint.calls[1]!.body).toMatchObject({
      Namespace: 'Lifeline',
      MetricData: expect.arrayContaining([expect.objectContaining({ MetricName: 'BackupSucceeded' })]),
    });
  });
});
