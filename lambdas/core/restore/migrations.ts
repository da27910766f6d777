import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { createHash } from 'node:crypto';
import type { ClientBase } from 'pg';
import { z } from 'zod';
import { LifelineError } from '../errors.js';
import { redact, withClient, type ConnectionSettings } from '../postgres/connection.js';
import { causeDetails, type CaughtError } from '../workflows/execution-state.js';
import { TablesReport } from './table-checks.js';
import { markStanding, type ExecutionStatusLookup } from '../postgres/databases.js';
import { qualifiedName } from '../postgres/inventory.js';
import { drizzleTable, MAX_REPORTED_MIGRATIONS, prismaTable, RolledBackMigration } from '../postgres/migrations.js';
import { ApplicationName } from '../names.js';
import { connectionSecretObject } from '../postgres/connection-secrets.js';

/**
 * The application's migrations on a restored database (config `applications[].migrations`): an ECS task of its
 * image that reads DATABASE_URL from its task definition's secret, one secret per application (the "target
 * secret"), which PrepareMigrations points at the restored database. ECS reads the secret when the task starts, so
 * two restores of one application must not hold it at once: its value names the execution holding it, a running
 * holder makes another wait (MigrationsBusy, retried), and ConcludeMigrations trusts the run only if the version it
 * wrote was still the current one when the task had ended, then releases it.
 */

/** Where an application's migrations run, as its restore group's catalog entry says (lib/restore/restore-group-stack.ts). */
export const MigrationsPlacement = z.strictObject({
  /** The task definition's family: its latest revision runs. */
  taskDefinition: z.string().min(1),
  /** Its name (names.ts migrationsTargetSecretName): its ARN ends in a suffix Secrets Manager chooses. */
  targetSecret: z.string().min(1),
  /** The RunMigrations state's timeout: the config's timeoutMinutes. */
  timeoutSeconds: z.number().int().min(60),
  /** The command, for the report (the task definition holds it). */
  command: z.array(z.string()).min(1),
});
export type MigrationsPlacement = z.infer<typeof MigrationsPlacement>;

/** The restore request's: the migrations of the application the restore is cut over to. */
export const MigrationsRequest = MigrationsPlacement.extend({ application: ApplicationName });
export type MigrationsRequest = z.infer<typeof MigrationsRequest>;

/** What the migrations tables held before the run, to tell which migrations it applied. */
const Before = z.strictObject({
  /** The server's clock when PrepareMigrations read it: Prisma's rows started after it are the run's. */
  prismaSince: z.iso.datetime({ offset: true }),
  /** Drizzle's highest id (a serial): rows above it are the run's. */
  drizzleAfterId: z.number().int().nullable(),
});

/** The input's markRolledBack migrations, as PrepareMigrations marked them before any migrations ran. */
const RolledBack = z.array(RolledBackMigration).max(MAX_REPORTED_MIGRATIONS);

/** PrepareMigrations' result: `run` false when the request has no migrations to run. */
export const PreparedMigrations = z.discriminatedUnion('run', [
  z.strictObject({ run: z.literal(false), rolledBack: RolledBack }),
  MigrationsRequest.extend({
    run: z.literal(true),
    versionId: z.string().min(32),
    before: Before,
    rolledBack: RolledBack,
    /** The restored tables' rows as checked before the migrations ran, which may change them; null in a PITR. */
    tables: TablesReport.nullable(),
  }),
]);
export type PreparedMigrations = z.infer<typeof PreparedMigrations>;

/** ConcludeMigrations' result, in the validation report: what ran, by tool and name. */
export const MigrationsReport = z.strictObject({
  application: ApplicationName,
  command: z.array(z.string()),
  applied: z.array(z.strictObject({ tool: z.enum(['prisma', 'drizzle']), name: z.string() })),
});
export type MigrationsReport = z.infer<typeof MigrationsReport>;

/** `$.migrations` in the restore's state: PrepareMigrations' result, and ConcludeMigrations' report once they ran. */
export const MigrationsState = z.strictObject({ prepared: PreparedMigrations, report: MigrationsReport.optional() });
export type MigrationsState = z.infer<typeof MigrationsState>;

/** The target secret's value: held by an execution (with the URL its task reads), or released. */
const TargetSecretValue = z.union([
  z.object({ DATABASE_URL: z.string(), execution: z.string() }),
  z.object({ released: z.literal(true), execution: z.string().optional() }),
]);

/** What the deployment writes into a target secret at first: held by no one. */
export const RELEASED_TARGET_SECRET = JSON.stringify({ released: true });

/** A version id of the target secret per execution and purpose: retries write one version. */
function versionToken(execution: string, purpose: 'hold' | 'release'): string {
  const hex = createHash('sha256').update(`lifeline-migrations:${purpose}:${execution}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The URL an application's connection secret holds, as a URL or a JSON DATABASE_URL; undefined in the RDS shape. */
function applicationUrlOf(secretString: string): string | undefined {
  const text = secretString.trim();
  if (/^postgres(ql)?:\/\//i.test(text)) return text;
  const json = connectionSecretObject(text, 'application connection secret');
  return typeof json.DATABASE_URL === 'string' ? json.DATABASE_URL : undefined;
}

/**
 * The restored database's URL as the application's role, with the application's own URL parameters (Prisma's schema,
 * its sslmode and CA): the migrations connect as the application does, with the TLS its image is set up for.
 */
function migrationsUrl(restored: ConnectionSettings, applicationUrl: string | undefined): string {
  const url = new URL(applicationUrl ?? 'postgresql://placeholder/');
  url.hostname = restored.host.includes(':') ? `[${restored.host}]` : restored.host;
  url.port = String(restored.port);
  url.pathname = `/${encodeURIComponent(restored.database)}`;
  url.username = encodeURIComponent(restored.user);
  url.password = encodeURIComponent(restored.password ?? '');
  return url.toString();
}

async function readTargetSecret(client: SecretsManagerClient, secretName: string, signal?: AbortSignal) {
  let answer;
  try {
    answer = await client.send(new GetSecretValueCommand({ SecretId: secretName }), { abortSignal: signal });
  } catch (error) {
    throw new LifelineError('SecretUnreadable', `reading the migrations target secret ${secretName} failed: ${(error as Error).name}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(answer.SecretString ?? 'null');
  } catch {
    // JSON.parse's message quotes the text: never in an error.
    value = undefined;
  }
  const parsed = TargetSecretValue.safeParse(value);
  if (!parsed.success) throw new LifelineError('InvalidConfig', `the migrations target secret ${secretName} holds no value Lifeline wrote`);
  return parsed.data;
}

/** Where the migrations tables stand now, to tell afterwards which rows the run added. */
async function migrationsBefore(client: ClientBase): Promise<z.infer<typeof Before>> {
  const { rows } = await client.query<{ now: Date }>('SELECT now() AS now');
  const drizzle = await drizzleTable(client);
  const drizzleAfterId = drizzle
    ? Number((await client.query<{ max: string | null }>(`SELECT max(id)::text AS max FROM ${qualifiedName(drizzle)}`)).rows[0]?.max ?? 0)
    : null;
  return { prismaSince: rows[0]!.now.toISOString(), drizzleAfterId };
}

/** The migrations applied since `before`; `failed`, Prisma's rows of the run that did not finish, with their log's first line. */
async function migrationsSince(
  client: ClientBase,
  before: z.infer<typeof Before>,
): Promise<{ applied: MigrationsReport['applied']; failed: { name: string; log: string }[] }> {
  const applied: MigrationsReport['applied'] = [];
  const failed: { name: string; log: string }[] = [];
  const prisma = await prismaTable(client);
  if (prisma) {
    const { rows } = await client.query<{ name: string; finished: boolean; log: string | null }>(
      `SELECT migration_name AS name, finished_at IS NOT NULL AS finished, logs AS log FROM ${qualifiedName(prisma)}
       WHERE started_at >= $1 AND rolled_back_at IS NULL ORDER BY started_at, migration_name`,
      [before.prismaSince],
    );
    for (const row of rows) {
      if (row.finished) applied.push({ tool: 'prisma', name: row.name });
      else failed.push({ name: row.name, log: (row.log ?? '').trim().split('\n')[0]!.slice(0, 200) });
    }
  }
  const drizzle = await drizzleTable(client);
  if (drizzle) {
    const { rows } = await client.query<{ hash: string }>(`SELECT hash FROM ${qualifiedName(drizzle)} WHERE id > $1 ORDER BY id`, [
      before.drizzleAfterId ?? 0,
    ]);
    applied.push(...rows.map((row) => ({ tool: 'drizzle' as const, name: row.hash })));
  }
  return { applied, failed };
}

export interface MigrationsDeps {
  secrets: SecretsManagerClient;
  executions?: ExecutionStatusLookup;
  signal?: AbortSignal;
}

/**
 * Points the application's target secret at the restored database for this execution, once no other running
 * execution holds it (MigrationsBusy otherwise, which the state retries). A retry writes the same version.
 */
async function holdTargetSecret(migrations: MigrationsRequest, execution: string, url: string, deps: MigrationsDeps): Promise<string> {
  const { targetSecret } = migrations;
  const current = await readTargetSecret(deps.secrets, targetSecret, deps.signal);
  if (!('released' in current) && current.execution !== execution) {
    const standing = await markStanding(current.execution, deps.executions, deps.signal);
    if (standing.holds) {
      throw new LifelineError(
        'MigrationsBusy',
        `the migrations of ${migrations.application} are running for another restore, ${current.execution}${standing.status}: this one waits for it`,
      );
    }
  }
  const versionId = versionToken(execution, 'hold');
  await deps.secrets.send(
    new PutSecretValueCommand({
      SecretId: targetSecret,
      ClientRequestToken: versionId,
      SecretString: JSON.stringify({ DATABASE_URL: url, execution }),
    }),
    { abortSignal: deps.signal },
  );
  return versionId;
}

/**
 * Releases the target secret if this execution's version is still its current one, and says whether it was: if
 * not, another restore's PrepareMigrations wrote it meanwhile and this run's task may have migrated that database.
 */
export async function releaseTargetSecret(
  migrations: MigrationsRequest,
  execution: string,
  versionId: string,
  deps: MigrationsDeps,
): Promise<boolean> {
  const { VersionIdsToStages: stages = {} } = await deps.secrets.send(new DescribeSecretCommand({ SecretId: migrations.targetSecret }), {
    abortSignal: deps.signal,
  });
  const releasedVersion = versionToken(execution, 'release');
  const ours = [versionId, releasedVersion].some((id) => stages[id]?.includes('AWSCURRENT'));
  if (ours && !stages[releasedVersion]?.includes('AWSCURRENT')) {
    await deps.secrets.send(
      new PutSecretValueCommand({
        SecretId: migrations.targetSecret,
        ClientRequestToken: releasedVersion,
        SecretString: JSON.stringify({ released: true, execution }),
      }),
      { abortSignal: deps.signal },
    );
  }
  return ours;
}

/**
 * Before RunMigrations: points the target secret at `restored` (the restored database as the application's role,
 * with the parameters of the application's own URL in `applicationSecret`) for this execution, and notes where the
 * migrations tables stand, to tell afterwards what the run applied.
 */
export async function holdForMigrations(
  migrations: MigrationsRequest,
  execution: string,
  restored: ConnectionSettings,
  applicationSecret: string,
  deps: MigrationsDeps,
): Promise<{ versionId: string; before: z.infer<typeof Before> }> {
  const before = await withClient(restored, migrationsBefore);
  const url = migrationsUrl(restored, applicationUrlOf(applicationSecret));
  return { versionId: await holdTargetSecret(migrations, execution, url, deps), before };
}

/**
 * After RunMigrations: what its task applied on `restored` (named `where` in errors), once the target secret proves
 * it ran on this restore (the version holdForMigrations wrote was still current); releases the secret either way. A
 * failed task (`error`), or one that may have migrated another restore, fails with MigrationsFailed naming the
 * migration Prisma recorded as failed.
 */
export async function concludeMigrationsRun(
  prepared: Extract<PreparedMigrations, { run: true }>,
  execution: string,
  restored: ConnectionSettings,
  where: string,
  error: CaughtError | undefined,
  deps: MigrationsDeps,
): Promise<MigrationsReport> {
  const held = await releaseTargetSecret(prepared, execution, prepared.versionId, deps);
  const { applied, failed } = await withClient(restored, (client) => migrationsSince(client, prepared.before));
  const command = prepared.command.join(' ');
  if (error) {
    const details = causeDetails(error.Cause);
    const exitCode = (details?.Containers as { ExitCode?: unknown }[] | undefined)?.[0]?.ExitCode;
    const how = typeof exitCode === 'number' ? `exited with code ${exitCode}` : `failed (${error.Error})`;
    const which = failed.map((m) => `Prisma migration ${m.name} failed: ${redact(m.log, restored)}`).join('; ');
    throw new LifelineError(
      'MigrationsFailed',
      `the migrations of ${prepared.application} (${command}) ${how} on ${where}` +
        `${which ? `: ${which}` : ''}${applied.length ? `; applied before that: ${applied.map((m) => m.name).join(', ')}` : ''}. ` +
        `Its output is in the task's log (${prepared.taskDefinition}); Cleanup removes the restore`,
    );
  }
  if (!held) {
    throw new LifelineError(
      'MigrationsFailed',
      `the migrations target secret of ${prepared.application} was written by another restore while this one's migrations ran: ` +
        `its task may have migrated that database instead of ${where}, which Cleanup removes; start the restore again`,
    );
  }
  if (failed.length > 0) {
    throw new LifelineError(
      'MigrationsFailed',
      `the migrations of ${prepared.application} (${command}) ended without error but Prisma recorded ${failed.map((m) => m.name).join(', ')} as unfinished on ${where}`,
    );
  }
  return { application: prepared.application, command: prepared.command, applied };
}
