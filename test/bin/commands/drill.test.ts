import { readdir } from 'node:fs/promises';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupResult } from '../../../lambdas/core/backup/pipeline.js';
import { DrillReport } from '../../../lambdas/core/drill/report.js';
import { runCli } from '../../support/cli.js';
import { processesWith } from '../../support/processes.js';
import { backUp, sharedPostgres, sharedS3 } from '../../support/shared.js';

const pg = sharedPostgres();
const s3 = sharedS3();

describe('lifeline drill', () => {
  let bucket: string;
  let backup: BackupResult;
  let stagingDir: string;

  beforeAll(async () => {
    const source = await pg.createDatabase('drill_cli_source');
    await pg.query(
      source,
      'CREATE TABLE orders (id int PRIMARY KEY, total numeric); INSERT INTO orders SELECT g, g FROM generate_series(1, 300) g',
    );
    bucket = await s3.createBucket('drill-cli');
    backup = await backUp(pg, s3, { source, label: 'shop', bucket });
    stagingDir = await mkdtemp(path.join(os.tmpdir(), 'lifeline-drill-cli-'));
    await chmod(stagingDir, 0o755); // as root the server runs as the postgres user
  });

  afterAll(() => rm(stagingDir, { recursive: true, force: true }));

  const drill = (...args: string[]) =>
    runCli(['drill', '--database', 'shop', '--bucket', bucket, '--s3-endpoint', s3.endpoint, '--staging-dir', stagingDir, ...args]);

  it('drills the latest backup on a throwaway cluster and prints the report', async () => {
    const { code, stdout, stderr } = await drill('--smoke-check', 'orders=SELECT count(*) = 300 FROM orders');
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^PASSED: drill \(backup .*\) passed validation as lifeline_drill_owner/);
    expect(stdout).toContain(`backup    ${backup.key}`);
    expect(stdout).toContain('tables    1 of 1 match the manifest');
    expect(stdout).toContain('check     orders: passed');
    expect(stdout).toMatch(/teardown {2}server stopped, .* removed/);
    expect(await readdir(stagingDir)).toEqual([]);
    expect(processesWith(stagingDir)).toEqual([]);
  });

  it('prints the report as JSON, and exits 1 with DrillFailed when a check fails', async () => {
    const { code, stdout, stderr } = await drill('--json', '--smoke-check', 'none=SELECT count(*) = 0 FROM orders');
    expect(code).toBe(1);
    const report = DrillReport.parse(JSON.parse(stdout));
    expect(report).toMatchObject({ verdict: 'FAILED', database: 'shop', backup: { key: backup.key } });
    expect(report.reason).toMatch(/smoke check "none" returned false, not true/);
    expect(stderr).toContain('lifeline: DrillFailed: the drill of shop ended FAILED');
    expect(await readdir(stagingDir)).toEqual([]);
  });

  it('names what is wrong: a database without backups, a malformed check', async () => {
    const none = await runCli(['drill', '--database', 'billing', '--bucket', bucket, '--s3-endpoint', s3.endpoint]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('lifeline: BackupNotFound: no backup of "billing"');
    const bad = await drill('--smoke-check', 'no equals sign');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/InvalidInput: --smoke-check\[0\]: must be name=sql/);
  });
});
