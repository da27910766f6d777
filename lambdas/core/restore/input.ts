import { z } from 'zod';
import { DatabaseLabel, parseBackupKey } from '../vault/keys.js';
import { SecretArn } from '../postgres/connection-secrets.js';
import { IsoTime } from '../validation.js';
import { ApplicationName } from '../names.js';
import { DatabaseName, MAX_IDENTIFIER_LENGTH, reservedDatabaseProblem } from '../postgres/databases.js';
import { MAX_MIGRATION_NAME_LENGTH, MAX_REPORTED_MIGRATIONS } from '../postgres/migrations.js';
import { MAX_TABLE_NAME_TEXT, parseSchemaName, parseTableName, SCHEMA_NAME_FORM, TABLE_NAME_FORM } from '../archive/table-selection.js';

const RESTORED_SUFFIX = '_restored_';
const STAMP_LENGTH = 'yyyymmddhhmmss'.length;
/** Longest configured name whose default target name still fits PostgreSQL's 63 characters. */
const MAX_DEFAULTED_NAME = MAX_IDENTIFIER_LENGTH - RESTORED_SUFFIX.length - STAMP_LENGTH;

/**
 * `shop_restored_20261123105037`: the target when the input names none, stamped with the second the execution
 * started (UTC), so that restores of one database started a second or more apart each get a database of their own.
 */
export function defaultTargetName(database: string, startedAt: Date): string {
  const stamp = startedAt.toISOString().slice(0, 19).replace(/[-T:]/g, '');
  return `${database}${RESTORED_SUFFIX}${stamp}`;
}

/** A check the restored database must pass; the restore and PITR inputs take up to 50. */
export const SmokeCheck = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,79}$/, 'must be 1-80 letters, digits, spaces or "_.:-"')
    .describe('Shown in the validation report.'),
  sql: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(10_000)
    .describe("Runs as the application's role on the restored database; passes when its first row's first column is true."),
});

/** Hours a human has to approve (1 to 168), as the restore and PITR inputs take them. */
export const ApprovalTimeoutHours = z.number().int().min(1).max(168);

/** An issue for each smoke check whose name an earlier one has: the report names them. */
export function refineSmokeCheckNames(checks: readonly { name: string }[] | undefined, ctx: z.RefinementCtx): void {
  checks?.forEach((check, i) => {
    if (checks.findIndex((other) => other.name === check.name) !== i) {
      ctx.addIssue({ code: 'custom', path: ['smokeChecks', i, 'name'], message: `"${check.name}" is used twice` });
    }
  });
}

/** A role's name as PostgreSQL takes it: 1-63 bytes, any characters but NUL. */
const RoleName = z
  .string()
  .min(1)
  .refine(
    (name) => Buffer.byteLength(name) <= MAX_IDENTIFIER_LENGTH && !name.includes('\0'),
    `must be a role name: 1-${MAX_IDENTIFIER_LENGTH} bytes without NUL`,
  );

/** Inputs to paste into the Step Functions console; each is tested to parse. */
export const RESTORE_INPUT_EXAMPLES = [
  { database: 'shop' },
  { database: 'shop', at: '2026-11-23T10:50:00Z' },
  { database: 'shop', tables: ['orders', 'billing.invoices', '"Billing"."Invoice Line"'], target: { database: 'shop_orders_recovery' } },
  { database: 'shop', cutover: 'shop-api', smokeChecks: [{ name: 'orders exist', sql: 'SELECT count(*) > 0 FROM orders' }] },
  { database: 'shop', key: 'daily/shop/2026/11/23/shop-20261123T020000.000Z.dump', inPlace: true },
  { database: 'shop', markRolledBack: ['20261123104500_add_loyalty_points'] },
];

/**
 * The restore workflow's input, as pasted into the Step Functions console or sent by `lifeline start
 * restore`. The smallest is `{"database": "shop"}`: the latest backup, restored into a new database
 * `shop_restored_<UTC yyyymmddhhmmss>` on the source's server. Names refer to the deployed config, which
 * supplies secrets, servers and networks.
 */
export const RestoreInput = z
  .strictObject({
    database: DatabaseLabel.describe('The configured database whose backup is restored.'),
    key: z.string().min(1).optional().describe('This backup (an archive key in the vault) instead of the latest.'),
    at: IsoTime.optional().describe('The latest backup taken at or before this time (ISO 8601 with a zone, e.g. "2026-11-23T10:50:00Z").'),
    target: z
      .strictObject({
        database: DatabaseName.optional().describe(
          "The new database's name; it must not exist yet, or exist without tables, owned by the application's role. Never postgres or a template database.",
        ),
        serverSecretArn: SecretArn.optional().describe(
          "Another configured database's server, by that database's secret: one in the source's network and backups stack, whose secrets the source's runner reads; by default the source's server.",
        ),
      })
      .optional()
      .describe('Where to restore; by default a new database "<database>_restored_<UTC yyyymmddhhmmss>" on the source\'s server.'),
    tables: z
      .array(
        z
          .string()
          .min(1)
          .max(MAX_TABLE_NAME_TEXT)
          .refine((text) => parseTableName(text) !== undefined, `must be ${TABLE_NAME_FORM}`),
      )
      .min(1)
      .optional()
      .describe(
        'Table-level recovery: only these tables (with their rows), into a side database. Each is "name" or "schema.name", spelled as PostgreSQL shows them (case and spaces included), a part in double quotes as in SQL where it holds a dot or a quote: ["orders", "billing.invoices", "\\"Billing\\".\\"Invoice Line\\""]. Checked against the backup before anything is created; a name that tables of several schemas bear needs its schema.',
      ),
    schemas: z
      .array(
        z
          .string()
          .min(1)
          .max(2 * MAX_IDENTIFIER_LENGTH + 2)
          .refine((text) => parseSchemaName(text) !== undefined, `must be ${SCHEMA_NAME_FORM}`),
      )
      .min(1)
      .optional()
      .describe('Only tables in these schemas.'),
    jobs: z.number().int().min(1).max(64).optional().describe("pg_restore worker processes; by default from the runner's vCPUs."),
    smokeChecks: z
      .array(SmokeCheck)
      .min(1)
      .max(50)
      .optional()
      .describe('Extra checks after the restore, beside the row counts and the migration.'),
    approvalTimeoutHours: ApprovalTimeoutHours.optional().describe(
      "How long a human has to approve, when one is asked; by default the deployed config's.",
    ),
    cutover: ApplicationName.optional().describe('The configured application to switch to the restored database once a human approves.'),
    runMigrations: z
      .boolean()
      .default(true)
      .describe(
        "With cutover: run the application's configured migrations on the restore before validating it. false leaves the restore as the backup holds it.",
      ),
    askApproval: z
      .boolean()
      .default(false)
      .describe(
        'Without cutover: wait for a human to approve before keeping the validated restore (what a run started by an alarm does); rejected, or unanswered in time, it is dropped.',
      ),
    inPlace: z
      .boolean()
      .default(false)
      .describe(
        'Restore over the source database itself (pg_restore --clean --if-exists, in one transaction, so one job). A human approves the backup first, before anything is written; on failure nothing is dropped.',
      ),
    keepOnFailure: z.boolean().default(false).describe('Keep what this execution created when it fails, to investigate.'),
    markRolledBack: z
      .array(z.string().min(1).max(MAX_MIGRATION_NAME_LENGTH))
      .min(1)
      .max(MAX_REPORTED_MIGRATIONS)
      .optional()
      .describe(
        'Prisma migrations to mark rolled back in the restored database before its checks, as `prisma migrate resolve --rolled-back` does: each must have failed there (finished_at and rolled_back_at empty), and the restored schema must equal that of the newest backup taken before it started, which shows its effects absent. All or nothing: one refused fails the restore (MarkRolledBackRefused) and nothing is marked.',
      ),
    owner: RoleName.optional().describe(
      "The role that owns the restored database and its objects where no application's role does (a database with no configured application, or with several and no cutover naming one); by default the source database's owner, as the backup records it. It must exist on the target's server, and the admin user must be able to act as it (SET ROLE).",
    ),
  })
  .superRefine((input, ctx) => {
    const problem = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    if (input.key !== undefined && input.at !== undefined) problem(['at'], 'give key or at, not both');
    if (input.key !== undefined && parseBackupKey(input.key)?.database !== input.database) {
      problem(
        ['key'],
        `must be a backup key of "${input.database}", such as "daily/${input.database}/2026/11/23/${input.database}-20261123T105037.123Z.dump"`,
      );
    }
    const partial = input.tables !== undefined || input.schemas !== undefined;
    if (input.inPlace) {
      if (input.target !== undefined) problem(['target'], 'must be left out with inPlace, which restores into the source database');
      if (partial) problem([input.tables ? 'tables' : 'schemas'], 'table-level recovery goes into a side database, never inPlace');
      if (input.cutover !== undefined)
        problem(['cutover'], 'must be left out with inPlace: the application already uses the source database');
      if (input.jobs !== undefined && input.jobs > 1) problem(['jobs'], 'an inPlace restore runs in one transaction, so in one job');
      if (input.askApproval) problem(['askApproval'], 'must be left out with inPlace, which asks its approval before writing anything');
    } else if (input.target?.database === input.database && input.target.serverSecretArn === undefined) {
      problem(['target', 'database'], 'is the source database: restoring into it needs "inPlace": true and a human approval');
    }
    const reserved = input.target?.database === undefined ? undefined : reservedDatabaseProblem(input.target.database);
    if (reserved) problem(['target', 'database'], reserved);
    if (partial && input.cutover !== undefined)
      problem(['cutover'], 'a table-level restore is a side database, not one to switch an application to');
    if (input.owner !== undefined && input.cutover !== undefined)
      problem(['owner'], `must be left out with cutover: the role of ${input.cutover}, the application switched to the restore, owns it`);
    if (input.askApproval && input.cutover !== undefined) problem(['askApproval'], 'must be left out with cutover, which always asks');
    if (input.approvalTimeoutHours !== undefined && input.cutover === undefined && !input.inPlace && !input.askApproval) {
      problem(['approvalTimeoutHours'], 'applies only with cutover, inPlace or askApproval, the restores that wait for a human');
    }
    if (!input.inPlace && input.target?.database === undefined && input.database.length > MAX_DEFAULTED_NAME) {
      problem(
        ['target', 'database'],
        `required: the default name "${input.database}${RESTORED_SUFFIX}<yyyymmddhhmmss>" would pass PostgreSQL's ${MAX_IDENTIFIER_LENGTH} characters`,
      );
    }
    if (input.markRolledBack !== undefined && partial) {
      problem(
        ['markRolledBack'],
        "a table-level restore leaves out the migrations' effects it would prove absent: restore the whole database",
      );
    }
    input.markRolledBack?.forEach((name, i) => {
      if (input.markRolledBack!.indexOf(name) !== i) problem(['markRolledBack', i], `"${name}" is named twice`);
    });
    refineSmokeCheckNames(input.smokeChecks, ctx);
  })
  .meta({ title: 'Lifeline restore workflow input', examples: RESTORE_INPUT_EXAMPLES });
export type RestoreInput = z.infer<typeof RestoreInput>;

/** Whether an input's restore waits for a human: before the cutover, or in place before anything is written. */
export function asksApproval(input: RestoreInput): boolean {
  return input.inPlace || input.cutover !== undefined;
}
