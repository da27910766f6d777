import type { MigrationsReport } from './migrations.js';
import type pg from 'pg';
import { selectedTables } from '../archive/table-selection.js';
import { deadlineAfter, type StepDeadline } from '../deadline.js';
import { liveState } from '../drift/diff.js';
import { compareStates, describeRowDrift, describeSchemaDrift } from '../drift/report.js';
import { liveSchema } from '../drift/schema.js';
import { describe, redact, type ConnectionSettings } from '../postgres/connection.js';
import { countRows, latestMigration } from '../postgres/inventory.js';
import type { BackupManifest, LatestMigration } from '../vault/manifest.js';
import { checkRows, ESTIMATE_TOLERANCE } from './pipeline.js';
import { MAX_REPORTED_TABLES, type TableCheck, type TablesReport } from './table-checks.js';
import {
  MAX_DRIFT_LINE_LENGTH,
  MAX_REPORTED_DRIFT,
  type SourceDrift,
  type BackupUsed,
  type CreatedTarget,
  type RestoreRequest,
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

/** The most of PostgreSQL's error text a failed smoke check reports. */
export const MAX_SMOKE_CHECK_ERROR_LENGTH = 200;

/** `a text`, `an integer`: a PostgreSQL type's name as a smoke check's detail says it. */
const withArticle = (type: string) => `${/^[aeiou]/i.test(type) ? 'an' : 'a'} ${type}`;

/**
 * What a failed smoke check says of PostgreSQL's error, which must not carry the rows' values into the report (and
 * from there into the execution's history, its logs, the failure's cause and the e-mails): the message's first line
 * only (never its DETAIL, which quotes keys and values), with what it quotes left out, from its first double quote to
 * its last (a bad cast quotes the value: `invalid input syntax for type integer: "..."`), cut to
 * MAX_SMOKE_CHECK_ERROR_LENGTH characters, and its SQLSTATE. A function's own error (RAISE, ASSERT) says whatever the
 * function put in it: only its SQLSTATE is told.
 */
export function smokeCheckError(error: unknown, settings: ConnectionSettings): string {
  const { message, code, where } = error as { message?: unknown; code?: unknown; where?: unknown };
  const sqlstate = typeof code === 'string' ? ` (SQLSTATE ${code})` : '';
  if ((typeof code === 'string' && code.startsWith('P0')) || (typeof where === 'string' && where.includes('PL/pgSQL'))) {
    return `failed: a function raised an error${sqlstate}; its message is left out, since it may quote the rows`;
  }
  const line = redact(String(message ?? error), settings).split('\n')[0]!;
  // From the first quote to the last: a value may hold quotes of its own.
  const first = line.indexOf('"');
  const last = line.lastIndexOf('"');
  const bare = first < 0 ? line : `${line.slice(0, first)}"..."${last > first ? line.slice(last + 1) : ''}`;
  const cut = bare.length > MAX_SMOKE_CHECK_ERROR_LENGTH ? `${bare.slice(0, MAX_SMOKE_CHECK_ERROR_LENGTH - 3)}...` : bare;
  return `failed: ${cut}${sqlstate}`;
}

/**
 * Runs a smoke check in a read-only transaction: it passes when its first row's first column is true. Its detail
 * never holds a value it returned, only the value's type ("returned a text, not true"), nor the rows an error quotes
 * (smokeCheckError): the report travels to the execution's history, logs, failure cause and e-mails.
 */
export async function runSmokeCheck(
  client: pg.Client,
  sql: string,
  settings: ConnectionSettings,
): Promise<{ passed: boolean; detail: string }> {
  await client.query('BEGIN READ ONLY');
  try {
    await client.query(`SET LOCAL statement_timeout = ${SMOKE_CHECK_TIMEOUT_MS}`);
    // The extended protocol takes one statement: `SELECT true; COMMIT; DELETE ...` cannot leave the read-only transaction.
    const query: pg.QueryArrayConfig & { queryMode: 'extended' } = { text: sql, rowMode: 'array', queryMode: 'extended' };
    const result = await client.query(query);
    const row = result.rows[0] as unknown[] | undefined;
    const column = result.fields[0];
    if (row === undefined || column === undefined) return { passed: false, detail: 'returned no rows, not true' };
    const first = row[0];
    if (first === true) return { passed: true, detail: 'returned true' };
    if (first === false || first === null) return { passed: false, detail: `returned ${String(first)}, not true` };
    const { rows } = await client.query<{ type: string }>('SELECT format_type($1::oid, NULL) AS type', [column.dataTypeID]);
    return { passed: false, detail: `returned ${withArticle(rows[0]?.type ?? 'value')}, not true` };
  } catch (error) {
    return { passed: false, detail: smokeCheckError(error, settings) };
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

/**
 * Every restored table's rows against the manifest, as `client`'s role counts them; every table's check kept in the
 * log. PrepareMigrations checks them before the application's migrations run, which may change rows.
 */
export async function checkTables(
  client: pg.Client,
  manifest: BackupManifest,
  request: Pick<RestoreRequest, 'tables' | 'schemas' | 'execution'>,
  logTableChecks: TableCheckLog | undefined,
): Promise<TablesReport> {
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
  const failures = tables.filter((t) => !t.ok);
  return {
    checked: tables.length,
    failed: failures.length,
    failures: failures.slice(0, MAX_REPORTED_TABLES),
    log: logTableChecks?.(request.execution.id, tables) ?? null,
  };
}

/**
 * The report's checks, on a connection as the application's role (`as`); a restore drill's too (drill/drill.ts).
 * `migrations`: what the application's migrations applied (the newest is the migration expected then), and the
 * tables as checked before they ran.
 */
export async function checkRestored(
  client: pg.Client,
  manifest: BackupManifest,
  // A drill's request has no approval: it asks nobody.
  request: Pick<RestoreRequest, 'tables' | 'schemas' | 'smokeChecks' | 'cutover' | 'execution'> & Partial<Pick<RestoreRequest, 'approval'>>,
  backup: Pick<BackupUsed, 'key' | 'takenAt'>,
  target: Pick<CreatedTarget, 'database'>,
  as: ConnectionSettings,
  logTableChecks: TableCheckLog | undefined,
  migrations?: { applied: MigrationsReport['applied']; tables: TablesReport },
): Promise<Omit<ValidationReport, 'timing' | 'migrations'>> {
  const tables = migrations?.tables ?? (await checkTables(client, manifest, request, logTableChecks));
  const applied = migrations?.applied ?? [];
  const estimated = selectedTables(manifest, { tables: request.tables ?? undefined, schemas: request.schemas ?? undefined }).some(
    (t) => !t.exact,
  );
  const tolerance = `${ESTIMATE_TOLERANCE * 100}%`;
  const partial = request.tables !== null || request.schemas !== null;
  const actual = partial ? null : await latestMigration(client);
  const newestApplied = applied.at(-1);
  const expected = newestApplied ? { ...newestApplied, appliedAt: null } : manifest.latestMigration;
  const migrationOk = partial || (actual?.tool === expected?.tool && actual?.name === expected?.name);
  const smokeChecks: ValidationReport['smokeChecks'] = [];
  for (const check of request.smokeChecks) smokeChecks.push({ name: check.name, ...(await runSmokeCheck(client, check.sql, as)) });

  const tableProblems = tables.failures
    .slice(0, MAX_REPORTED_TABLES)
    .map((t) =>
      t.exact
        ? `${t.schema}.${t.name} has ${t.rows} rows, the backup ${t.expectedRows}`
        : `${t.schema}.${t.name} has ${t.rows} rows, more than ${tolerance} from the backup's estimate of ${t.expectedRows}`,
    );
  if (tables.failed > tables.failures.length) tableProblems.push(`${tables.failed - tables.failures.length} more tables differ`);
  const problems = [
    ...tableProblems,
    ...(migrationOk
      ? []
      : [
          `the latest migration is ${migrationName(actual)}, ${newestApplied ? 'the newest the migrations applied' : "the backup's"} ${migrationName(expected)}`,
        ]),
    ...smokeChecks.filter((c) => !c.passed).map((c) => `smoke check "${c.name}" ${c.detail}`),
  ];
  const checked = [
    `${tables.checked} tables match the backup's row counts${estimated ? ` (estimated ones within ${tolerance})` : ''}${migrations ? ' before the migrations' : ''}`,
    partial
      ? 'migration not compared (table-level restore)'
      : `${migrationName(expected)}${newestApplied ? `, the newest of the ${applied.length} the migrations applied,` : ''} matches`,
    `${smokeChecks.length} smoke checks passed`,
  ];
  const where = `${target.database} (backup ${backup.key}, taken ${backup.takenAt})`;
  const summary =
    problems.length === 0
      ? `${where} passed validation as ${as.user}: ${checked.join('; ')}.`
      : `${where} failed validation as ${as.user}: ${problems.join('; ')}.`;
  const approvalQuestion =
    request.cutover !== null
      ? `${summary} Approve to switch the application ${request.cutover} to ${target.database}.`
      : request.approval?.required
        ? `${summary} Approve to keep ${target.database}; rejected or unanswered in time, it is dropped.`
        : summary;
  return {
    passed: problems.length === 0,
    summary,
    approvalQuestion,
    validatedAs: as.user,
    tables,
    migration: { expected, actual, ok: migrationOk, checked: !partial },
    smokeChecks,
  };
}

/** How much of a validation's time comparing the restore with its source may take. */
const SOURCE_DRIFT_BUDGET_MS = 120_000;

/**
 * What differs between the restored database and its live source now, from the restore to the source: the schema
 * (pg_dump --schema-only of both) and each table's rows, the backup's (which the checks proved restored) against the
 * source's count (estimated for large tables, as a backup does). Informs the approver and never fails the
 * validation: where there is no source to compare with (`source` says why), a table-level restore, or the comparison
 * fails or outlasts its budget, the report says why it was not compared.
 */
export async function sourceDrift(
  restored: ConnectionSettings,
  source: ConnectionSettings | { unreachable: string },
  manifest: BackupManifest,
  request: Pick<RestoreRequest, 'tables' | 'schemas'>,
  deadline: StepDeadline | undefined,
): Promise<SourceDrift> {
  const skipped = (reason: string): SourceDrift => ({ compared: false, reason, source: null, differences: 0, first: [] });
  if ('unreachable' in source) return skipped(source.unreachable);
  if (request.tables !== null || request.schemas !== null) return skipped('a table-level restore is not compared with its source');
  const budget = deadlineAfter(
    Math.min(deadline?.remainingMs() ?? Infinity, SOURCE_DRIFT_BUDGET_MS),
    'comparing the restore with its source',
  );
  try {
    const readAt = new Date().toISOString();
    const schema = await liveSchema({ ...restored, deadline: budget }, budget.signal);
    const restoredState = { side: { kind: 'live' as const, database: describe(restored), readAt }, schema, rows: manifest.tables };
    const report = compareStates(restoredState, await liveState({ ...source, deadline: budget }, budget.signal));
    const lines = [...describeSchemaDrift(report.schema), ...describeRowDrift(report.rows.tables)];
    const cut = (line: string) => (line.length > MAX_DRIFT_LINE_LENGTH ? `${line.slice(0, MAX_DRIFT_LINE_LENGTH - 3)}...` : line);
    const first = lines.slice(0, MAX_REPORTED_DRIFT).map(cut);
    return { compared: true, reason: null, source: describe(source), differences: report.differences, first };
  } catch (error) {
    const why = budget.remainingMs() === 0 ? budget.timedOut().message : redact(redact((error as Error).message, source), restored);
    return skipped(`the source ${describe(source)} could not be compared: ${why}`);
  }
}
