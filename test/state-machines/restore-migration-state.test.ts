/**
 * restore.asl.json run locally, as restore.test.ts runs it, for Prisma's and Drizzle's migration state after a restore
 * (migration-rollback runbook, step 6 and its verification): the report lists what the live source applied that the
 * restore has not, and the restore's failed migrations; `markRolledBack` marks a failed Prisma migration rolled back
 * when a backup from before it shows its effects absent, and refuses, marking nothing, otherwise.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createHash, randomBytes } from 'node:crypto';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quoteIdent } from '../../lambdas/core/postgres/inventory.js';
import type { RestoreSettings } from '../../lambdas/core/restore/state.js';
import type { RestoreDatabase } from '../../lambdas/core/restore/catalog.js';
import { restoreCatalogPath } from '../../lambdas/core/names.js';
import { createS3Client } from '../../lambdas/core/vault/s3.js';
import { runLocalExecution, type LambdaHandler, type Notification } from '../../lambdas/core/workflows/local.js';
import { FakeSsm } from '../support/control-planes.js';
import { connectPostgres } from '../support/postgres.js';
import { backUp, sharedPostgres, sharedS3 } from '../support/shared.js';
import { DRIZZLE_MIGRATIONS_TABLE, drizzleMigration, PRISMA_MIGRATIONS_TABLE, prismaMigration } from '../support/migration-tables.js';
import {
  APPROVAL_FUNCTIONS,
  NO_MIGRATIONS,
  RESTORE_NETWORK_STEPS_FUNCTION,
  RESTORE_STEPS_FUNCTION,
  RESTORE_SUBSTITUTIONS,
  restoreRunnerInProcess,
} from '../support/workflows.js';

const DEFINITION = 'state-machines/restore.asl.json';
const hex = randomBytes(3).toString('hex');
const secretArn = (name: string) => `arn:aws:secretsmanager:us-east-1:000000000000:secret:${name}-AbC123`;
const ADMIN_SECRET = secretArn('lifeline/mig-admin');
const APP_SECRET = secretArn('mig-api/connection');
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const DRIZZLE_INIT = sha('CREATE TABLE users');
const DRIZZLE_ORDERS = sha('CREATE TABLE orders');

const pg = sharedPostgres();
const s3 = sharedS3();
const secrets = mockClient(SecretsManagerClient);
const ssm = new FakeSsm();
const appRole = `mig_app_${hex}`;
const appPassword = randomBytes(18).toString('base64url');

describe("the restore workflow and the restored database's migration state", () => {
  const created: string[] = [];
  let source: string;
  let bucket: string;
  /** Before any failed migration: the evidence for add_email. */
  let beforeKey: string;
  /** add_email failed (no effect). */
  let failedKey: string;
  /** add_email and add_phone failed; add_phone's column is there. */
  let phoneKey: string;
  let stepsHandler: LambdaHandler;

  beforeAll(async () => {
    await pg.query('postgres', `CREATE ROLE ${quoteIdent(appRole)} LOGIN PASSWORD '${appPassword}'`);
    source = await pg.createDatabase('mig_source');
    created.push(source);
    await pg.query('postgres', `ALTER DATABASE "${source}" OWNER TO ${quoteIdent(appRole)}`);
    // The application's role creates its tables and migration tables, as Prisma's and Drizzle's migrators do.
    const asApp = connectPostgres({ host: pg.host, port: pg.port, user: appRole, password: appPassword });
    await asApp.query(
      source,
      `CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL); INSERT INTO users VALUES (1, 'ada'), (2, 'grace');
       ${PRISMA_MIGRATIONS_TABLE} ${DRIZZLE_MIGRATIONS_TABLE}
       ${prismaMigration('20260101000000_init', { started: '2026-01-01T00:00:00Z', finished: '2026-01-01T00:00:01Z' })}
       ${drizzleMigration(DRIZZLE_INIT, 1767225600000)}`,
    );
    bucket = await s3.createBucket('restore-migration-state');
    const backupAt = (at: string) => backUp(pg, s3, { source, label: 'mig', bucket, now: () => new Date(at) });
    ({ key: beforeKey } = await backupAt('2026-01-15T00:00:00Z'));
    await asApp.query(source, prismaMigration('20260201000000_add_email', { started: '2026-02-01T00:00:00Z', finished: null }));
    ({ key: failedKey } = await backupAt('2026-02-01T12:00:00Z'));
    await asApp.query(
      source,
      `ALTER TABLE users ADD COLUMN phone text;
       ${prismaMigration('20260202000000_add_phone', { started: '2026-02-02T00:00:00Z', finished: null })}`,
    );
    ({ key: phoneKey } = await backupAt('2026-02-03T00:00:00Z'));
    // Since those backups, the live source went on: a Prisma migration and a Drizzle one.
    await asApp.query(
      source,
      `${prismaMigration('20260301000000_add_orders', { started: '2026-03-01T00:00:00Z', finished: '2026-03-01T00:00:01Z' })}
       ${drizzleMigration(DRIZZLE_ORDERS, 1772323200000)}`,
    );

    const server = { host: pg.host, port: pg.port };
    const secretValues = {
      [ADMIN_SECRET]: { ...server, username: pg.user, password: pg.password, dbname: source },
      [APP_SECRET]: { ...server, username: appRole, password: appPassword, dbname: source },
    };
    for (const [arn, value] of Object.entries(secretValues)) {
      secrets.on(GetSecretValueCommand, { SecretId: arn }).resolves({ ARN: arn, SecretString: JSON.stringify(value) });
    }
    const catalog: RestoreDatabase = {
      name: 'mig',
      secretArn: ADMIN_SECRET,
      rds: { instanceIdentifier: 'mig' },
      port: pg.port,
      network: 'private',
      stepsFunctionArn: RESTORE_NETWORK_STEPS_FUNCTION,
      runner: { taskDefinition: 'lifeline-restore-runner-1', subnetIds: ['subnet-0a1b2c3d'], securityGroupIds: ['sg-0a1b2c3d'] },
      applications: [{ name: 'mig-api', connectionSecretArn: APP_SECRET }],
    };
    ssm.parameters.set(`${restoreCatalogPath('lifeline', 1)}/mig`, { value: JSON.stringify(catalog), type: 'String' });
    const settings: RestoreSettings = { deployment: 'lifeline', backupStacks: 1, bucket, approvalTimeoutSeconds: 60, runnerVcpus: 2 };
    process.env.AWS_ENDPOINT_URL_S3 = s3.endpoint;
    process.env.LIFELINE_RESTORE_SETTINGS = JSON.stringify(settings);
    ({ handler: stepsHandler } = await import('../../lambdas/restore/handler.js'));
  });

  afterAll(async () => {
    for (const name of created) await pg.query('postgres', `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
    secrets.reset();
    ssm.mock.reset();
  });

  /** The real ASL, its Lambda states the real handler, RunRestore the runner's job in this process. */
  async function run(input: { target: { database: string } } & Record<string, unknown>) {
    created.push(input.target.database);
    const notifications: Notification[] = [];
    const vault = createS3Client({ endpoint: s3.endpoint });
    const result = await runLocalExecution({
      definitionFile: DEFINITION,
      substitutions: RESTORE_SUBSTITUTIONS,
      input: { database: 'mig', ...input },
      functions: { [RESTORE_STEPS_FUNCTION]: stepsHandler, [RESTORE_NETWORK_STEPS_FUNCTION]: stepsHandler, ...APPROVAL_FUNCTIONS },
      tasks: {
        RunRestore: restoreRunnerInProcess(vault, bucket),
        // mig-api has no migrations configured: the workflow never runs them here.
        ...NO_MIGRATIONS,
      },
      notify: (notification) => notifications.push(notification),
      answer: () => Promise.reject(new Error('no approval expected')),
      retryIntervals: { Cleanup: 0, CreateTarget: 0, RunRestore: 0 },
    });
    return { ...result, notifications };
  }

  const prismaRows = (database: string) =>
    pg.query<{ name: string; rolled_back_at: Date | null }>(
      database,
      'SELECT migration_name AS name, rolled_back_at FROM _prisma_migrations ORDER BY started_at',
    );
  const missing = {
    count: 2,
    first: [
      { tool: 'prisma', name: '20260301000000_add_orders', at: '2026-03-01T00:00:00.000Z' },
      { tool: 'drizzle', name: DRIZZLE_ORDERS, at: '2026-03-01T00:00:00.000Z' },
    ],
  };

  it("lists the migrations the live source applied that the restore lacks, and the restore's failed ones, without failing", async () => {
    const result = await run({ key: phoneKey, target: { database: `mig_report_${hex}` } });
    expect(result.error ?? null, result.cause).toBeNull();
    const { validation } = result.output as any;
    expect(validation.passed).toBe(true);
    expect(validation.migration.state).toEqual({
      tools: ['prisma', 'drizzle'],
      missing,
      notCompared: null,
      failed: {
        count: 2,
        first: [
          { tool: 'prisma', name: '20260201000000_add_email', at: '2026-02-01T00:00:00.000Z' },
          { tool: 'prisma', name: '20260202000000_add_phone', at: '2026-02-02T00:00:00.000Z' },
        ],
      },
      rolledBack: [],
    });
    expect(validation.summary).toMatch(
      / Migrations: 2 applied on the live source are not applied here \(prisma 20260301000000_add_orders, drizzle [0-9a-f]{64}\); 2 failed or unfinished here \(prisma 20260201000000_add_email, prisma 20260202000000_add_phone\)\.$/,
    );
    expect(result.notifications.find((n) => n.state === 'Notify')!.message).toContain(validation.summary);
  });

  it('marks a failed migration rolled back when the backup before it shows its effects absent, and reports it', async () => {
    const target = `mig_marked_${hex}`;
    const result = await run({ key: failedKey, target: { database: target }, markRolledBack: ['20260201000000_add_email'] });
    expect(result.error ?? null, result.cause).toBeNull();
    const { validation } = result.output as any;
    expect(validation.migration.state).toMatchObject({
      missing,
      failed: { count: 0, first: [] },
      rolledBack: [{ name: '20260201000000_add_email', rolledBackAt: expect.any(String), evidence: beforeKey, already: false }],
    });
    expect(validation.summary).toMatch(/; marked rolled back: 20260201000000_add_email\.$/);
    // Marked in the restore, as the application's role; the source's failed row is untouched.
    const rows = await prismaRows(target);
    expect(rows.find((r) => r.name === '20260201000000_add_email')!.rolled_back_at!.toISOString()).toBe(
      validation.migration.state.rolledBack[0].rolledBackAt,
    );
    expect((await prismaRows(source)).every((r) => r.rolled_back_at === null)).toBe(true);
  });

  it('refuses a failed migration whose effects are present, fails the restore and marks nothing', async () => {
    const target = `mig_refused_${hex}`;
    const result = await run({
      key: phoneKey,
      target: { database: target },
      markRolledBack: ['20260202000000_add_phone'],
      keepOnFailure: true,
    });
    expect(result.error).toBe('MarkRolledBackRefused');
    expect(result.cause).toContain(
      `"20260202000000_add_phone" started at 2026-02-02T00:00:00.000Z: the restored schema differs from backup ${failedKey}, the newest taken before it, so its effects may be present (column added: public.users.phone text)`,
    );
    expect(result.states).toContain('Cleanup');
    // Kept to look at: nothing was marked.
    expect((await prismaRows(target)).every((r) => r.rolled_back_at === null)).toBe(true);
  });

  it('refuses a name not found, a finished migration and a Drizzle one, and the restore is dropped', async () => {
    const target = `mig_names_${hex}`;
    const result = await run({
      key: failedKey,
      target: { database: target },
      markRolledBack: ['20260201000000_add_email', '20260301000000_add_orders', '20260101000000_init', DRIZZLE_INIT],
    });
    expect(result.error).toBe('MarkRolledBackRefused');
    for (const refusal of [
      '"20260301000000_add_orders" is not in "public"."_prisma_migrations": it was never applied to the restored database (Prisma P3011)',
      '"20260101000000_init" finished at 2026-01-01T00:00:01.000Z: only a failed migration can be marked rolled back (Prisma P3012)',
      `"${DRIZZLE_INIT}" is a Drizzle migration ("drizzle"."__drizzle_migrations"): Drizzle records applied migrations only and has no rolled-back state`,
    ]) {
      expect(result.cause).toContain(refusal);
    }
    expect(result.cause).not.toContain('"20260201000000_add_email"');
    expect(await pg.query('postgres', 'SELECT 1 FROM pg_database WHERE datname = $1', [target])).toEqual([]);
  });

  it('refuses markRolledBack with a table-level restore, or a name twice, in ValidateInput', async () => {
    for (const [input, message] of [
      [{ tables: ['users'], markRolledBack: ['20260201000000_add_email'] }, /markRolledBack: a table-level restore leaves out/],
      [
        { markRolledBack: ['20260201000000_add_email', '20260201000000_add_email'] },
        /markRolledBack\[1\]: \\"20260201000000_add_email\\" is named twice/,
      ],
    ] as const) {
      const result = await run({ ...input, target: { database: `mig_input_${hex}` } });
      expect(result.error, JSON.stringify(input)).toBe('InvalidInput');
      expect(result.cause).toMatch(message);
      expect(result.states).toEqual(['ValidateInput']);
    }
  });
});
