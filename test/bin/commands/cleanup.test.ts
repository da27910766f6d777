import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeStagingDirectory } from '../../../lambdas/core/restore/staging.js';
import { localExecutionName } from '../../../lambdas/core/workflows/local-executions.js';
import { runCli, startCli } from '../../support/cli.js';
import { ended, processesWith } from '../../support/processes.js';
import { backUp, sharedPostgres, sharedS3 } from '../../support/shared.js';

/**
 * A local restore killed midway (SIGKILL: no handler runs), and what it leaves: its pg_restore and workers, which
 * must end with it; its staging directory and its database, which `lifeline cleanup` or the next run removes.
 */
describe('a local restore killed midway, against PostgreSQL and the S3-compatible server', () => {
  const pg = sharedPostgres();
  const s3 = sharedS3();
  /** While this role exists, every row the restore copies waits (a CHECK calls public.hold): the restore is midway. */
  const hold = `lifeline_hold_${randomBytes(4).toString('hex')}`;
  let dir: string;
  let staging: string;
  let settingsFile: string;
  const targets: string[] = [];

  beforeAll(async () => {
    const source = await pg.createDatabase('crash_source');
    await pg.query(
      source,
      `CREATE FUNCTION public.hold(id int) RETURNS boolean LANGUAGE plpgsql AS $$
       BEGIN
         WHILE EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '${hold}') LOOP PERFORM pg_catalog.pg_sleep(0.05); END LOOP;
         RETURN true;
       END $$;
       CREATE TABLE held (id int CHECK (public.hold(id)));
       INSERT INTO held SELECT generate_series(1, 100);
       CREATE TABLE other (id int); INSERT INTO other SELECT generate_series(1, 100);`,
    );
    const bucket = await s3.createBucket('crash');
    await backUp(pg, s3, { source, label: 'crashy', bucket });
    dir = await mkdtemp(path.join(os.tmpdir(), 'lifeline-crash-'));
    staging = path.join(dir, 'staging');
    await mkdir(staging);
    settingsFile = path.join(dir, 'settings.json');
    await writeFile(settingsFile, JSON.stringify({ bucket, databases: [{ name: 'crashy', url: pg.url(source) }] }));
  });

  afterAll(async () => {
    await pg.query('postgres', `DROP ROLE IF EXISTS ${hold}`);
    for (const target of targets) await pg.query('postgres', `DROP DATABASE IF EXISTS "${target}" WITH (FORCE)`);
    await rm(dir, { recursive: true, force: true });
  });

  const markOf = async (database: string) =>
    (
      await pg.query<{ mark: string | null }>(
        'postgres',
        "SELECT shobj_description(oid, 'pg_database') AS mark FROM pg_database WHERE datname = $1",
        [database],
      )
    )[0]?.mark;

  async function runLocal(target: string) {
    const input = path.join(dir, `input-${target}.json`);
    await writeFile(input, JSON.stringify({ database: 'crashy', target: { database: target } }));
    return [
      'run',
      'restore',
      '--local',
      '--input',
      input,
      '--settings',
      settingsFile,
      '--s3-endpoint',
      s3.endpoint,
      '--staging-dir',
      staging,
    ];
  }

  /** A local run of a restore into `target`, killed while pg_restore copies rows; what it left. */
  async function killedMidway(target: string) {
    targets.push(target);
    await pg.query('postgres', `CREATE ROLE ${hold}`);
    const run = startCli(await runLocal(target));
    try {
      // pg_restore's session waits in public.hold: the target has its tables, the archive is staged.
      const copying = "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event = 'PgSleep'";
      while ((await pg.query<{ n: number }>('postgres', copying, [target]))[0]!.n === 0) {
        if (run.process.exitCode !== null) throw new Error(`the run ended before the restore was midway: ${(await run.finished).stderr}`);
        await sleep(50);
      }
      const workers = processesWith(staging);
      expect(workers.length).toBeGreaterThan(0);
      run.process.kill('SIGKILL');
      await run.finished;
      // Before the rows may go on (the role dropped below): a pg_restore left running would then finish the restore.
      return { workers, gone: await ended(workers) };
    } finally {
      run.process.kill('SIGKILL');
      await pg.query('postgres', `DROP ROLE IF EXISTS ${hold}`);
    }
  }

  it('leaves no pg_restore running; lifeline cleanup removes its staging directory and database, and keeps what others may still use', async () => {
    const target = `crash_killed_${Date.now()}`;
    const { workers, gone } = await killedMidway(target);
    // pg_restore and its workers ended with the run that started them.
    expect(gone).toEqual(workers);
    const left = await readdir(staging);
    expect(left).toEqual([expect.stringMatching(/^lifeline-restore-[0-9a-f]{8}-[0-9a-f]+-[0-9a-f]+-\w{6}$/)]);
    expect(await markOf(target)).toMatch(/^lifeline restore arn:aws:states:us-east-1:000000000000:execution:local:[0-9a-f-]+$/);

    // What runs that may still go left: a staging directory of this (running) process, a database of a local
    // execution of this process, one of an execution in AWS.
    const live = await makeStagingDirectory(staging);
    const [ours, aws] = [`crash_live_${Date.now()}`, `crash_aws_${Date.now()}`];
    const awsExecution = 'arn:aws:states:eu-west-1:123456789012:execution:lifeline-restore:nightly-drill';
    const ourExecution = `arn:aws:states:us-east-1:000000000000:execution:local:${localExecutionName()}`;
    for (const [database, execution] of [
      [ours, ourExecution],
      [aws, awsExecution],
    ] as const) {
      targets.push(database);
      await pg.query('postgres', `CREATE DATABASE "${database}"`);
      await pg.query('postgres', `COMMENT ON DATABASE "${database}" IS 'lifeline restore ${execution}'`);
    }

    const { code, stdout, stderr } = await runCli(['cleanup', '--settings', settingsFile, '--staging-dir', staging]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    const server = `${pg.host}:${pg.port}`;
    expect(lines).toContain(
      `removed staging directory ${path.join(staging, left[0]!)}: the restore that staged it died: process ${parseInt(left[0]!.split('-')[3]!, 16)} of this machine, which no longer runs`,
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^removed database ${target} on ${server}: the local execution that created it, arn:\\S+ \\(ended ABORTED\\), died before its Cleanup: process \\d+ of this machine, which no longer runs$`,
        ),
      ),
    );
    expect(lines).toContain(
      `kept staging directory ${live}: its restore still runs: process ${process.pid} of this machine, which still runs`,
    );
    expect(lines).toContain(
      `kept database ${ours} on ${server}: the local execution that marked it, ${ourExecution} (RUNNING), may still run`,
    );
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^kept database ${aws} on ${server}: execution ${awsExecution} marked it: in AWS, `)),
    );
    expect(await markOf(target)).toBeUndefined();
    expect(await readdir(staging)).toEqual([path.basename(live)]);
    expect(await markOf(ours)).toBe(`lifeline restore ${ourExecution}`);
    expect(await markOf(aws)).toBe(`lifeline restore ${awsExecution}`);
    await rm(live, { recursive: true });
  });

  it('the next local run removes what the killed one left before it starts, and says so', async () => {
    const killed = `crash_before_${Date.now()}`;
    await killedMidway(killed);
    const left = await readdir(staging);
    expect(left).toHaveLength(1);

    const next = `crash_after_${Date.now()}`;
    targets.push(next);
    const { code, stdout, stderr } = await runCli(await runLocal(next));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    const removed = lines.indexOf(
      `removed staging directory ${path.join(staging, left[0]!)}: the restore that staged it died: process ${parseInt(left[0]!.split('-')[3]!, 16)} of this machine, which no longer runs`,
    );
    expect(removed).toBeGreaterThanOrEqual(0);
    expect(removed).toBeLessThan(lines.indexOf('> ValidateInput'));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^removed database ${killed} on ${pg.host}:${pg.port}: `)));
    expect(await markOf(killed)).toBeUndefined();
    expect(await pg.query(next, 'SELECT count(*)::int AS n FROM held')).toEqual([{ n: 100 }]);
    expect(await readdir(staging)).toEqual([]);
  });
});
