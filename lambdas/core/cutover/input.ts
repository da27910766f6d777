import { z } from 'zod';
import { DatabaseName } from '../postgres/databases.js';
import { SecretArn } from '../postgres/connection-secrets.js';
import { ApplicationName } from '../names.js';
import { ApprovalDecision } from '../workflows/approval.js';

/** Inputs to paste into the Step Functions console; each is tested to parse. */
export const CUTOVER_INPUT_EXAMPLES = [
  { application: 'shop-api', database: { secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/replacement-AbC123' } },
  {
    application: 'shop-api',
    database: {
      serverSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-shop-AbC123',
      name: 'shop_restored_202611231050',
    },
    freezeWrites: false,
  },
  {
    application: 'shop-api',
    database: {
      serverSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-shop-AbC123',
      name: 'shop_restored_202611231050',
    },
    applicationVersion: 'previous',
  },
  {
    application: 'shop-worker',
    database: { secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/replacement-AbC123' },
    applicationVersion: '41',
  },
];

/** An ECS task definition by ARN or `family:revision`, as UpdateService takes it. */
export const TaskDefinitionRef = z
  .string()
  .regex(
    /^(arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition\/)?[A-Za-z0-9_-]{1,255}:[1-9]\d{0,9}$/,
    'must be "previous", or a task definition ARN or "family:revision" such as "shop-api:41"',
  );

/** A published Lambda function version: its number, or the function's ARN qualified with it. */
export const FunctionVersionRef = z
  .string()
  .regex(
    /^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}:)?[1-9]\d{0,9}$/,
    'must be a Lambda function version such as "41" or its qualified ARN',
  );

/** Whether an applicationVersion names a Lambda function version (else "previous" or a task definition). */
export const namesFunctionVersion = (version: string) => FunctionVersionRef.safeParse(version).success;

/**
 * What the cutover workflow switches the application to: a database reachable with a connection secret of
 * its own (never an application's or a configured database's admin secret), or a database by name on the server
 * of a configured database, named by that database's admin secret (a restore's target), which is never read: the
 * server is where the config says it listens, and the application connects there as its own role. `server`, if
 * given (a restore hands over the server it restored into), must be that same place.
 */
export const CutoverDatabase = z.union([
  z.strictObject({ secretArn: SecretArn }),
  z.strictObject({
    serverSecretArn: SecretArn,
    name: DatabaseName,
    server: z.strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65535) }).optional(),
  }),
]);
export type CutoverDatabase = z.infer<typeof CutoverDatabase>;

/**
 * The cutover state machine's input, from the console, the CLI, or a restore or PITR execution handing over.
 * Fixed before cutover's state machine exists so that restore's hand-over is built against it.
 */
export const CutoverInput = z
  .strictObject({
    application: ApplicationName.describe('The configured application whose connection secret is switched.'),
    database: CutoverDatabase.describe(
      'The database to switch to: by its own connection secret, or by name on a server reached with its admin secret.',
    ),
    freezeWrites: z
      .boolean()
      .optional()
      .describe(
        "Stop writes on the old database while switching, as the application's config says (its freeze mode). Left out: as configured; false: switch without a freeze; true: requires a configured freeze.",
      ),
    applicationVersion: z
      .union([z.literal('previous'), TaskDefinitionRef, FunctionVersionRef], {
        error:
          'must be "previous", a task definition such as "shop-api:41" or its ARN, or a Lambda function version such as "41" or its qualified ARN',
      })
      .optional()
      .describe(
        'The application version to run on the new database (the runbooks\' "deploy the last known good version"): its ECS services are deployed with this task definition of their own family, "previous" being the latest ACTIVE revision before the current one; its Lambda functions\' alias (the application\'s lambdaAlias) is pointed at this version of each function, "previous" being the newest published version below the one it points at. A rollback restores the recorded ones. Left out: the current ones.',
      ),
    origin: z
      .strictObject({
        workflow: z.enum(['restore', 'pitr', 'manual']),
        executionArn: z.string().min(1).nullable(),
        backupKey: z.string().min(1).nullable(),
      })
      .optional()
      .describe("Where the request came from, recorded in cutover's output and notifications."),
    approval: ApprovalDecision.optional().describe(
      'The approval the handing-over execution already obtained: taken only when that execution (origin.executionArn) is running and handed over exactly this input; otherwise the cutover asks a person.',
    ),
  })
  .meta({ title: 'Lifeline cutover workflow input', examples: CUTOVER_INPUT_EXAMPLES });
export type CutoverInput = z.infer<typeof CutoverInput>;
