import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../../lambdas/core/backup/pipeline.js';
import { fromUrl } from '../../../lambdas/core/postgres/connection.js';
import { runCli } from '../../support/cli.js';
import { connectPostgres, startPostgres, type PostgresCluster } from '../../support/postgres.js';
import { sharedPostgres, sharedS3 } from '../../support/shared.js';

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
    const target = /"database": "(shop_restored_\d{14})"/.exec(stdout)?.[1];
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
    // An in-place restore asks first.
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

  it("prints the first state's refusal as lifeline: <error>: <message>, not Lambda's error JSON", async () => {
    const refusal =
      'database: "billing" is not a configured database of deployment lifeline-local (its restore group lifeline-local-restore-1 has no catalog entry for it)';
    const { code, stdout, stderr } = await runLocal({ database: 'billing' });
    expect(code).toBe(1);
    expect(stdout).toContain('> ValidateInput');
    expect(stderr).toBe(`\nlifeline: InvalidInput: ${refusal}\n`);
    const json = await runLocal({ database: 'billing' }, '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'FAILED', error: 'InvalidInput', cause: refusal });
  });

  it('refuses --reject for an input that asks no approval, before anything starts', async () => {
    const { code, stdout, stderr } = await runLocal({ database: 'shop', tables: ['orders'] }, '--reject', 'wrong backup');
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      '\nlifeline: InvalidInput: --reject: this input asks no approval (only "inPlace": true and "cutover" do), so there is nothing to reject and the restore would go on; leave --reject out to run it\n',
    );
  });
});

describe('lifeline run restore --local against a server that asks no password and offers no TLS', () => {
  const s3 = sharedS3();
  let cluster: PostgresCluster;
  let dir: string;
  let settingsFile: string;

  beforeAll(async () => {
    cluster = await startPostgres({ tls: false, auth: 'trust' });
    await cluster.query('postgres', 'CREATE ROLE shop_app LOGIN');
    await cluster.query('postgres', 'CREATE DATABASE shop OWNER shop_app');
    const asApp = connectPostgres({ ...cluster, user: 'shop_app', password: '' });
    await asApp.query(
      'shop',
      'CREATE TABLE orders (id int PRIMARY KEY, total numeric); INSERT INTO orders SELECT g, g FROM generate_series(1, 30) g',
    );
    const url = (user: string, database: string) => `postgres://${user}@${cluster.host}:${cluster.port}/${database}`;
    const bucket = await s3.createBucket('run-local-trust');
    await runBackup({
      connection: fromUrl(url('postgres', 'shop')),
      database: 'shop',
      bucket,
      s3: s3.client,
      trigger: 'manual',
      tier: 'auto',
      timeZone: 'UTC',
    });
    dir = await mkdtemp(path.join(os.tmpdir(), 'lifeline-run-trust-'));
    settingsFile = path.join(dir, 'lifeline.local.json');
    // URLs without passwords, as for a local server with trust authentication.
    await writeFile(
      settingsFile,
      JSON.stringify({
        bucket,
        databases: [{ name: 'shop', url: url('postgres', 'shop') }],
        applications: [{ name: 'shop-api', database: 'shop', url: url('shop_app', 'shop') }],
      }),
    );
  });

  afterAll(async () => {
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function runLocal(input: object) {
    const inputFile = path.join(dir, `input-${Date.now()}.json`);
    await writeFile(inputFile, JSON.stringify(input));
    // No PGPASSWORD either: the server asks none.
    const args = ['run', 'restore', '--local', '--input', inputFile, '--settings', settingsFile, '--s3-endpoint', s3.endpoint];
    return runCli(args, { PGPASSWORD: undefined });
  }

  it('restores with URLs that carry no password', async () => {
    const { code, stdout, stderr } = await runLocal({ database: 'shop', target: { database: 'shop_trusted' } });
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('> Done');
    expect(await cluster.query('shop_trusted', 'SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 30 }]);
    expect(await cluster.query('shop_trusted', "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")).toEqual([
      { tableowner: 'shop_app' },
    ]);
  });

  it('warns once per run that the server offers no TLS, however many times the run connects to it', async () => {
    const { code, stderr } = await runLocal({ database: 'shop', target: { database: 'shop_plain' } });
    expect(code, stderr).toBe(0);
    const warnings = stderr.split('\n').filter((line) => line.includes('[LIFELINE_NO_TLS]'));
    expect(warnings).toEqual([expect.stringMatching(new RegExp(`offers no TLS: connected without encryption \\(sslmode=prefer\\)$`))]);
  });
});
