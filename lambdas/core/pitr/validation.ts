import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { connectClient, redact, type ConnectionSettings } from '../postgres/connection.js';
import { parseConnectionSecret, readSecretString } from '../postgres/connection-secrets.js';
import { latestMigration, listUserTables } from '../postgres/inventory.js';
import { describeMigrationState, migrationState } from '../postgres/migrations.js';
import type { StepDeadline } from '../deadline.js';
import { LifelineError } from '../errors.js';
import { migrationName, runSmokeCheck } from '../restore/validation.js';
import type { FinishedRestore, PitrRequest, PitrValidation, ResolvedPoint } from './state.js';
import type { MigrationsReport } from '../restore/migrations.js';

export interface PitrValidationDeps {
  secrets: SecretsManagerClient;
  /** The CA bundle that signs RDS's certificates; unset, PGSSLROOTCERT (the image points it at the RDS bundle). */
  sslRootCert?: string;
  deadline?: StepDeadline;
}

/** SQLSTATE insufficient_privilege. */
const INSUFFICIENT_PRIVILEGE = '42501';

/** "2026-11-23T09:41:00.000Z", "the latest restorable time (2026-...)", "snapshot x (taken ...)". */
export function describePoint(point: Pick<ResolvedPoint, 'kind' | 'time' | 'snapshot'>): string {
  if (point.kind === 'snapshot') return `snapshot ${point.snapshot}${point.time ? ` (taken ${point.time})` : ''}`;
  if (point.kind === 'latest') return `the latest restorable time (${point.time ?? 'as RDS had it'})`;
  return point.time ?? 'the requested time';
}

/**
 * The live source, as the application reaches it until a cutover: its connection secret's own host, with the same
 * verified TLS as the restore; or why there is none to compare the restore's migrations with.
 */
function applicationSource(secretString: string, restored: ConnectionSettings): ConnectionSettings | { unreachable: string } {
  let source: ConnectionSettings;
  try {
    source = parseConnectionSecret(secretString, "the application's connection secret").settings;
  } catch {
    return { unreachable: "the application's connection secret names no host of its own (the source's)" };
  }
  if (source.host === restored.host && source.port === restored.port) {
    return { unreachable: "the application's connection secret names the restored database itself" };
  }
  return { ...source, sslMode: 'verify-full', sslRootCert: restored.sslRootCert, deadline: restored.deadline };
}

/**
 * The restored database as the application's role, with TLS verified against the RDS CA: the application's
 * credentials and database at the restored endpoint; and the application's secret, which names the live source.
 */
export async function restoredAsApplication(
  request: PitrRequest,
  finish: FinishedRestore,
  deps: PitrValidationDeps,
): Promise<{ as: ConnectionSettings; secretString: string }> {
  if (request.ownerSecretArn === null) {
    throw new LifelineError(
      'InvalidConfig',
      `database ${request.database} has no application whose role validates a restore: configure its application (or name one with cutover)`,
    );
  }
  const secretString = await readSecretString(deps.secrets, request.ownerSecretArn);
  const secret = parseConnectionSecret(secretString, `application connection secret ${request.ownerSecretArn}`, {
    host: finish.host,
    port: finish.port,
  }).settings;
  const as: ConnectionSettings = {
    ...secret,
    host: finish.host,
    port: finish.port,
    sslMode: 'verify-full',
    sslRootCert: deps.sslRootCert ?? secret.sslRootCert,
    deadline: deps.deadline,
  };
  return { as, secretString };
}

/**
 * Proves the restored database as the application's role, with TLS verified against the RDS CA: it connects to
 * the restored endpoint with the application's credentials and database, finds its tables, reads the latest
 * migration and the migrations the live source has applied that the restore has not, and runs the smoke checks. There is no manifest to count rows against: the report names the restore
 * point so that a human judges the data. A failed check is a report with `passed: false`.
 */
export async function validateRestored(
  request: PitrRequest,
  point: ResolvedPoint,
  finish: FinishedRestore,
  migrations: MigrationsReport | null,
  deps: PitrValidationDeps,
): Promise<Omit<PitrValidation, 'timing'>> {
  const { as, secretString } = await restoredAsApplication(request, finish, deps);
  const where = `${request.target.identifier} (${describePoint(point)}, database ${as.database})`;
  let client;
  try {
    client = await connectClient(as);
  } catch (error) {
    throw new LifelineError(
      'VerificationFailed',
      `${where}: cannot connect with TLS (verify-full) as ${as.user}, the application's role: ${redact((error as Error).message, as)}`,
    );
  }
  try {
    const tables = await listUserTables(client);
    const latest = await latestMigration(client);
    const state = await migrationState(client, applicationSource(secretString, as), []);
    const smokeChecks: PitrValidation['smokeChecks'] = [];
    for (const check of request.smokeChecks) smokeChecks.push({ name: check.name, ...(await runSmokeCheck(client, check.sql, as)) });
    const problems = [
      ...(tables.length === 0 ? ['it has no tables'] : []),
      ...smokeChecks.filter((c) => !c.passed).map((c) => `smoke check "${c.name}" ${c.detail}`),
    ];
    const checked = [
      `${tables.length} tables`,
      `${migrationName(latest)}${migrations ? ` (${migrations.application}'s migrations applied ${migrations.applied.length})` : ''}`,
      `${smokeChecks.length} smoke checks passed`,
    ];
    const summary =
      (problems.length === 0
        ? `${where} passed validation as ${as.user} over TLS: ${checked.join('; ')}.`
        : `${where} failed validation as ${as.user}: ${problems.join('; ')}.`) + describeMigrationState(state);
    const approvalQuestion =
      request.cutover === null
        ? `${summary} Approve to keep ${request.target.identifier}; reject to delete it.`
        : `${summary} Approve to switch the application ${request.cutover} to ${request.target.identifier}; reject to delete it.`;
    return {
      passed: problems.length === 0,
      summary,
      approvalQuestion,
      validatedAs: as.user,
      database: as.database,
      tables: tables.length,
      migration: { latest, state },
      smokeChecks,
      migrations,
    };
  } catch (error) {
    if ((error as { code?: string }).code !== INSUFFICIENT_PRIVILEGE) throw error;
    throw new LifelineError(
      'VerificationFailed',
      `${where}: the application's role ${as.user} cannot use it: ${redact((error as Error).message, as)}`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}
