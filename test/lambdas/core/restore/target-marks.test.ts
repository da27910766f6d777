import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { randomBytes } from 'node:crypto';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedRestoreCatalog } from '../../../../lambdas/core/restore/catalog.js';
import type { BackupUsed, RestoreRequest, RestoreSettings, CreatedTarget } from '../../../../lambdas/core/restore/state.js';
import { cleanup, createTarget, validateInput, type RestoreStepDeps } from '../../../../lambdas/core/restore/steps.js';
import { sharedPostgres } from '../../../support/shared.js';

const pg = sharedPostgres();
const secrets = mockClient(SecretsManagerClient);
const ADMIN_SECRET = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:lifeline/marks-admin-AbC123';
const runner = { taskDefinition: 'lifeline-restore-runner-1', subnetIds: ['subnet-0a1b2c3d'], securityGroupIds: ['sg-0a1b2c3d'] };
/** A label of this file's own, so that its default target names meet no other file's in the shared cluster. */
const label = `marks${randomBytes(3).toString('hex')}`;
const settings: RestoreSettings = { deployment: 'lifeline', backupStacks: 1, bucket: 'vault', approvalTimeoutSeconds: 60, runnerVcpus: 2 };
const catalog = fixedRestoreCatalog([
  {
    name: label,
    secretArn: ADMIN_SECRET,
    port: pg.port,
    rds: { instanceIdentifier: label },
    network: 'private',
    stepsFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:lifeline-restore1-private',
    runner,
    applications: [],
  },
]);
const deps: RestoreStepDeps = {
  settings,
  catalog,
  s3: new S3Client({}),
  secrets: new SecretsManagerClient({}),
  rds: new RDSClient({}),
};
/** The backup's source: a database other than every target here. */
const backup: BackupUsed = {
  key: `daily/${label}/2026/11/23/${label}-20261123T020000.000Z.dump`,
  tier: 'daily',
  takenAt: '2026-11-23T02:00:00.000Z',
  bytes: 4096,
  sha256: 'a'.repeat(64),
  migration: null,
  source: { host: pg.host, port: pg.port, databaseName: `${label}_source` },
  timing: { startedAt: '2026-11-23T10:50:01.000Z', finishedAt: '2026-11-23T10:50:02.000Z' },
};
const timing = { startedAt: '2026-11-23T10:50:02.000Z', finishedAt: '2026-11-23T10:50:03.000Z' };
const created: string[] = [];

/** An execution's request, as ValidateInput makes it; executions of one minute get one default target name. */
async function requestOf(executionName: string, startedAt: string, input: Record<string, unknown> = {}): Promise<RestoreRequest> {
  const execution = { id: `arn:aws:states:us-east-1:000000000000:execution:lifeline-restore:${executionName}`, startedAt };
  return { ...(await validateInput({ database: label, ...input }, execution, settings, catalog)), timing };
}

async function create(request: RestoreRequest): Promise<CreatedTarget> {
  const target = { ...(await createTarget(request, backup, deps)), timing };
  created.push(target.database);
  return target;
}

/** Cleanup after `request`'s execution failed with the target it holds. */
const failed = (request: RestoreRequest, target: CreatedTarget) =>
  cleanup({ request, backup, target, error: { Error: 'RestoreFailed', Cause: 'the runner stopped' } }, deps);

async function comment(database: string): Promise<string | null | undefined> {
  const rows = await pg.query<{ comment: string | null }>(
    'postgres',
    "SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1",
    [database],
  );
  return rows[0]?.comment;
}

beforeAll(() => {
  const value = { host: pg.host, port: pg.port, username: pg.user, password: pg.password, dbname: backup.source.databaseName };
  secrets.on(GetSecretValueCommand, { SecretId: ADMIN_SECRET }).resolves({ ARN: ADMIN_SECRET, SecretString: JSON.stringify(value) });
});

afterAll(async () => {
  for (const name of created) await pg.query('postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  secrets.reset();
});

describe("CreateTarget's mark on the database it creates", () => {
  it('makes a retry of the step after it succeeded find the database created, so that Cleanup still drops it', async () => {
    // A quote in the mark's text stays text.
    const request = await requestOf("retried-o'clock", '2026-11-23T10:51:07.000Z');
    const first = await create(request);
    expect(first.created).toBe(true);
    expect(await comment(first.database)).toBe(`lifeline restore ${request.execution.id}`);
    // Lambda's answer was lost: Step Functions runs the step again.
    const retried = await create(request);
    expect(retried).toMatchObject({ database: first.database, created: true });

    const failure = await failed(request, retried);
    expect(failure.dropped).toBe(first.database);
    expect(failure.message).toContain(`Dropped ${first.database}, which this execution had created.`);
    expect(await comment(first.database)).toBeUndefined();
  });

  it('refuses the default name to a second execution of the same minute, and leaves the first one its database', async () => {
    const first = await requestOf('first', '2026-11-23T10:52:05.000Z');
    const second = await requestOf('second', '2026-11-23T10:52:40.000Z');
    expect(second.target.database).toBe(first.target.database);
    // Still empty: the first's runner has not started yet.
    const target = await create(first);
    await expect(createTarget(second, backup, deps)).rejects.toMatchObject({
      name: 'InvalidInput',
      message:
        `target.database: "${target.database}" on ${pg.host}:${pg.port} is being restored by execution ${first.execution.id}; ` +
        'restore into another database',
    });
    expect(await comment(target.database)).toBe(`lifeline restore ${first.execution.id}`);
    // The second's Cleanup (it has no target) leaves it alone too.
    const failure = await cleanup({ request: second, backup, error: { Error: 'InvalidInput', Cause: 'refused' } }, deps);
    expect(failure).toMatchObject({ dropped: null, kept: null });
    expect(await comment(target.database)).toBe(`lifeline restore ${first.execution.id}`);
  });

  it("never lets Cleanup drop a database without its execution's mark, even one its state says it created", async () => {
    const owner = await requestOf('owner', '2026-11-23T10:53:00.000Z', { target: { database: `${label}_owned` } });
    const other = await requestOf('other', '2026-11-23T10:53:30.000Z', { target: { database: `${label}_owned` } });
    const target = await create(owner);
    const foreign = await failed(other, target);
    expect(foreign.dropped).toBeNull();
    expect(foreign.kept).toBe(target.database);
    expect(foreign.message).toContain(
      `Kept ${target.database}: it is not marked as created by this execution (execution ${owner.execution.id} marked it)`,
    );
    expect(await comment(target.database)).toBe(`lifeline restore ${owner.execution.id}`);

    // A database nobody marked (an operator's, taken empty) stays too.
    const unmarked = await pg.createDatabase(`${label}_operators`);
    created.push(unmarked);
    const operators = await requestOf('operators', '2026-11-23T10:54:00.000Z', { target: { database: unmarked } });
    const taken = await create(operators);
    expect(taken.created).toBe(false);
    const kept = await failed(operators, { ...taken, created: true });
    expect(kept).toMatchObject({ dropped: null, kept: unmarked });
    expect(kept.message).toContain('(it bears no mark)');
    expect(await comment(unmarked)).toBeNull();
  });
});
