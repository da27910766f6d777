import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupResult } from '../../../../lambdas/core/backup/pipeline.js';
import { runRestoreRunner } from '../../../../lambdas/core/runner/restore.js';
import { RestoreJob, RESTORE_JOB_VARIABLE } from '../../../../lambdas/core/restore/job.js';
import { runnerExitCode } from '../../../../lambdas/core/exit-codes.js';
import { LifelineError } from '../../../../lambdas/core/errors.js';
import { runnerEnvironment } from '../../../../lambdas/core/runner/environment.js';
import { backUp, sharedPostgres, sharedS3 } from '../../../support/shared.js';
import { FakeStepFunctions, type RecordedExecution } from '../../../support/execution-history.js';
import type { ApprovalDecision } from '../../../../lambdas/core/workflows/approval.js';

const SERVER_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:lifeline/shop-admin-AbC123';
const RESTORE_STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:lifeline-restore';
const executionArn = (name: string) => `arn:aws:states:eu-west-1:123456789012:execution:lifeline-restore:${name}`;

const pg = sharedPostgres();
const s3 = sharedS3();
const secrets = mockClient(SecretsManagerClient);
/** Step Functions, which the runner asks about the execution an in-place job names. */
const sfn = new FakeStepFunctions();

describe('lifeline runner restore (the restore workflow’s Fargate task), in-process', () => {
  let bucket: string;
  let backup: BackupResult;
  let stagingDir: string;
  let source: string;

  beforeAll(async () => {
    source = await pg.createDatabase('runner_source');
    await pg.query(
      source,
      'CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 500) g',
    );
    bucket = await s3.createBucket('runner');
    backup = await backUp(pg, s3, { source, label: 'shop', bucket });
    stagingDir = await mkdtemp(path.join(os.tmpdir(), 'lifeline-runner-'));
    // The RDS secret JSON shape, as Secrets Manager returns it.
    secrets.on(GetSecretValueCommand, { SecretId: SERVER_SECRET }).resolves({
      ARN: SERVER_SECRET,
      Name: 'lifeline/shop-admin',
      SecretString: JSON.stringify({ engine: 'postgres', host: pg.host, port: pg.port, username: pg.user, password: pg.password }),
      VersionId: 'a1b2c3d4-5678-90ab-cdef-EXAMPLE11111',
      VersionStages: ['AWSCURRENT'],
    });
  });

  afterAll(async () => {
    secrets.reset();
    sfn.reset();
    await rm(stagingDir, { recursive: true, force: true });
  });

  /** The job the workflow's CreateTarget step writes, into a database it created empty. */
  async function job() {
    const database = await pg.createDatabase('runner_target');
    return RestoreJob.parse({
      key: backup.key,
      serverSecretArn: SERVER_SECRET,
      server: { host: pg.host, port: pg.port },
      database,
      role: null,
      inPlace: false,
      execution: executionArn(`into-${database}`),
      tables: null,
      schemas: null,
      jobs: 2,
      storageGiB: 21,
    });
  }

  /** The container's environment: the task definition's plus the state machine's override. */
  const environment = (vault: string, restoreJob: unknown) => ({
    ...runnerEnvironment({ bucket: vault, stagingDir }),
    [RESTORE_JOB_VARIABLE]: typeof restoreJob === 'string' ? restoreJob : JSON.stringify(restoreJob),
  });

  async function run(env: NodeJS.ProcessEnv) {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await runRestoreRunner(env, {
      s3: s3.client,
      secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
      sfn: new SFNClient({ region: 'eu-west-1' }),
      stdout: (line) => stdout.push(line),
      stderr: (line) => stderr.push(line),
    });
    const printed = [...stdout, ...stderr].join('\n');
    // Whatever happened, the server's password reached neither stream.
    expect(printed).not.toContain(pg.password);
    return { code, stdout, stderr };
  }

  it('restores the job into its database, prints one JSON result line, exits 0 and leaves nothing staged', async () => {
    const restoreJob = await job();
    const { code, stdout, stderr } = await run(environment(bucket, restoreJob));
    expect(stderr).toEqual([]);
    expect(code).toBe(0);
    expect(stdout).toHaveLength(1);
    const result = JSON.parse(stdout[0]!);
    expect(result).toMatchObject({ key: backup.key, target: `${pg.user}@${pg.host}:${pg.port}/${restoreJob.database}`, leftOut: [] });
    // The workflow's ValidateRestore counts the rows, as the application's role: the runner leaves them uncounted.
    expect(result.tables).toEqual([]);
    expect(await pg.query(restoreJob.database, 'SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 500 }]);
    expect(await readdir(stagingDir)).toEqual([]);
  });

  it('exits with InvalidInput’s code, naming the variable, for a job that is not one', async () => {
    for (const bad of ['{"key": ', JSON.stringify({ key: backup.key, database: 'x' })]) {
      const { code, stdout, stderr } = await run(environment(bucket, bad));
      expect(code).toBe(runnerExitCode(new LifelineError('InvalidInput', '')));
      expect(code).toBe(10);
      expect(stdout).toEqual([]);
      expect(stderr).toHaveLength(1);
      expect(stderr[0]).toMatch(/^lifeline: InvalidInput: (invalid )?LIFELINE_RESTORE_JOB/);
    }
  });

  it('exits with ChecksumMismatch’s code for a tampered archive, writing nothing into the target', async () => {
    // Same size, different bytes: only the SHA-256 check can tell.
    const tamperedBucket = await s3.createBucket('runner-tampered');
    const archive = Buffer.from(
      await (await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: backup.key }))).Body!.transformToByteArray(),
    );
    archive.writeUInt8(archive.readUInt8(archive.length - 10) ^ 0xff, archive.length - 10);
    const manifest = await (
      await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: backup.manifestKey }))
    ).Body!.transformToString();
    await s3.client.send(new PutObjectCommand({ Bucket: tamperedBucket, Key: backup.key, Body: archive }));
    await s3.client.send(new PutObjectCommand({ Bucket: tamperedBucket, Key: backup.manifestKey, Body: manifest }));

    const restoreJob = await job();
    const { code, stdout, stderr } = await run(environment(tamperedBucket, restoreJob));
    expect(code).toBe(15);
    expect(code).toBe(runnerExitCode(new LifelineError('ChecksumMismatch', '')));
    expect(stdout).toEqual([]);
    expect(stderr).toEqual([expect.stringMatching(/^lifeline: ChecksumMismatch: /)]);
    expect(await pg.query(restoreJob.database, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'")).toEqual([{ n: 0 }]);
  });

  describe('in place', () => {
    const approval: ApprovalDecision = {
      approver: 'arn:aws:sts::123456789012:assumed-role/oncall/alice',
      comment: 'restore the morning backup',
      decidedAt: '2026-03-02T09:15:00.000Z',
    };
    const lambda = { kind: 'service', resourceType: 'lambda', resource: 'invoke', timeoutSeconds: 300 } as const;
    const runTask = { kind: 'service', resourceType: 'ecs', resource: 'runTask.sync', timeoutSeconds: 86400 } as const;

    /** A job over the backup's source, as CreateTarget writes it in place. */
    const inPlaceJob = (execution: string) =>
      RestoreJob.parse({ ...JSON.parse(JSON.stringify(baseJob)), database: source, inPlace: true, jobs: 1, execution });
    let baseJob: RestoreJob;

    /**
     * An execution as Step Functions records the in-place path: CreateTarget, the approval asked and answered with
     * `answer` (none: RunRestore right after CreateTarget, as a hand-edited path would), then RunRestore asked `asked`.
     */
    function recorded(name: string, asked: RestoreJob, answer: ApprovalDecision | null): RecordedExecution {
      const state = { request: { database: 'shop', inPlace: true }, target: { database: asked.database, job: asked } };
      const execution = sfn.start(
        executionArn(name),
        RESTORE_STATE_MACHINE,
        { database: 'shop', inPlace: true },
        new Date('2026-03-02T09:00:00Z'),
      );
      execution.task('CreateTarget', { request: state.request }, lambda, { output: state });
      if (answer === null) return execution.task('RunRestore', state, runTask, { running: true });
      const waiting = { ...state, approvalRequest: { Subject: 'Lifeline: approve restoring shop in place' } };
      return (
        execution
          .flow('Choice', 'RestoresInPlace', state)
          .flow('Pass', 'PrepareInPlaceApproval', state, waiting)
          .task(
            'WaitForApproval',
            waiting,
            { kind: 'service', resourceType: 'sns', resource: 'publish.waitForTaskToken', timeoutSeconds: 3600 },
            { output: { ...waiting, approval: answer }, result: answer },
          )
          // VerifyApproval passes only the approve function's signed decisions, and changes nothing in the state.
          .task('VerifyApproval', { ...waiting, approval: answer }, lambda, { output: { ...waiting, approval: answer } })
          .flow('Choice', 'Approved', { ...waiting, approval: answer })
          .task('RunRestore', { ...waiting, approval: answer }, runTask, { running: true })
      );
    }

    const rows = async () => (await pg.query<{ n: number }>(source, 'SELECT count(*)::int AS n FROM orders'))[0]!.n;

    beforeAll(async () => {
      baseJob = await job();
    });

    it('is refused, before anything is written, unless the running execution it names approved exactly this job', async () => {
      await pg.query(source, 'INSERT INTO orders VALUES (501, $$added since the backup$$)');
      const approvedElsewhere = inPlaceJob(executionArn('approved-for-another-database'));
      recorded('approved-for-another-database', { ...approvedElsewhere, database: 'billing' }, approval);
      const ended = inPlaceJob(executionArn('ended'));
      recorded('ended', ended, approval).end('SUCCEEDED');
      const unapproved = inPlaceJob(executionArn('never-asked'));
      recorded('never-asked', unapproved, null);
      const refusals: [RestoreJob, RegExp][] = [
        [unapproved, /entered RunRestore after CreateTarget, not after a human's verified approval/],
        [ended, /is SUCCEEDED, not running/],
        [approvedElsewhere, /did not ask this job of RunRestore/],
        [inPlaceJob(executionArn('unknown')), /could not be read from Step Functions \(ExecutionDoesNotExist: /],
      ];
      for (const [refused, why] of refusals) {
        const { code, stdout, stderr } = await run(environment(bucket, refused));
        expect(code, stderr.join('\n')).toBe(10);
        expect(stdout).toEqual([]);
        expect(stderr).toEqual([
          expect.stringMatching(
            /^lifeline: InvalidInput: inPlace: the runner restores over a database only for a running restore execution in which a human approved it; /,
          ),
        ]);
        expect(stderr[0]).toMatch(why);
        expect(stderr[0]).toContain(`nothing was written to ${source}`);
        expect(await rows()).toBe(501);
      }
      expect(await readdir(stagingDir)).toEqual([]);
    });

    it('restores over the database once the execution it names, still running, approved it', async () => {
      const approved = inPlaceJob(executionArn('approved'));
      recorded('approved', approved, approval);
      const { code, stderr } = await run(environment(bucket, approved));
      expect(stderr).toEqual([]);
      expect(code).toBe(0);
      expect(await rows()).toBe(500);
      // Read as newest first, with the data: RunRestore's input holds the job asked, WaitForApproval's answer the decision.
      expect(sfn.historyRequests.at(-1)).toMatchObject({
        executionArn: executionArn('approved'),
        reverseOrder: true,
        includeExecutionData: true,
      });
    });
  });
});
