/**
 * The compensation of PITR executions that ended without their Cleanup (stopped, timed out, failed past every
 * Catch), read from Step Functions' record of them (the execution-history shapes) and acting on RDS as moto_server
 * serves it.
 */
import { CreateDBInstanceCommand, DescribeDBInstancesCommand, ModifyDBInstanceCommand, RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { asideIdentifier } from '../../../../lambdas/core/pitr/rename.js';
import { PITR_EXECUTION_TAG, type PitrRequest, type PitrSettings, type RestoreProgress } from '../../../../lambdas/core/pitr/state.js';
import { runPitrStep, validateInput } from '../../../../lambdas/core/pitr/steps.js';
import { fixedRestoreCatalog } from '../../../../lambdas/core/restore/catalog.js';
import type { CompensationNotice, CompensationResult } from '../../../../lambdas/core/workflows/compensation.js';
import { FakeStepFunctions, type RecordedExecution } from '../../../support/execution-history.js';
import { startMoto, type MotoServer } from '../../../support/moto.js';

const ACCOUNT = 'arn:aws:states:us-east-1:000000000000';
const MACHINE = `${ACCOUNT}:stateMachine:lifeline-pitr`;
const STEPS = 'arn:aws:lambda:us-east-1:000000000000:function:lifeline-pitr';
const APP_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:shop-api/connection-AbC123';
const settings: PitrSettings = {
  deployment: 'lifeline',
  backupStacks: 1,
  approvalTimeoutSeconds: 3600,
  networkFunctions: { private: 'arn:aws:lambda:us-east-1:000000000000:function:lifeline-pitr-private' },
  pollSeconds: 30,
  maxWaitSeconds: 3600,
  renameSources: true,
};
const catalog = fixedRestoreCatalog(
  ['shop', 'books'].map((name) => ({
    name,
    secretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:lifeline/admin-AbC123',
    port: 5432,
    rds: { instanceIdentifier: `${name}-production` },
    network: 'private',
    stepsFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:lifeline-restore1-private',
    runner: { taskDefinition: 'lifeline-restore-runner-1', subnetIds: ['subnet-1'], securityGroupIds: ['sg-1'] },
    applications: [{ name: `${name}-api`, connectionSecretArn: APP_SECRET }],
  })),
);

let moto: MotoServer;
let rds: RDSClient;
const stepFunctions = new FakeStepFunctions();
let notices: CompensationNotice[];
let waits: number[];
let now: Date;

const compensate = (executionArn: string, status = 'ABORTED') =>
  runPitrStep(
    { step: 'compensate', executionArn, status },
    {
      settings,
      catalog,
      rds,
      secrets: new SecretsManagerClient({}),
      now: () => now,
      compensation: {
        stepFunctions: new SFNClient({}),
        notify: (notice) => {
          notices.push(notice);
          return Promise.resolve();
        },
        sleep: (ms) => {
          waits.push(ms);
          now = new Date(now.getTime() + ms);
          return Promise.resolve();
        },
      },
    },
  ) as Promise<CompensationResult>;

const lambdaStep = (timeoutSeconds: number) => ({ kind: 'lambda' as const, functionArn: STEPS, timeoutSeconds });

async function instance(identifier: string) {
  try {
    return (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }))).DBInstances![0]!;
  } catch (error) {
    if ((error as Error).name === 'DBInstanceNotFoundFault') return undefined;
    throw error;
  }
}

async function createInstance(identifier: string, tags: { Key: string; Value: string }[] = []) {
  await rds.send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: identifier,
      DBInstanceClass: 'db.t4g.micro',
      Engine: 'postgres',
      MasterUsername: 'admin_user',
      MasterUserPassword: 'admin-password',
      AllocatedStorage: 20,
      DeletionProtection: tags.length > 0,
      // moto names an automated snapshot after the instance and the minute; none is needed here.
      BackupRetentionPeriod: 0,
      Tags: tags,
    }),
  );
}

interface Run {
  run: RecordedExecution;
  executionArn: string;
  state: Record<string, unknown>;
}

/** An execution of pitr.asl.json through StartRestore (its restore created, tagged, as moto holds it). */
async function throughStartRestore(name: string, input: Record<string, unknown> = {}): Promise<Run> {
  const executionArn = `${ACCOUNT}:execution:lifeline-pitr:${name}`;
  const startedAt = new Date('2026-11-23T10:50:00.000Z');
  const executionInput = { database: 'shop', restorePoint: 'latest', target: `shop-pitr-${name}`, ...input };
  const run = stepFunctions.start(executionArn, MACHINE, executionInput, startedAt);
  const validated = await validateInput(executionInput, { id: executionArn, startedAt: startedAt.toISOString() }, settings, catalog);
  const timing = { startedAt: startedAt.toISOString(), finishedAt: startedAt.toISOString() };
  const request: PitrRequest = { ...validated, timing };
  run.after(1).task('ValidateInput', executionInput, lambdaStep(60), { output: { request } });
  const point = { kind: 'latest', time: null, snapshot: null, window: { earliest: null, latest: null }, timing };
  run.after(1).task('ResolveRestorePoint', { request }, lambdaStep(120), { output: { request, point } });
  await createInstance(request.target.identifier, [{ Key: PITR_EXECUTION_TAG, Value: executionArn }]);
  const source = (await instance('shop-production'))!;
  const restore: RestoreProgress = {
    kind: 'instance',
    identifier: request.target.identifier,
    sourceResourceId: source.DbiResourceId!,
    writer: null,
    writerTemplate: null,
    copied: [],
    modify: {},
    status: 'creating',
    phase: 'waiting',
    polls: 0,
    startedAt: startedAt.toISOString(),
  };
  const state = { request, point, restore };
  run.after(1).task('StartRestore', { request, point }, lambdaStep(120), { output: state });
  return { run, executionArn, state };
}

beforeAll(async () => {
  moto = await startMoto();
  rds = new RDSClient({ ...moto.clientConfig, maxAttempts: 1 });
  await createInstance('shop-production');
});

afterAll(async () => {
  stepFunctions.reset();
  await moto?.stop();
});

beforeEach(() => {
  notices = [];
  waits = [];
  now = new Date('2026-11-23T11:00:00.000Z');
});

describe('the compensation of a PITR execution that ended without its Cleanup', () => {
  it("deletes the restore of one stopped while waiting for it (deletion protection off first), never the source nor another execution's", async () => {
    const current = await throughStartRestore('stopped-waiting');
    current.run.after(1).flow('Wait', 'WaitForRestore', current.state).after(5).end('ABORTED');
    const other = await throughStartRestore('bystander');
    const target = (current.state.request as PitrRequest).target.identifier;

    const result = await compensate(current.executionArn);
    expect(result).toMatchObject({ status: 'ABORTED', compensated: true, reason: `deleted ${target}` });
    expect(await instance(target)).toBeUndefined();
    expect(await instance((other.state.request as PitrRequest).target.identifier)).toBeDefined();
    expect(await instance('shop-production')).toBeDefined();
    expect(notices).toEqual([
      {
        subject: `Lifeline: PITR of shop was stopped: deleted ${target}`,
        message: `PITR of shop was stopped (ABORTED) in WaitForRestore before its Cleanup finished; this compensation did what its failure path does. Deleted ${target}, which this execution had restored. Execution ${current.executionArn}.`,
        page: false,
      },
    ]);

    // EventBridge delivers at least once: the second finds nothing of this execution's.
    const again = await compensate(current.executionArn);
    expect(again.reason).toBe('nothing to delete');
    expect(await instance('shop-production')).toBeDefined();
  });

  it('renames back a rename strategy stopped midway, the restore to its own identifier and the source to its, then deletes the restore', async () => {
    const current = await throughStartRestore('stopped-renaming', { strategy: 'rename' });
    const request = current.state.request as PitrRequest;
    const aside = asideIdentifier('shop-production', new Date(request.execution.startedAt));
    const target = request.target.identifier;
    // Both renames had gone through when it was stopped: the source aside, the restore under the source's identifier.
    const rename = (from: string, to: string) =>
      rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: from, NewDBInstanceIdentifier: to, ApplyImmediately: true }));
    await rename('shop-production', aside);
    await rename(target, 'shop-production');
    const renaming = {
      ...current.state,
      approval: { approver: 'arn:aws:sts::000000000000:assumed-role/oncall/alice', comment: null, decidedAt: '2026-11-23T10:55:00.000Z' },
      rename: {
        source: 'shop-production',
        aside,
        target,
        phase: 'waiting',
        seen: '',
        renamed: [`shop-production -> ${aside}`],
        polls: 3,
        startedAt: '2026-11-23T10:55:00.000Z',
        finishedAt: null,
      },
    };
    current.run.after(1).flow('Wait', 'WaitForRename', renaming).task('RenameIn', renaming, lambdaStep(120), { running: true });
    current.run.after(20).end('ABORTED');
    now = current.run.now;
    const source = (await instance(aside))!;

    const result = await compensate(current.executionArn);
    // Its RenameIn left running passed its time limit first (120 s after it was scheduled), then one look each 30 s.
    expect(waits).toEqual([100_000, 30_000, 30_000]);
    const back = await instance('shop-production');
    expect(back?.TagList ?? []).not.toContainEqual({ Key: PITR_EXECUTION_TAG, Value: current.executionArn });
    expect(back?.DbiResourceId).toBe(source.DbiResourceId);
    expect(await instance(aside)).toBeUndefined();
    expect(await instance(target)).toBeUndefined();
    expect(result).toMatchObject({ compensated: true, reason: `deleted ${target}` });
    expect(result.notice?.page).toBe(false);
    expect(result.notice?.message).toContain(
      `Renamed back (shop-production -> ${target}, ${aside} -> shop-production): shop-production is the source again. Deleted ${target}, which this execution had restored.`,
    );
  });

  it('acts on no execution that ended before StartRestore or ran its own Cleanup', async () => {
    const early = stepFunctions.start(`${ACCOUNT}:execution:lifeline-pitr:early`, MACHINE, {}, now);
    early.after(1).end('ABORTED');
    expect(await compensate(early.executionArn)).toMatchObject({
      compensated: false,
      reason: 'it ended before StartRestore: it created nothing',
    });

    const cleaned = await throughStartRestore('cleaned-up');
    const failure = { error: 'PitrTimedOut', cause: 'x', deleted: [], kept: [], subject: 's', message: 'm' };
    cleaned.run.after(1).fail('Failed', { ...cleaned.state, failure }, 'PitrTimedOut', 'x');
    expect(await compensate(cleaned.executionArn, 'FAILED')).toMatchObject({ compensated: false, reason: 'its own Cleanup ran' });
    expect(await instance((cleaned.state.request as PitrRequest).target.identifier)).toBeDefined();
    expect(notices).toEqual([]);
  });
});
