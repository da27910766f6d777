import { z } from 'zod';
import { DatabaseLabel } from '../../lambdas/core/keys.js';
import { TimeZone } from '../../lambdas/core/tier.js';
import { groupDatabases, MAX_DATABASES_PER_STACK, stackCountFor } from '../backup/database-groups.js';
import { TIER_EXPIRATION_DAYS } from '../vault/retention.js';
import { backupFunctionName, MAX_RESOURCE_NAME } from './naming.js';
import { NEWEST_CLIENT } from './postgres-clients.js';

const id = (kind: string, pattern: RegExp, example: string) =>
  z.string().regex(pattern, `must be ${kind} such as "${example}"`);
const VpcId = id('a VPC id', /^vpc-[0-9a-f]{8,17}$/, 'vpc-0a1b2c3d4e5f67890');
const SubnetId = id('a subnet id', /^subnet-[0-9a-f]{8,17}$/, 'subnet-0a1b2c3d4e5f67890');
const SecurityGroupId = id('a security group id', /^sg-[0-9a-f]{8,17}$/, 'sg-0a1b2c3d4e5f67890');
const RouteTableId = id('a route table id', /^rtb-[0-9a-f]{8,17}$/, 'rtb-0a1b2c3d4e5f67890');
/** IAM grants GetSecretValue on this exact ARN, so the 6-character suffix Secrets Manager appends is required. */
const SecretArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+-[A-Za-z0-9]{6}$/,
    'must be the complete Secrets Manager secret ARN, including the 6-character suffix',
  );
const KmsKeyArn = z
  .string()
  .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/, 'must be a KMS key ARN');
const RdsIdentifier = z
  .string()
  .regex(/^[a-zA-Z][a-zA-Z0-9-]{0,62}$/, 'must be an RDS identifier (letters, digits and "-", starting with a letter)');
const CRON_FIELDS = 'minutes hours day-of-month month day-of-week year';
const Cron = z
  .string()
  .superRefine((cron, ctx) => {
    const fields = cron.trim().split(/\s+/);
    if (fields.length !== 6) {
      ctx.addIssue({ code: 'custom', message: `must have six fields "${CRON_FIELDS}", such as "30 2 * * ? *"` });
      return;
    }
    const [minutes, hours, dayOfMonth, month, dayOfWeek, year] = fields as [string, string, string, string, string, string];
    if (!/^[0-9,*/-]+$/.test(minutes) || !/^[0-9,*/-]+$/.test(hours)) {
      ctx.addIssue({ code: 'custom', message: 'minutes and hours may only hold digits and , - * /' });
    }
    // The 7 daily / 4 weekly / 6 monthly guarantee needs a backup every calendar day.
    const everyDay = ['*', '?'].includes(dayOfMonth) && month === '*' && ['*', '?'].includes(dayOfWeek) && year === '*';
    if (!everyDay) {
      ctx.addIssue({
        code: 'custom',
        message: 'must run every day (day-of-month "*" or "?", month "*", day-of-week "*" or "?", year "*"): retention keeps one backup per day',
      });
    }
    if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
      ctx.addIssue({ code: 'custom', message: 'exactly one of day-of-month and day-of-week must be "?"' });
    }
  })
  .transform((cron) => cron.trim().split(/\s+/).join(' '));

const Schedule = z.strictObject({
  /** EventBridge Scheduler cron fields, without the `cron(...)` wrapper. */
  cron: Cron,
  /** IANA zone of the cron and of the calendar that decides monthly and weekly tiers. */
  timeZone: TimeZone,
});

const Rds = z.union([
  z.strictObject({ instanceIdentifier: RdsIdentifier }),
  z.strictObject({ clusterIdentifier: RdsIdentifier }),
]);

const Database = z.strictObject({
  name: DatabaseLabel,
  secretArn: SecretArn,
  /** The customer-managed key that encrypts the secret, when it is not the AWS-managed one. */
  secretKmsKeyArn: KmsKeyArn.optional(),
  rds: Rds,
  /** `name` of an entry in `networks`. */
  network: z.string(),
  /** The database's security group: it gets an ingress rule from the backup function. */
  securityGroupId: SecurityGroupId,
  port: z.number().int().min(1).max(65535).default(5432),
  /** The server's major version; the image's pg_dump is this version or newer. */
  postgresVersion: z
    .number()
    .int()
    .min(12)
    .max(NEWEST_CLIENT, { message: `must be at most ${NEWEST_CLIENT}, the newest pg_dump Amazon Linux 2023 packages` }),
  schedule: Schedule,
  /**
   * Hours without a successful backup before the staleness (RPO) alarm fires. 26 = a daily run, plus the
   * hour a daylight-saving change can add, plus an hour for the run itself and its retries.
   */
  rpoHours: z.number().int().min(1).max(168).default(26),
  /** `scheduled` backs up by the schedule; `on-demand` deploys the function for manual and pre-migration runs only. */
  runMode: z.enum(['scheduled', 'on-demand']).default('scheduled'),
});

const Network = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be 1-32 lowercase letters, digits or "-"'),
  vpcId: VpcId,
  /** Private subnets that route to the databases and to S3 and Secrets Manager (NAT or VPC endpoints). */
  subnetIds: z.array(SubnetId).min(1),
  /**
   * Create an S3 gateway endpoint (on these route tables) and a Secrets Manager interface endpoint in this
   * VPC. Leave out when the subnets already reach both through a NAT gateway or existing endpoints.
   */
  createEndpoints: z.strictObject({ routeTableIds: z.array(RouteTableId).min(1) }).optional(),
});

const ObjectLock = z.strictObject({
  mode: z.enum(['GOVERNANCE', 'COMPLIANCE']),
  days: z
    .number()
    .int()
    .min(1)
    .max(TIER_EXPIRATION_DAYS.monthly, {
      message: `must be at most ${TIER_EXPIRATION_DAYS.monthly}: a locked version may not outlive the monthly tier`,
    }),
});

const Approval = z.strictObject({
  /** Who is asked to approve restores into production and cutovers. */
  emails: z.array(z.email()).min(1),
  timeoutHours: z.number().int().min(1).max(168).default(24),
});

const Application = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be 1-32 lowercase letters, digits or "-"'),
  /** `name` of the database the application uses. */
  database: z.string(),
  /** The secret the application reads its connection from; cutover rewrites it and keeps the previous version. */
  connectionSecretArn: SecretArn,
  ecs: z.strictObject({ cluster: z.string().min(1), service: z.string().min(1) }),
  healthCheckUrl: z.url({ protocol: /^https?$/ }),
});

export const LifelineConfig = z
  .strictObject({
    /** Prefix of stack, function, schedule and alarm names. */
    name: z.string().regex(/^[a-z][a-z0-9-]{0,19}$/, 'must be 1-20 lowercase letters, digits or "-"').default('lifeline'),
    /** Leave out for an environment-agnostic template (the CLI's credentials decide). */
    aws: z
      .strictObject({ account: z.string().regex(/^\d{12}$/, 'must be a 12-digit account id'), region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be a region such as "eu-west-1"') })
      .optional(),
    /**
     * How many stacks hold the databases' backup resources (each database's stack is chosen by a hash of its
     * name, so adding a database never moves another). Raise it when a stack would hold too many databases.
     */
    backupStacks: z.number().int().min(1).max(200).default(1),
    notifications: z.strictObject({ emails: z.array(z.email()).min(1) }),
    vault: z.strictObject({ objectLock: ObjectLock.optional() }).default({}),
    approval: Approval,
    applications: z.array(Application).default([]),
    networks: z.array(Network).min(1),
    databases: z.array(Database).min(1),
  })
  .superRefine((config, ctx) => {
    const unique = (values: string[], path: (i: number) => (string | number)[], what: string) =>
      values.forEach((value, i) => {
        if (values.indexOf(value) !== i) ctx.addIssue({ code: 'custom', path: path(i), message: `${what} "${value}" is used twice` });
      });
    unique(config.networks.map((n) => n.name), (i) => ['networks', i, 'name'], 'network name');
    unique(config.databases.map((d) => d.name), (i) => ['databases', i, 'name'], 'database name');
    unique(config.applications.map((a) => a.name), (i) => ['applications', i, 'name'], 'application name');
    const networks = new Map(config.networks.map((n) => [n.name, n]));
    const databases = new Set(config.databases.map((d) => d.name));
    config.databases.forEach((database, i) => {
      if (!networks.has(database.network)) {
        ctx.addIssue({ code: 'custom', path: ['databases', i, 'network'], message: `no network named "${database.network}" in networks` });
      }
      const functionName = backupFunctionName(config.name, database.name);
      if (functionName.length > MAX_RESOURCE_NAME) {
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'name'],
          message: `makes the function name "${functionName}" longer than ${MAX_RESOURCE_NAME} characters; shorten the database name or the config name`,
        });
      }
    });
    const fullest = Math.max(...groupDatabases(config.databases, config.backupStacks).map((group) => group.length));
    if (fullest > MAX_DATABASES_PER_STACK) {
      const enough = stackCountFor(config.databases.map((d) => d.name), config.backupStacks);
      ctx.addIssue({
        code: 'custom',
        path: ['backupStacks'],
        message: `${config.backupStacks} would put ${fullest} databases in one stack, over the ${MAX_DATABASES_PER_STACK} that fit; set it to ${enough} or more`,
      });
    }
    config.applications.forEach((application, i) => {
      if (!databases.has(application.database)) {
        ctx.addIssue({ code: 'custom', path: ['applications', i, 'database'], message: `no database named "${application.database}" in databases` });
      }
    });
  });
export type LifelineConfig = z.infer<typeof LifelineConfig>;
export type DatabaseConfig = LifelineConfig['databases'][number];
export type NetworkConfig = LifelineConfig['networks'][number];

