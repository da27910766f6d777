import type pg from 'pg';
import { selectedTables } from '../archive/table-selection.js';
import { redact, type ConnectionSettings } from '../postgres/connection.js';
import { countRows, latestMigration } from '../postgres/inventory.js';
import type { BackupManifest, LatestMigration } from '../vault/manifest.js';
import { checkRows, ESTIMATE_TOLERANCE } from './pipeline.js';
import {
  MAX_REPORTED_TABLES,
  type BackupUsed,
  type CreatedTarget,
  type RestoreRequest,
  type TableCheck,
  type ValidationReport,
} from './state.js';

/**
 * ValidateRestore's checks of a restored database, on a connection as the application's role: every table's rows
 * against the manifest, the latest migration, the smoke checks; the report they make, bounded to what an
 * execution's state holds, and every table's check kept in the log.
 */

/** Keeps every table's check of a validation for `execution`, and says where; null when it kept none. */
export type TableCheckLog = (execution: string, tables: TableCheck[]) => string | null;

export const migrationName = (m: LatestMigration | null) => (m ? `${m.tool} migration ${m.name}` : 'no known migration');

/** Table checks per log line: about 100 bytes each, well within a CloudWatch Logs event. */
const TABLE_CHECKS_PER_LINE = 500;

/**
 * Keeps every table's check of a validation as lines of `write` (the steps function's log), in pages that each fit
 * one log event; `where` names that log in the report.
 */
export function tableCheckLog(
  write: (line: { execution: string; page: number; pages: number; tables: TableCheck[] }) => void,
  where: string,
): TableCheckLog {
  return (execution, tables) => {
    const pages = Math.max(1, Math.ceil(tables.length / TABLE_CHECKS_PER_LINE));
    for (let page = 0; page < pages; page++) {
      write({ execution, page: page + 1, pages, tables: tables.slice(page * TABLE_CHECKS_PER_LINE, (page + 1) * TABLE_CHECKS_PER_LINE) });
    }
    return `${where}: the ${pages} "validation tables" line${pages === 1 ? '' : 's'} of execution ${execution}`;
  };
}

/** A smoke check that runs longer than this fails. */
const SMOKE_CHECK_TIMEOUT_MS = 60_000;

async function runSmokeCheck(client: pg.Client, sql: string, settings: ConnectionSettings): Promise<{ passed: boolean; detail: string }> {
  await client.query('BEGIN READ ONLY');
  try {
    await client.query(`SET LOCAL statement_timeout = ${SMOKE_CHECK_TIMEOUT_MS}`);
    // The extended protocol takes one statement: `SELECT true; COMMIT; DELETE ...` cannot leave the read-only transaction.
    const query: pg.QueryArrayConfig & { queryMode: 'extended' } = { text: sql, rowMode: 'array', queryMode: 'extended' };
    const result = await client.query(query);
    const first = (result.rows[0] as unknown[] | undefined)?.[0];
    return first === true
      ? { passed: true, detail: 'returned true' }
      : { passed: false, detail: `returned ${JSON.stringify(first ?? null)}, not true` };
  } catch (error) {
    return { passed: false, detail: `failed: ${redact((error as Error).message, settings)}` };
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

/** The report's checks, on a connection as the application's role (`as`). */
export async function checkRestored(
  client: pg.Client,
  manifest: BackupManifest,
  request: RestoreRequest,
  backup: BackupUsed,
  target: CreatedTarget,
  as: ConnectionSettings,
  logTableChecks: TableCheckLog | undefined,
): Promise<Omit<ValidationReport, 'timing'>> {
  const tables: TableCheck[] = [];
  for (const table of selectedTables(manifest, { tables: request.tables ?? undefined, schemas: request.schemas ?? undefined })) {
    const rows = await countRows(client, table);
    tables.push({
      schema: table.schema,
      name: table.name,
      rows,
      expectedRows: table.rows,
      exact: table.exact,
      ok: checkRows(rows, table).passed,
    });
  }
  const tolerance = `${ESTIMATE_TOLERANCE * 100}%`;
  const partial = request.tables !== null || request.schemas !== null;
  const actual = partial ? null : await latestMigration(client);
  const expected = manifest.latestMigration;
  const migrationOk = partial || (actual?.tool === expected?.tool && actual?.name === expected?.name);
  const smokeChecks: ValidationReport['smokeChecks'] = [];
  for (const check of request.smokeChecks) smokeChecks.push({ name: check.name, ...(await runSmokeCheck(client, check.sql, as)) });

  const failures = tables.filter((t) => !t.ok);
  const tableProblems = failures
    .slice(0, MAX_REPORTED_TABLES)
    .map((t) =>
      t.exact
        ? `${t.schema}.${t.name} has ${t.rows} rows, the backup ${t.expectedRows}`
        : `${t.schema}.${t.name} has ${t.rows} rows, more than ${tolerance} from the backup's estimate of ${t.expectedRows}`,
    );
  if (failures.length > MAX_REPORTED_TABLES) tableProblems.push(`${failures.length - MAX_REPORTED_TABLES} more tables differ`);
  const problems = [
    ...tableProblems,
    ...(migrationOk ? [] : [`the latest migration is ${migrationName(actual)}, the backup's ${migrationName(expected)}`]),
    ...smokeChecks.filter((c) => !c.passed).map((c) => `smoke check "${c.name}" ${c.detail}`),
  ];
  const checked = [
    `${tables.length} tables match the backup's row counts${tables.some((t) => !t.exact) ? ` (estimated ones within ${tolerance})` : ''}`,
    partial ? 'migration not compared (table-level restore)' : `${migrationName(expected)} matches`,
    `${smokeChecks.length} smoke checks passed`,
  ];
  const where = `${target.database} (backup ${backup.key}, taken ${backup.takenAt})`;
  const summary =
    problems.length === 0
      ? `${where} passed validation as ${as.user}: ${checked.join('; ')}.`
      : `${where} failed validation as ${as.user}: ${problems.join('; ')}.`;
  const approvalQuestion =
    request.cutover === null ? summary : `${summary} Approve to switch the application ${request.cutover} to ${target.database}.`;
  return {
    passed: problems.length === 0,
    summary,
    approvalQuestion,
    validatedAs: as.user,
    tables: {
      checked: tables.length,
      failed: failures.length,
      failures: failures.slice(0, MAX_REPORTED_TABLES),
      log: logTableChecks?.(request.execution.id, tables) ?? null,
    },
    migration: { expected, actual, ok: migrationOk, checked: !partial },
    smokeChecks,
  };
}
