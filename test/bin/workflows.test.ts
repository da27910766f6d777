import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../lambdas/core/backup/pipeline.js';
import { fromUrl } from '../../lambdas/core/postgres/connection.js';
import { runCli } from '../support/cli.js';
import { sharedPostgres, sharedS3 } from '../support/shared.js';

/** Any call to AWS from these commands would fail with a connection error, not with the error each test expects. */
const NO_AWS = {
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  AWS_ENDPOINT_URL_SFN: 'http://127.0.0.1:9',
  AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:9',
};

describe('the workflow commands refuse a bad request before calling AWS (exit code 2)', () => {
  it('start restore: checks the input with the state machine’s schema and words', async () => {
    const { code, stdout, stderr } = await runCli(['start', 'restore', '--database', 'shop', '--at', 'yesterday', '--jobs', '0'], NO_AWS);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      '\nlifeline: InvalidInput: invalid restore input: at: must be an ISO 8601 time with a zone, such as "2026-11-23T10:50:00Z"; jobs: Too small: expected number to be >=1\n',
    );
  });

  it('approve, reject, status: name what is not an execution ARN', async () => {
    const notAnArn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:lifeline-restore';
    for (const args of [
      ['approve', notAnArn],
      ['reject', notAnArn, '--reason', 'wrong backup'],
      ['status', notAnArn],
    ]) {
      const { code, stderr } = await runCli(args, NO_AWS);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).toBe(
        `\nlifeline: InvalidInput: "${notAnArn}" is not a Step Functions execution ARN (arn:aws:states:<region>:<account>:execution:<state machine>:<name>)\n`,
      );
    }
  });

  it('run restore: only with --local, and --approve or --reject, not both', async () => {
    const remote = await runCli(['run', 'restore', '--input', 'in.json', '--settings', 'local.json']);
    expect(remote.code).toBe(2);
    expect(remote.stderr).toContain('lifeline: InvalidInput: --local: is required');
    const both = await runCli([
      'run',
      'restore',
      '--local',
      '--input',
      'in.json',
      '--settings',
      'local.json',
      '--approve',
      '--reject',
      'no',
    ]);
    expect(both.stderr).toContain('lifeline: InvalidInput: --reject: give --approve or --reject, not both');
  });

  it('runner restore: exits with the code that names InvalidInput to the workflow, for a job that is not one', async () => {
    const { code, stdout, stderr } = await runCli(['runner', 'restore'], {
      ...NO_AWS,
      VAULT_BUCKET: 'vault',
      LIFELINE_STAGING_DIR: os.tmpdir(),
      LIFELINE_RESTORE_JOB: '{"key": "daily/shop/x.dump"}',
    });
    expect(code).toBe(10);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^lifeline: InvalidInput: invalid LIFELINE_RESTORE_JOB: serverSecretArn: /);
  });
});

describe('lifeline run restore --local, against PostgreSQL and the S3-compatible server', () => {
  const pg = sharedPostgres();
  const s3 = sharedS3();
  let dir: string;
  let settingsFile: string;
  let source: string;

  beforeAll(async () => {
    source = await pg.createDatabase('run_local_source');
    await pg.query(
      source,
      'CREATE TABLE orders (id int PRIMARY KEY, total numeric); INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 250) g',
    );
    const bucket = await s3.createBucket('run-local');
    await runBackup({
      connection: fromUrl(pg.url(source)),
      database: 'shop',
      bucket,
      s3: s3.client,
      trigger: 'manual',
      tier: 'auto',
      timeZone: 'UTC',
    });
    dir = await mkdtemp(path.join(os.tmpdir(), 'lifeline-run-local-'));
    settingsFile = path.join(dir, 'lifeline.local.json');
    await writeFile(
      settingsFile,
      JSON.stringify({
        bucket,
        databases: [{ name: 'shop', url: pg.url(source) }],
        applications: [{ name: 'shop-api', database: 'shop', url: pg.url(source) }],
        approvalTimeoutSeconds: 60,
      }),
    );
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function runLocal(input: object, ...flags: string[]) {
    const inputFile = path.join(dir, `input-${Date.now()}.json`);
    await writeFile(inputFile, JSON.stringify(input));
    const run = await runCli([
      'run',
      'restore',
      '--local',
      '--input',
      inputFile,
      '--settings',
      settingsFile,
      '--s3-endpoint',
      s3.endpoint,
      ...flags,
    ]);
    expect(`${run.stdout}${run.stderr}`).not.toContain(pg.password);
    return run;
  }

  it('restores {"database": "shop"} and prints each state, the notification and the outcome', async () => {
    const { code, stdout, stderr } = await runLocal({ database: 'shop' });
    const target = /"database": "(shop_restored_\d{12})"/.exec(stdout)?.[1];
    try {
      expect(stderr).toBe('');
      expect(code).toBe(0);
      // Each state as it is entered, and the notification after the state that sent it.
      const states = stdout.split('\n').filter((line) => line.startsWith('> '));
      expect(states[0]).toBe('> ValidateInput');
      expect(states.slice(-3)).toEqual(['> Summarize', '> Notify', '> Done']);
      expect(states.indexOf('> RunRestore')).toBeLessThan(states.indexOf('> ValidateRestore'));
      expect(stdout).toContain(`> Notify\n[Notify -> lifeline-local-notifications] Lifeline: shop restored into ${target}\n`);
      expect(stdout).toMatch(/\nSUCCEEDED arn:aws:states:us-east-1:000000000000:execution:local:[0-9a-f-]+\n\{/);
      expect(await pg.query(target!, 'SELECT count(*)::int AS n, sum(total)::text AS total FROM orders')).toEqual(
        await pg.query(source, 'SELECT count(*)::int AS n, sum(total)::text AS total FROM orders'),
      );
    } finally {
      if (target) await pg.query('postgres', `DROP DATABASE IF EXISTS "${target}" WITH (FORCE)`);
    }
  });

  it('--reject ends the run with Rejected before anything is written, the source untouched', async () => {
    // An in-place restore asks first (a local run cannot cut over yet, so cutover cannot be what asks).
    const { code, stdout, stderr } = await runLocal({ database: 'shop', inPlace: true }, '--reject', 'wrong backup', '--json');
    expect(code).toBe(1);
    expect(stderr).toMatch(/^\nlifeline: Rejected: wrong backup \(rejected by .+ \(local run\)\)\n$/);
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({ status: 'FAILED', error: 'Rejected' });
    expect(result.states.slice(-3)).toEqual(['Cleanup', 'NotifyFailure', 'Failed']);
    expect(result.notifications.map((n: { state: string }) => n.state)).toEqual(['WaitForApproval', 'NotifyFailure']);
    expect(result.states).not.toContain('RunRestore');
    expect(await pg.query(source, 'SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 250 }]);
  });
});
