/**
 * restore.asl.json run locally, as restore.test.ts runs it, for what a source's names and owners make of a restore:
 * a database whose name holds spaces, dots, capitals, quotes, a backslash and non-ASCII restored over in place; a
 * database no application uses restored owned by its own owner (as the archive records it) or by the role the input
 * names, never by the admin; and what a table-level restore leaves out, in its output.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { randomBytes } from 'node:crypto';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quoteIdent } from '../../lambdas/core/postgres/inventory.js';
import type { RestoreSettings } from '../../lambdas/core/restore/state.js';
import { MAX_REPORTED_TABLES } from '../../lambdas/core/restore/table-checks.js';
import { RestoreJob, runRestoreJob } from '../../lambdas/core/restore/job.js';
import type { RestoreResult } from '../../lambdas/core/restore/pipeline.js';
import type { RestoreDatabase } from '../../lambdas/core/restore/catalog.js';
import { runnerExitCode } from '../../lambdas/core/exit-codes.js';
import { restoreCatalogPath } from '../../lambdas/core/names.js';
import { createS3Client } from '../../lambdas/core/vault/s3.js';
import {
  inProcessTask,
  runLocalExecution,
  type CallbackAnswer,
  type LambdaHandler,
  type Notification,
  type CallbackRequest,
} from '../../lambdas/core/workflows/local.js';
import { FakeSsm } from '../support/control-planes.js';
import { connectPostgres } from '../support/postgres.js';
import { backUp, sharedPostgres, sharedS3 } from '../support/shared.js';
import {
  APPROVAL_FUNCTIONS,
  approve,
  NO_MIGRATIONS,
  RESTORE_NETWORK_STEPS_FUNCTION,
  RESTORE_STEPS_FUNCTION,
  RESTORE_SUBSTITUTIONS,
  runnerConnection,
} from '../support/workflows.js';

const DEFINITION = 'state-machines/restore.asl.json';
const hex = randomBytes(3).toString('hex');
const secretArn = (name: string) => `arn:aws:secretsmanager:us-east-1:000000000000:secret:${name}-AbC123`;
/** The server's admin secret, for both sources (they share the cluster). */
const ODD_ADMIN_SECRET = secretArn('lifeline/odd-admin');
const LEDGER_ADMIN_SECRET = secretArn('lifeline/ledger-admin');
const ODD_APP_SECRET = secretArn('odd-api/connection');

const pg = sharedPostgres();
const s3 = sharedS3();
const secrets = mockClient(SecretsManagerClient);
const ssm = new FakeSsm();

/** A database name a configured URL can carry: a space, a dot, capitals, both quotes, a backslash, non-ASCII. */
const ODD = `Shop's "Main" DB.été \\ ${hex}`;
/** Roles are the cluster's, shared by every test file: each run makes its own, with names that need quoting too. */
const appRole = `odd_app_${hex}`;
const appPassword = randomBytes(18).toString('base64url');
const ledgerOwner = `Ledger Owner ${hex}`;
const auditor = `Auditor "${hex}"`;

async function owners(database: string): Promise<{ database: string; tables: string[] }> {
  const [found] = await pg.query<{ owner: string }>(
    'postgres',
    'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1',
    [database],
  );
  const tables = await pg.query<{ tableowner: string }>(
    database,
    "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
  );
  return { database: found!.owner, tables: tables.map((t) => t.tableowner) };
}

async function databaseExists(name: string): Promise<boolean> {
  return (await pg.query('postgres', 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length === 1;
}

describe('the restore workflow and the names and owners of its source', () => {
  const created: string[] = [];
  let ledger: string;
  let bucket: string;
  let stepsHandler: LambdaHandler;
  /** What the runner's last job reported (what `lifeline runner restore` prints). */
  let runnerResult: RestoreResult | undefined;

  beforeAll(async () => {
    await pg.query('postgres', `CREATE ROLE ${quoteIdent(appRole)} LOGIN PASSWORD '${appPassword}'`);
    await pg.query('postgres', `CREATE ROLE ${quoteIdent(ledgerOwner)} NOLOGIN`);
    await pg.query('postgres', `CREATE ROLE ${quoteIdent(auditor)} NOLOGIN`);
    // odd: its application's role owns it and its objects.
    await pg.query('postgres', `CREATE DATABASE ${quoteIdent(ODD)} OWNER ${quoteIdent(appRole)}`);
    created.push(ODD);
    const asApp = connectPostgres({ host: pg.host, port: pg.port, user: appRole, password: appPassword });
    await asApp.query(
      ODD,
      'CREATE TABLE orders (id int PRIMARY KEY, total numeric); INSERT INTO orders SELECT g, g * 2 FROM generate_series(1, 100) g',
    );
    // ledger: no application uses it; its owner, a role no one logs in as, owns its objects.
    ledger = await pg.createDatabase('ledger_source');
    created.push(ledger);
    await pg.query('postgres', `ALTER DATABASE "${ledger}" OWNER TO ${quoteIdent(ledgerOwner)}`);
    await pg.query(
      ledger,
      `SET ROLE ${quoteIdent(ledgerOwner)};
       CREATE TABLE accounts (id int PRIMARY KEY, name text);
       CREATE TABLE entries (id int PRIMARY KEY, account int REFERENCES accounts, amount numeric DEFAULT 0);
       INSERT INTO accounts VALUES (1, 'cash');
       INSERT INTO entries SELECT g, 1, g FROM generate_series(1, 40) g;
       CREATE VIEW large_entries AS SELECT * FROM entries WHERE amount > 20;
       DO $$ BEGIN FOR i IN 1..25 LOOP EXECUTE format('CREATE INDEX entries_by_amount_%s ON entries (amount, id)', i); END LOOP; END $$`,
    );

    bucket = await s3.createBucket('restore-names-owners');
    await backUp(pg, s3, { source: ODD, label: 'odd', bucket });
    await backUp(pg, s3, { source: ledger, label: 'ledger', bucket });

    const server = { host: pg.host, port: pg.port };
    const secretValues = {
      [ODD_ADMIN_SECRET]: { ...server, username: pg.user, password: pg.password, dbname: ODD },
      [ODD_APP_SECRET]: { ...server, username: appRole, password: appPassword, dbname: ODD },
      [LEDGER_ADMIN_SECRET]: { ...server, username: pg.user, password: pg.password, dbname: ledger },
    };
    for (const [arn, value] of Object.entries(secretValues)) {
      secrets.on(GetSecretValueCommand, { SecretId: arn }).resolves({ ARN: arn, SecretString: JSON.stringify(value) });
    }
    const network = {
      port: pg.port,
      network: 'private',
      stepsFunctionArn: RESTORE_NETWORK_STEPS_FUNCTION,
      runner: { taskDefinition: 'lifeline-restore-runner-1', subnetIds: ['subnet-0a1b2c3d'], securityGroupIds: ['sg-0a1b2c3d'] },
    };
    const catalog: RestoreDatabase[] = [
      {
        name: 'odd',
        secretArn: ODD_ADMIN_SECRET,
        rds: { instanceIdentifier: 'odd' },
        ...network,
        applications: [{ name: 'odd-api', connectionSecretArn: ODD_APP_SECRET }],
      },
      { name: 'ledger', secretArn: LEDGER_ADMIN_SECRET, rds: { instanceIdentifier: 'ledger' }, ...network, applications: [] },
    ];
    for (const database of catalog) {
      ssm.parameters.set(`${restoreCatalogPath('lifeline', 1)}/${database.name}`, { value: JSON.stringify(database), type: 'String' });
    }
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
  async function run(input: unknown, answer?: (request: CallbackRequest) => Promise<CallbackAnswer>) {
    const notifications: Notification[] = [];
    const vault = createS3Client({ endpoint: s3.endpoint });
    const result = await runLocalExecution({
      definitionFile: DEFINITION,
      substitutions: RESTORE_SUBSTITUTIONS,
      input,
      functions: { [RESTORE_STEPS_FUNCTION]: stepsHandler, [RESTORE_NETWORK_STEPS_FUNCTION]: stepsHandler, ...APPROVAL_FUNCTIONS },
      tasks: {
        ...NO_MIGRATIONS,
        RunRestore: inProcessTask(async (environment) => {
          const job = RestoreJob.parse(JSON.parse(environment.LIFELINE_RESTORE_JOB!));
          runnerResult = await runRestoreJob(job, { s3: vault, bucket, connection: runnerConnection });
        }, runnerExitCode),
      },
      notify: (notification) => notifications.push(notification),
      answer: (request) => (answer ? answer(request) : Promise.reject(new Error('no approval expected'))),
      retryIntervals: { Cleanup: 0, CreateTarget: 0, RunRestore: 0 },
    });
    const target = (result.output as { target?: { database?: string } } | undefined)?.target?.database;
    if (target && target !== ODD) created.push(target);
    return { ...result, notifications };
  }

  it('restores over a source whose name holds spaces, a dot, capitals, quotes, a backslash and non-ASCII, in place', async () => {
    await pg.query(ODD, 'DELETE FROM orders WHERE id > 60');
    const result = await run({ database: 'odd', inPlace: true }, approve);
    expect(result.error ?? null, result.cause).toBeNull();
    expect(result.states).toContain('RunRestore');
    const output = result.output as any;
    expect(output.target).toEqual({ database: ODD, serverSecretArn: ODD_ADMIN_SECRET, owner: appRole });
    expect(output.validation).toMatchObject({ passed: true, validatedAs: appRole });
    expect(output.message).toContain(`${ODD} (backup `);
    expect(await pg.query(ODD, 'SELECT count(*)::int AS n, sum(total)::int AS total FROM orders')).toEqual([{ n: 100, total: 10_100 }]);
    expect(await owners(ODD)).toEqual({ database: appRole, tables: [appRole] });
    // The approval asked named it whole; the subjects, which SNS takes in ASCII only, stand in for what they cannot hold.
    const asked = result.notifications.find((n) => n.state === 'WaitForApproval')!;
    expect((asked.message as any).question).toContain(`over the source database ${ODD} of odd`);
    expect(result.notifications.find((n) => n.state === 'Notify')!.subject).toBe(
      `Lifeline: odd restored into Shop's "Main" DB.?t? \\ ${hex}`,
    );
  });

  it("restores a database no application uses owned by its source's owner, as the archive records it, and validates it as that role", async () => {
    const result = await run({ database: 'ledger', target: { database: `ledger_owned_${hex}` } });
    expect(result.error ?? null, result.cause).toBeNull();
    const output = result.output as any;
    expect(output.target.owner).toBe(ledgerOwner);
    expect(output.validation).toMatchObject({ passed: true, validatedAs: ledgerOwner });
    expect(await owners(output.target.database)).toEqual({ database: ledgerOwner, tables: [ledgerOwner] });
    expect(output.leftOut).toBeNull();
  });

  it('restores it owned by the role the input names, which must exist on the target server, before anything is created', async () => {
    // Each restore names its target: two started within one second would share the default name.
    const owned = await run({ database: 'ledger', owner: auditor, target: { database: `ledger_audited_${hex}` } });
    expect(owned.error ?? null, owned.cause).toBeNull();
    const output = owned.output as any;
    expect(output.target.owner).toBe(auditor);
    expect(output.validation.validatedAs).toBe(auditor);
    expect(await owners(output.target.database)).toEqual({ database: auditor, tables: [auditor] });

    const target = `ledger_nobody_${hex}`;
    const missing = await run({ database: 'ledger', owner: `nobody_${hex}`, target: { database: target } });
    expect(missing.error).toBe('InvalidInput');
    expect(missing.cause).toBe(
      `the role the input names (owner) "nobody_${hex}" does not exist on ${pg.host}:${pg.port}; ` +
        `create it there, or name the role to own the restore in the input's "owner"; nothing was restored`,
    );
    expect(missing.states).toContain('CreateTarget');
    expect(missing.states).not.toContain('RunRestore');
    expect(await databaseExists(target)).toBe(false);
  });

  it("refuses an owner where an application's role owns the restore, in ValidateInput", async () => {
    for (const [input, message] of [
      [{ database: 'odd', owner: auditor }, /^owner: a restore of "odd" is owned by the role of its application odd-api/],
      [{ database: 'odd', cutover: 'odd-api', owner: auditor }, /owner: must be left out with cutover/],
    ] as const) {
      const result = await run(input);
      expect(result.error, JSON.stringify(input)).toBe('InvalidInput');
      expect(JSON.parse(result.cause!).errorMessage).toMatch(message);
      expect(result.states).toEqual(['ValidateInput']);
    }
  });

  it('lists in its output what a table-level restore left out, the first few of them and how many', async () => {
    const result = await run({ database: 'ledger', tables: ['entries'], target: { database: `ledger_entries_${hex}` } });
    expect(result.error ?? null, result.cause).toBeNull();
    const output = result.output as any;
    // entries' key, its foreign key, its 25 indexes and the view over it, as `pg_restore --list` names them: what the
    // runner left out and printed, the first MAX_REPORTED_TABLES of them in the output (a state holds 256 KiB).
    expect(runnerResult!.leftOut).toHaveLength(28);
    for (const entry of [
      /^CONSTRAINT public entries entries_pkey /,
      /^FK CONSTRAINT public entries entries_account_fkey /,
      /^VIEW public large_entries /,
    ]) {
      expect(runnerResult!.leftOut).toContainEqual(expect.stringMatching(entry));
    }
    expect(output.leftOut).toEqual({ count: 28, entries: runnerResult!.leftOut.slice(0, MAX_REPORTED_TABLES) });
    expect(output.message).toMatch(/ Left out of the chosen tables \(restore them by hand if needed\): .*, and 8 more\./);
    expect(await pg.query(`ledger_entries_${hex}`, 'SELECT count(*)::int AS n FROM entries')).toEqual([{ n: 40 }]);
  });
});
