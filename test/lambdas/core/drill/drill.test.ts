import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupResult } from '../../../../lambdas/core/backup/pipeline.js';
import { DRILL_OWNER, runDrill, type DrillJob } from '../../../../lambdas/core/drill/drill.js';
import { DrillReport } from '../../../../lambdas/core/drill/report.js';
import { serverBinDir, serverMajor } from '../../../../lambdas/core/postgres/throwaway-cluster.js';
import { backupKey, manifestKeyFor } from '../../../../lambdas/core/vault/keys.js';
import { createRichDatabase, RICH_DATABASE_LATEST_MIGRATION } from '../../../support/fixture.js';
import { processesWith } from '../../../support/processes.js';
import { backUp, sharedPostgres, sharedS3 } from '../../../support/shared.js';

const pg = sharedPostgres();
const s3 = sharedS3();

/** Reads an object of the test's bucket as text. */
async function objectText(bucket: string, key: string): Promise<string> {
  const object = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return object.Body!.transformToString();
}

describe('a restore drill into a throwaway PostgreSQL (runDrill)', () => {
  let bucket: string;
  let backup: BackupResult;
  /** Where each drill gets a staging directory of its own; removed at the end. */
  let staging: string;

  beforeAll(async () => {
    const source = await pg.createDatabase('drill_source');
    await createRichDatabase(pg, source);
    bucket = await s3.createBucket('drill');
    backup = await backUp(pg, s3, { source, label: 'shop', bucket });
    staging = await mkdtemp(path.join(os.tmpdir(), 'lifeline-drill-test-'));
    // As root the server runs as the postgres user, who must reach its directory in here.
    await chmod(staging, 0o755);
  });

  afterAll(async () => {
    if (staging) await rm(staging, { recursive: true, force: true });
  });

  const job = (overrides: Partial<DrillJob> = {}): DrillJob => ({
    database: 'shop',
    key: backup.key,
    execution: 'local-drill-test',
    smokeChecks: [{ name: 'invoices exist', sql: 'SELECT count(*) > 0 FROM "Billing"."Invoice"' }],
    timeoutSeconds: 600,
    jobs: 2,
    ...overrides,
  });

  /** Another backup's key, `ms` after the real one's. */
  const keyAfter = (ms: number) => backupKey(backup.manifest.tier, 'shop', new Date(Date.parse(backup.manifest.startedAt) + ms));

  /** Runs the drill in a staging directory of its own, and says what it left there and which of its processes still run. */
  async function drill(drillJob: DrillJob, signal?: AbortSignal) {
    const stagingDir = await mkdtemp(path.join(staging, 'drill-'));
    await chmod(stagingDir, 0o755);
    const run = runDrill(drillJob, { s3: s3.client, bucket, stagingDir, signal });
    const report = await run.catch((error: unknown) => error as Error);
    const processes = processesWith(stagingDir);
    return { report, left: await readdir(stagingDir), processes };
  }

  it('finds server binaries of the backup major or newer, and names what is missing', () => {
    const major = serverMajor(backup.manifest.source.serverVersion)!;
    expect(serverMajor('15.4 (Debian 15.4-1.pgdg120+1)')).toBe(15);
    const debian = serverBinDir({ major, variable: 'PG_SERVER_BIN_DIR', env: {} });
    expect(debian).toMatch(/\/usr\/lib\/postgresql\/\d+\/bin$/);
    expect(serverBinDir({ major, variable: 'PG_SERVER_BIN_DIR', env: { PG_SERVER_BIN_DIR: debian } })).toBe(debian);
    // The tests' and the CLI's variable is not the runner image's.
    expect(serverBinDir({ major, variable: 'PG_SERVER_BIN_DIR', env: { LIFELINE_PG_SERVER_BIN: '/nowhere' } })).toBe(debian);
    expect(() => serverBinDir({ major, variable: 'PG_SERVER_BIN_DIR', env: { PG_SERVER_BIN_DIR: '/nowhere' } })).toThrow(
      /^PG_SERVER_BIN_DIR: \/nowhere holds no initdb; .* install postgresql-\d+$/,
    );
    expect(() => serverBinDir({ major: 99, variable: 'PG_SERVER_BIN_DIR', env: {} })).toThrow(
      /no PostgreSQL server binaries of major 99 or newer .*; install postgresql-99 or set PG_SERVER_BIN_DIR/,
    );
  });

  it('PASSED: restores the latest backup, validates it as its owner, and removes the server', async () => {
    const { report, left, processes } = await drill(job());
    const passed = DrillReport.parse(report);
    expect(passed.verdict, passed.reason).toBe('PASSED');
    expect(passed.reason).toMatch(/passed validation as lifeline_drill_owner/);
    expect(passed.backup).toMatchObject({ key: backup.key, bytes: backup.bytes, takenAt: backup.manifest.startedAt });
    expect(passed.validation).toMatchObject({
      passed: true,
      validatedAs: DRILL_OWNER,
      tables: { checked: backup.manifest.tables.length, failed: 0 },
      migration: { ok: true, checked: true, actual: { name: RICH_DATABASE_LATEST_MIGRATION } },
      smokeChecks: [{ name: 'invoices exist', passed: true }],
    });
    expect(passed.restoreSeconds).toBeGreaterThan(0);
    expect(passed.restoreSecondsPerGiB).toBeGreaterThan(passed.restoreSeconds!);
    expect(passed.server).toMatch(/PostgreSQL\) \d+/);
    expect(passed.teardown).toMatch(/server stopped, .* removed/);
    // Nothing left: no cluster directory, no staged archive, no server process.
    expect(left).toEqual([]);
    expect(processes).toEqual([]);
  });

  it('FAILED: a failed smoke check fails the drill, and names it', async () => {
    const { report, left, processes } = await drill(
      job({ smokeChecks: [{ name: 'no invoices', sql: 'SELECT count(*) = 0 FROM "Billing"."Invoice"' }] }),
    );
    const failed = DrillReport.parse(report);
    expect(failed.verdict).toBe('FAILED');
    expect(failed.reason).toMatch(/smoke check "no invoices" returned false, not true/);
    expect(left).toEqual([]);
    expect(processes).toEqual([]);
  });

  it('FAILED: rows that differ from the manifest fail the drill, naming the table', async () => {
    // The same archive under a manifest whose count of one table is off by one, as a backup that lost a row would be.
    const manifest = JSON.parse(await objectText(bucket, manifestKeyFor(backup.key)));
    const table = manifest.tables.find((t: { name: string }) => t.name === 'InvoiceLine');
    table.rows += 1;
    const key = keyAfter(1);
    const archive = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: backup.key }));
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: await archive.Body!.transformToByteArray() }));
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: manifestKeyFor(key), Body: JSON.stringify({ ...manifest, key }) }));
    const { report, left, processes } = await drill(job({ key }));
    const failed = DrillReport.parse(report);
    expect(failed.verdict).toBe('FAILED');
    expect(failed.reason).toMatch(new RegExp(`Billing.InvoiceLine has ${table.rows - 1} rows, the backup ${table.rows}`));
    expect(failed.validation?.tables.failed).toBe(1);
    expect(left).toEqual([]);
    expect(processes).toEqual([]);
  });

  it('FAILED: a tampered archive is refused before anything is restored', async () => {
    const key = keyAfter(2);
    const archive = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: backup.key }));
    const bytes = await archive.Body!.transformToByteArray();
    bytes[bytes.length >> 1]! ^= 0xff;
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));
    const manifest = JSON.parse(await objectText(bucket, manifestKeyFor(backup.key)));
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: manifestKeyFor(key), Body: JSON.stringify({ ...manifest, key }) }));
    const { report, left, processes } = await drill(job({ key }));
    const failed = DrillReport.parse(report);
    expect(failed.verdict).toBe('FAILED');
    expect(failed.reason).toMatch(/^(ChecksumMismatch|RestoreFailed): /);
    expect(failed.restoreSeconds).toBeNull();
    expect(failed.validation).toBeNull();
    expect(failed.teardown).toMatch(/removed/);
    expect(left).toEqual([]);
    expect(processes).toEqual([]);
  });

  it("FAILED: another database's backup, before any server starts", async () => {
    const { report, left } = await drill(job({ database: 'ledger' }));
    const failed = DrillReport.parse(report);
    expect(failed.verdict).toBe('FAILED');
    expect(failed.reason).toBe(`InvalidInput: key: backup ${backup.key} is of database "shop", not "ledger"`);
    expect(failed.server).toBeNull();
    expect(left).toEqual([]);
  });

  it('FAILED: a backup that does not exist', async () => {
    const { report, left } = await drill(job({ key: backup.key.replace('.dump', '0.dump') }));
    const failed = DrillReport.parse(report);
    expect(failed.verdict).toBe('FAILED');
    expect(failed.reason).toMatch(/^BackupNotFound: /);
    expect(failed.server).toBeNull();
    expect(failed.teardown).toBeNull();
    expect(left).toEqual([]);
  });

  it('TIMED_OUT: past its time the drill stops the server under the running check, and removes it', async () => {
    const { report, left, processes } = await drill(
      job({ timeoutSeconds: 3, smokeChecks: [{ name: 'slow', sql: 'SELECT pg_sleep(50) IS NOT NULL' }] }),
    );
    const timedOut = DrillReport.parse(report);
    expect(timedOut.verdict).toBe('TIMED_OUT');
    expect(timedOut.reason).toBe('the drill did not finish within its 3 s');
    expect(timedOut.validation).toBeNull();
    expect(left).toEqual([]);
    expect(processes).toEqual([]);
  });

  it('a stopped drill (SIGTERM) rejects with Interrupted, after removing its server', async () => {
    const stop = new AbortController();
    const slow = job({ smokeChecks: [{ name: 'slow', sql: 'SELECT pg_sleep(50) IS NOT NULL' }] });
    setTimeout(() => stop.abort(), 2_000);
    const { report, left, processes } = await drill(slow, stop.signal);
    expect(report).toMatchObject({ name: 'Interrupted' });
    expect(left).toEqual([]);
    expect(processes).toEqual([]);
  });
});
