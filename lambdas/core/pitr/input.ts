import { z } from 'zod';
import { ApplicationName } from '../names.js';
import { ApprovalTimeoutHours, refineSmokeCheckNames, SmokeCheck } from '../restore/input.js';
import { IsoTime } from '../validation.js';
import { DatabaseLabel } from '../vault/keys.js';

/** RDS's longest DB instance or cluster identifier. */
export const MAX_RDS_IDENTIFIER_LENGTH = 63;
const PITR_SUFFIX = '-pitr-';
const STAMP_LENGTH = 'yyyymmddhhmmss'.length;

/**
 * An RDS DB instance or cluster identifier as RDS accepts one: 1 to 63 letters, digits or hyphens, a letter first,
 * no hyphen last and no two in a row. RDS stores it in lowercase.
 */
export const RdsIdentifier = z
  .string()
  .max(MAX_RDS_IDENTIFIER_LENGTH, `must be at most ${MAX_RDS_IDENTIFIER_LENGTH} characters`)
  .regex(/^[A-Za-z](?:[A-Za-z0-9]|-(?!-))*$/, 'must be letters, digits and single hyphens, starting with a letter')
  .refine((text) => !text.endsWith('-'), 'must not end with a hyphen')
  .transform((text) => text.toLowerCase());

/**
 * `shop-production-pitr-20261123105037`: the target when the input names none, stamped with the second the execution
 * started (UTC). A source whose name leaves no room is cut so that the whole stays within RDS's 63 characters (and
 * ends without a hyphen).
 */
export function defaultTargetIdentifier(source: string, startedAt: Date): string {
  const stamp = startedAt.toISOString().slice(0, 19).replace(/[-T:]/g, '');
  const room = MAX_RDS_IDENTIFIER_LENGTH - PITR_SUFFIX.length - STAMP_LENGTH;
  const stem = source.toLowerCase().slice(0, room).replace(/-+$/, '');
  return `${stem}${PITR_SUFFIX}${stamp}`;
}

/** Where to bring the source back to. */
export const RestorePoint = z.union([
  IsoTime.describe("This moment (ISO 8601 with a zone), within the source's restorable window."),
  z.literal('latest').describe("The source's latest restorable time (UseLatestRestorableTime)."),
  z.strictObject({ snapshot: z.strictObject({ identifier: z.string().min(1).max(255) }) }).describe('This snapshot, by identifier.'),
  z
    .strictObject({ snapshot: z.strictObject({ latest: z.enum(['automated', 'manual']) }) })
    .describe('The newest available automated or manual snapshot of the source.'),
]);
export type RestorePoint = z.infer<typeof RestorePoint>;

/** Inputs to paste into the Step Functions console; each is tested to parse. */
export const PITR_INPUT_EXAMPLES = [
  { database: 'shop', restorePoint: '2026-11-23T09:41:00Z' },
  { database: 'shop', restorePoint: 'latest', cutover: 'shop-api' },
  { database: 'shop', restorePoint: { snapshot: { latest: 'automated' } }, target: 'shop-pitr-before-migration' },
  { database: 'shop', restorePoint: { snapshot: { identifier: 'shop-before-release-42' } }, approvalTimeoutHours: 4 },
  { database: 'shop', restorePoint: '2026-11-23T09:41:00Z', strategy: 'rename' },
  { database: 'ledger', restorePoint: 'latest', copyOnWrite: true },
];

/**
 * The PITR workflow's input: a configured database (its RDS instance or Aurora cluster comes from the config), the
 * moment or snapshot to bring back, into a NEW instance or cluster.
 */
export const PitrInput = z
  .strictObject({
    database: DatabaseLabel.describe('The configured database whose RDS instance or Aurora cluster is restored.'),
    restorePoint: RestorePoint.describe(
      'A time, "latest", or a snapshot ({"snapshot": {"identifier": ...}} or {"snapshot": {"latest": "automated"}}).',
    ),
    target: RdsIdentifier.refine((text) => text.slice(0, MAX_RDS_IDENTIFIER_LENGTH - '-writer'.length).includes(PITR_SUFFIX), {
      message: `must contain "${PITR_SUFFIX}" within its first 56 characters: the deployed role creates, modifies and deletes only such identifiers`,
    })
      .optional()
      .describe(
        'The new instance or cluster identifier, containing "-pitr-"; by default "<source>-pitr-<UTC yyyymmddhhmmss>". It must not exist yet.',
      ),
    cutover: ApplicationName.optional().describe(
      'The configured application to switch to the restored database once a human approves (the cutover workflow swaps its connection secret).',
    ),
    strategy: z
      .literal('rename')
      .optional()
      .describe(
        'Endpoint-preserving, RDS instances only, once a human approves: the source is renamed aside and the restore takes its identifier (and so its endpoint), renamed back on failure. Instead of cutover; the deployment must allow it (pitr.renameSources).',
      ),
    validateAs: ApplicationName.optional().describe(
      'The configured application whose role validates the restore, when the database has several and no cutover names one.',
    ),
    copyOnWrite: z
      .boolean()
      .default(false)
      .describe('Aurora, restorePoint "latest" only: a copy-on-write clone, faster than a full copy (at most 15 clones per source).'),
    approvalTimeoutHours: ApprovalTimeoutHours.optional().describe("How long a human has to approve; by default the deployed config's."),
    smokeChecks: z
      .array(SmokeCheck)
      .min(1)
      .max(50)
      .optional()
      .describe("Checks run as the application's role on the restored database; each passes when its first row's first column is true."),
    markRolledBack: z
      .never({
        error:
          "is for restores from a backup (the restore workflow): the evidence that a migration's effects are absent is a backup taken before it, and a point-in-time recovery reads no backups",
      })
      .optional()
      .describe('Not taken here: marking Prisma migrations rolled back is for restores from a backup (the restore workflow).'),
    runMigrations: z
      .boolean()
      .default(true)
      .describe(
        "With cutover: run that application's configured migrations on the restore before its validation (false: validate it as restored).",
      ),
    finalSnapshot: z
      .boolean()
      .default(false)
      .describe(
        'Take a final snapshot when cleanup deletes what this execution restored (never possible for one RDS ended as failed or incompatible-*).',
      ),
  })
  .superRefine((input, ctx) => {
    const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (input.strategy === 'rename' && input.cutover !== undefined) {
      problem('cutover', 'must be left out with strategy "rename", which keeps the endpoint instead of swapping the secret');
    }
    if (input.validateAs !== undefined && input.cutover !== undefined && input.validateAs !== input.cutover) {
      problem('validateAs', `must be left out with cutover: the role of ${input.cutover}, the application switched, validates`);
    }
    if (input.copyOnWrite && input.restorePoint !== 'latest') {
      problem('copyOnWrite', 'a copy-on-write clone is of the latest restorable time only: use "restorePoint": "latest"');
    }
    refineSmokeCheckNames(input.smokeChecks, ctx);
  })
  .meta({ title: 'Lifeline point-in-time recovery workflow input', examples: PITR_INPUT_EXAMPLES });
export type PitrInput = z.infer<typeof PitrInput>;
