import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../../lambdas/core/backup/pipeline.js';
import { fromUrl } from '../../../lambdas/core/postgres/connection.js';
import { runCli } from '../../support/cli.js';
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
