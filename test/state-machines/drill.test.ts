import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BackupResult } from '../../lambdas/core/backup/pipeline.js';
import { DrillRunnerJob } from '../../lambdas/core/drill/drill.js';
import { DRILL_INPUT_EXAMPLES, DrillInput } from '../../lambdas/core/drill/input.js';
import { DrillReport, readDrillReport } from '../../lambdas/core/drill/report.js';
import { drillOverrides, type DrillSettings } from '../../lambdas/core/drill/steps.js';
import { runnerExitCode } from '../../lambdas/core/exit-codes.js';
import { restoreCatalogPath } from '../../lambdas/core/names.js';
import type { RestoreDatabase } from '../../lambdas/core/restore/catalog.js';
import { drillFromEnvironment } from '../../lambdas/core/runner/drill.js';
import { runnerEnvironment } from '../../lambdas/core/runner/environment.js';
import { inProcessTask, loadDefinition, runLocalExecution, type LambdaHandler } from '../../lambdas/core/workflows/local.js';
import { createS3Client } from '../../lambdas/core/vault/s3.js';
import { FakeSsm } from '../support/control-planes.js';
import { createRichDatabase } from '../support/fixture.js';
import { processesWith } from '../support/processes.js';
import { backUp, sharedPostgres, sharedS3 } from '../support/shared.js';
import { aslErrors, tasksFailingAnIdleFunction } from '../support/workflows.js';

const DEFINITION = 'state-machines/drill.asl.json';
const DRILL_STEPS_FUNCTION = 'arn:aws:lambda:us-east-1:000000000000:function:lifeline-drill';
const SUBSTITUTIONS = {
  DrillStepsFunctionArn: DRILL_STEPS_FUNCTION,
  DrillClusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/lifeline-drill',
};
const RUNNER_FAMILY = 'lifeline-drill-runner';

const pg = sharedPostgres();
const s3 = sharedS3();
const ssm = new FakeSsm();

/** The EMF metric lines printed while `run` runs, and its result. */
async function withMetrics<T>(run: () => Promise<T>): Promise<{ result: T; metrics: Record<string, any>[] }> {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
  try {
    const result = await run();
    const metrics = lines.flatMap((line) => {
      try {
        const parsed = JSON.parse(line) as Record<string, any>;
        return parsed._aws?.CloudWatchMetrics ? [parsed] : [];
      } catch {
        return [];
      }
    });
    return { result, metrics };
  } finally {
    spy.mockRestore();
  }
}

describe('drill.asl.json', () => {
  it('passes asl-validator, and every Lambda Task names its state and has a timeout', async () => {
    const definition = await loadDefinition(DEFINITION, SUBSTITUTIONS);
    expect(aslErrors(definition)).toBe('');
    expect(tasksFailingAnIdleFunction(definition)).toEqual([]);
    for (const [name, state] of Object.entries(definition.States) as [string, any][]) {
      if (state.Type !== 'Task') continue;
      expect(state.TimeoutSeconds ?? state.TimeoutSecondsPath, name).toBeDefined();
      if (state.Resource === DRILL_STEPS_FUNCTION) expect(state.Parameters['stateName.$'], name).toBe('$$.State.Name');
    }
    // Every way RunDrill ends is concluded: a report is stored and the outcome counted.
    expect((definition.States.RunDrill as any).Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Conclude' }]);
  });
});

describe('the drill workflow run locally against PostgreSQL and the S3-compatible server', () => {
  let bucket: string;
  let backup: BackupResult;
  /** Where each run gets a staging directory of its own; removed at the end. */
  let staging: string;
  let handler: LambdaHandler;
  let source: string;

  beforeAll(async () => {
    source = await pg.createDatabase('drill_wf_source');
    await createRichDatabase(pg, source);
    bucket = await s3.createBucket('drill-workflow');
    backup = await backUp(pg, s3, { source, label: 'shop', bucket });
    const entry: RestoreDatabase = {
      name: 'shop',
      secretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:lifeline/shop-admin-AbC123',
      rds: { instanceIdentifier: 'shop' },
      port: pg.port,
      network: 'private',
      stepsFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:lifeline-restore1-private',
      runner: { taskDefinition: 'lifeline-restore-runner-1', subnetIds: ['subnet-0a1b2c3d'], securityGroupIds: ['sg-0a1b2c3d'] },
      applications: [],
    };
    ssm.parameters.set(`${restoreCatalogPath('lifeline', 1)}/shop`, { value: JSON.stringify(entry), type: 'String' });
    const settings: DrillSettings = {
      deployment: 'lifeline',
      backupStacks: 1,
      bucket,
      runnerTaskDefinition: RUNNER_FAMILY,
      runnerVcpus: 2,
    };
    process.env.AWS_ENDPOINT_URL_S3 = s3.endpoint;
    process.env.LIFELINE_DRILL_SETTINGS = JSON.stringify(settings);
    ({ handler } = await import('../../lambdas/drill/handler.js'));
    staging = await mkdtemp(path.join(os.tmpdir(), 'lifeline-drill-wf-'));
    await chmod(staging, 0o755); // as root the server runs as the postgres user
  });

  afterAll(async () => {
    ssm.mock.reset();
    if (staging) await rm(staging, { recursive: true, force: true });
  });

  async function run(input: unknown, vaultBucket = bucket) {
    const stagingDir = await mkdtemp(path.join(staging, 'run-'));
    await chmod(stagingDir, 0o755);
    const ran: unknown[] = [];
    const overrides: { asl: unknown; core: unknown }[] = [];
    const vault = createS3Client({ endpoint: s3.endpoint });
    const { result, metrics } = await withMetrics(() =>
      runLocalExecution({
        definitionFile: DEFINITION,
        substitutions: SUBSTITUTIONS,
        input,
        functions: { [DRILL_STEPS_FUNCTION]: handler },
        tasks: {
          // ECS cannot run here: the runner's entry runs in this process, answered in runTask.sync's shape.
          RunDrill: async (parameters) => {
            const { TaskDefinition, NetworkConfiguration, Overrides } = parameters as Record<string, any>;
            ran.push({ TaskDefinition, NetworkConfiguration });
            return inProcessTask(async (environment) => {
              const job = DrillRunnerJob.parse(JSON.parse(environment.LIFELINE_DRILL_JOB!));
              overrides.push({ asl: Overrides, core: drillOverrides({ storageGiB: Overrides.EphemeralStorage.SizeInGiB, job }) });
              const env = { ...runnerEnvironment({ bucket: vaultBucket, stagingDir }), ...environment };
              await drillFromEnvironment(env, { s3: vault });
            }, runnerExitCode)(parameters);
          },
        },
        notify: () => undefined,
        answer: () => Promise.reject(new Error('no approval expected')),
        retryIntervals: { RunDrill: 0, Conclude: 0 },
      }),
    );
    return { ...result, metrics, ran, overrides, left: await readdir(stagingDir), processes: processesWith(stagingDir) };
  }

  it('PASSED: restores the latest backup inside the runner, validates it, stores the report and counts it', async () => {
    const result = await run({
      database: 'shop',
      smokeChecks: [{ name: 'invoices', sql: 'SELECT count(*) > 0 FROM "Billing"."Invoice"' }],
    });
    expect(result.error ?? null, result.cause).toBeNull();
    expect(result.status).toBe('SUCCEEDED');
    expect(result.states).toEqual(['ValidateInput', 'RunDrill', 'Conclude', 'Verdict', 'Passed']);
    const output = result.output as any;
    expect(output).toMatchObject({ database: 'shop', verdict: 'PASSED', error: null });
    expect(output.reportKey).toMatch(/^drills\/shop\/\d{4}\/\d{2}\/\d{2}\/\d{8}T\d{6}\.\d{3}Z-.+\.json$/);
    const stored = await readDrillReport(s3.client, bucket, output.reportKey);
    expect(stored).toEqual(DrillReport.parse(output.report));
    expect(stored).toMatchObject({
      verdict: 'PASSED',
      execution: result.executionArn,
      backup: { key: backup.key },
      validation: { passed: true, tables: { checked: backup.manifest.tables.length, failed: 0 }, smokeChecks: [{ passed: true }] },
    });
    // The drill runner, in the database's network as the restore catalog places it.
    expect(result.ran).toEqual([
      {
        TaskDefinition: RUNNER_FAMILY,
        NetworkConfiguration: {
          AwsvpcConfiguration: { Subnets: ['subnet-0a1b2c3d'], SecurityGroups: ['sg-0a1b2c3d'], AssignPublicIp: 'DISABLED' },
        },
      },
    ]);
    expect(JSON.stringify(result.overrides[0]!.asl)).toBe(JSON.stringify(result.overrides[0]!.core));
    const [emf, ...more] = result.metrics;
    expect(more).toEqual([]);
    expect(emf).toMatchObject({
      Database: 'shop',
      service: 'lifeline-drill',
      DrillSucceeded: 1,
      RestoreSeconds: stored!.restoreSeconds,
      RestoreSecondsPerGiB: stored!.restoreSecondsPerGiB,
    });
    expect(result.left).toEqual([]);
    expect(result.processes).toEqual([]);
  });

  it('FAILED: a check the restored database fails ends DrillFailed with the reason, reported and counted', async () => {
    const result = await run({ database: 'shop', smokeChecks: [{ name: 'empty', sql: 'SELECT count(*) = 0 FROM "Billing"."Invoice"' }] });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DrillFailed');
    expect(result.cause).toMatch(/smoke check "empty" returned false, not true/);
    expect(result.metrics).toEqual([expect.objectContaining({ Database: 'shop', DrillFailed: 1 })]);
    expect(result.left).toEqual([]);
    expect(result.processes).toEqual([]);
  });

  it('FAILED: a runner that fails without a report is concluded with a report naming its exit', async () => {
    const result = await run({ database: 'shop' }, 'no-such-vault');
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DrillFailed');
    expect(result.cause).toMatch(/^(StorageFailed|BackupNotFound): the runner .* stopped with exit code 1[34]/);
    expect(result.metrics).toEqual([expect.objectContaining({ DrillFailed: 1 })]);
    const keys = await s3.listKeys(bucket);
    expect(keys.filter((key) => key.startsWith('drills/shop/')).length).toBeGreaterThanOrEqual(2);
  });

  it('TIMED_OUT: a drill past its time ends DrillTimedOut, its server removed', async () => {
    const result = await run({
      database: 'shop',
      timeoutMinutes: 1,
      smokeChecks: [{ name: 'slow', sql: 'SELECT pg_sleep(100) IS NOT NULL' }],
    });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('DrillTimedOut');
    expect(result.cause).toBe('the drill did not finish within its 60 s');
    expect(result.left).toEqual([]);
    expect(result.processes).toEqual([]);
  });

  it('a bad input or a database without backups ends in ValidateInput, with nothing run or stored', async () => {
    const before = await s3.listKeys(bucket);
    for (const [input, error, cause] of [
      [{ database: 'billing' }, 'InvalidInput', /database: \\"billing\\" is not a configured database of deployment lifeline/],
      [{ database: 'shop', colour: 'red' }, 'InvalidInput', /Unrecognized key: \\"colour\\"/],
      [{ database: 'shop', backup: 'random', withinDays: 0 }, 'InvalidInput', /withinDays/],
    ] as const) {
      const result = await run(input);
      expect(result.status, JSON.stringify(input)).toBe('FAILED');
      expect(result.error).toBe(error);
      expect(result.cause).toMatch(cause);
      expect(result.states).toEqual(['ValidateInput']);
      expect(result.ran).toEqual([]);
    }
    expect(await s3.listKeys(bucket)).toEqual(before);
  });

  it("carries the drift since the previous drill's backup: a table added, rows that changed", async () => {
    await pg.query(source, 'CREATE TABLE app.drift_added (id int PRIMARY KEY); INSERT INTO app.drift_added SELECT generate_series(1, 7)');
    const later = await backUp(pg, s3, { source, label: 'shop', bucket });
    const result = await run({ database: 'shop' });
    expect(result.status, result.cause).toBe('SUCCEEDED');
    const { drift } = (result.output as any).report;
    expect(drift).toMatchObject({ fromKey: backup.key, toKey: later.key });
    expect(drift.lines.join('\n')).toMatch(/drift_added/);
    expect(drift.lines.join('\n')).toMatch(/rows: \d+ -> \d+ \(\+7\)/);
  });

  it('the daily check counts a database overdue until a drill of it passed within its days', async () => {
    const context = { getRemainingTimeInMillis: () => 60_000 };
    const check = (database: string, withinDays: number) =>
      withMetrics(() => handler({ step: 'freshness', database, withinDays }, context));
    const fresh = await check('shop', 1);
    expect(fresh.result).toMatchObject({ database: 'shop', overdue: false, lastPassed: expect.any(String) });
    expect(fresh.metrics).toEqual([expect.objectContaining({ Database: 'shop', service: 'lifeline-drill', DrillOverdue: 0 })]);
    const never = await check('ledger', 100);
    expect(never.result).toEqual({ database: 'ledger', overdue: true, lastPassed: null });
    expect(never.metrics).toEqual([expect.objectContaining({ Database: 'ledger', DrillOverdue: 1 })]);
  });

  it('accepts the console examples of its input schema', () => {
    for (const example of DRILL_INPUT_EXAMPLES) expect(DrillInput.safeParse(example).success, JSON.stringify(example)).toBe(true);
  });
});
