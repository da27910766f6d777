import { RDSClient } from '@aws-sdk/client-rds';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { fixedRestoreCatalog, type RestoreCatalog } from '../../lambdas/core/restore/catalog.js';
import type { BackupUsed, RestoreSettings } from '../../lambdas/core/restore/state.js';
import type { RestoreStepDeps } from '../../lambdas/core/restore/steps.js';
import type { PostgresDatabases } from './postgres.js';

/** The restore group's steps function in the database's network. */
export const RESTORE_GROUP_NETWORK_STEPS = 'arn:aws:lambda:us-east-1:000000000000:function:lifeline-restore1-private';

/** A restore group's runner, as the catalog names it. */
export const RESTORE_RUNNER = {
  taskDefinition: 'lifeline-restore-runner-1',
  subnetIds: ['subnet-0a1b2c3d'],
  securityGroupIds: ['sg-0a1b2c3d'],
};

export interface RestoreStepsFixture {
  settings: RestoreSettings;
  catalog: RestoreCatalog;
  /** The steps' dependencies in the database's network (SDK clients a test mocks where it needs). */
  deps: RestoreStepDeps;
  /** The backup a restore uses: its source is a database other than every target. */
  backup: BackupUsed;
}

/**
 * What a test of the restore steps needs for one database `label` on `pg` (the shared cluster), reached with the
 * admin secret `secretArn`: a label of the test file's own, so that its target names meet no other file's there.
 */
export function restoreStepsFixture(
  pg: PostgresDatabases,
  label: string,
  { secretArn, approvalTimeoutSeconds }: { secretArn: string; approvalTimeoutSeconds: number },
): RestoreStepsFixture {
  const settings: RestoreSettings = { deployment: 'lifeline', backupStacks: 1, bucket: 'vault', approvalTimeoutSeconds, runnerVcpus: 2 };
  const catalog = fixedRestoreCatalog([
    {
      name: label,
      secretArn,
      port: pg.port,
      rds: { instanceIdentifier: label },
      network: 'private',
      stepsFunctionArn: RESTORE_GROUP_NETWORK_STEPS,
      runner: RESTORE_RUNNER,
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
  const backup: BackupUsed = {
    key: `daily/${label}/2026/11/23/${label}-20261123T020000.000Z.dump`,
    tier: 'daily',
    takenAt: '2026-11-23T02:00:00.000Z',
    bytes: 4096,
    sha256: 'a'.repeat(64),
    migration: null,
    // No application owns its restores: the source database's owner, as the archive records it, does.
    source: { host: pg.host, port: pg.port, databaseName: `${label}_source`, owner: pg.user },
    leftOut: null,
    timing: { startedAt: '2026-11-23T10:50:01.000Z', finishedAt: '2026-11-23T10:50:02.000Z' },
  };
  return { settings, catalog, deps, backup };
}

/** The mark CreateTarget leaves on the database it creates: its comment (null without one; undefined when it does not exist). */
export async function databaseComment(pg: PostgresDatabases, database: string): Promise<string | null | undefined> {
  const rows = await pg.query<{ comment: string | null }>(
    'postgres',
    "SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1",
    [database],
  );
  return rows[0]?.comment;
}
