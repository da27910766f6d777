import { z } from 'zod';
import { DatabaseLabel } from '../../lambdas/core/vault/keys.js';
import { ObjectLockMode } from '../../lambdas/core/vault/retention.js';
import { SecretArn } from '../../lambdas/core/postgres/connection-secrets.js';
import { Freeze, HealthCheck, LambdaAliasName, LambdaFunctionName, sharedApplicationResources } from '../../lambdas/core/cutover/state.js';
import { TimeZone } from '../../lambdas/core/vault/tier.js';
import { groupDatabases, MAX_DATABASES_PER_STACK, stackCountFor } from '../../lambdas/core/database-groups.js';
import { cronTimesOfDay } from './cron.js';
import { skippedRunProblem } from './daylight-saving.js';
import { NEWEST_CLIENT } from './postgres-clients.js';
import { AlarmAction, alarmCutover, AlarmName, AlarmRoute } from '../../lambdas/core/alarms/routes.js';
import { workflowInput } from '../../lambdas/core/alarms/starter.js';
import {
  backupFunctionName,
  drillScheduleNames,
  stalenessAlarmName,
  DEFAULT_DEPLOYMENT_NAME,
  DeploymentName,
  MAX_RESOURCE_NAME,
  ApplicationName,
} from '../../lambdas/core/names.js';

const id = (kind: string, pattern: RegExp, example: string) => z.string().regex(pattern, `must be ${kind} such as "${example}"`);
const VpcId = id('a VPC id', /^vpc-[0-9a-f]{8,17}$/, 'vpc-0a1b2c3d4e5f67890');
const SubnetId = id('a subnet id', /^subnet-[0-9a-f]{8,17}$/, 'subnet-0a1b2c3d4e5f67890');
const SecurityGroupId = id('a security group id', /^sg-[0-9a-f]{8,17}$/, 'sg-0a1b2c3d4e5f67890');
const RouteTableId = id('a route table id', /^rtb-[0-9a-f]{8,17}$/, 'rtb-0a1b2c3d4e5f67890');
/** One of a VPC's IPv4 CIDR blocks, which are /16 to /28 networks. */
const VpcCidr = z.cidrv4({ error: 'must be an IPv4 CIDR block such as "10.0.0.0/16"' }).superRefine((cidr, ctx) => {
  const [address = '', length] = cidr.split('/');
  const prefix = Number(length);
  if (prefix < 16 || prefix > 28) {
    ctx.addIssue({ code: 'custom', message: "must be a /16 to /28 block, the sizes a VPC's CIDR blocks have" });
    return;
  }
  const bits = address.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
  const network = bits - (bits % 2 ** (32 - prefix));
  if (network !== bits) {
    const octets = [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256);
    ctx.addIssue({ code: 'custom', message: `must be the block's network address, "${octets.join('.')}/${prefix}"` });
  }
});
const KmsKeyArn = z.string().regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/, 'must be a KMS key ARN');
const RdsIdentifier = z
  .string()
  .regex(/^[a-zA-Z][a-zA-Z0-9-]{0,62}$/, 'must be an RDS identifier (letters, digits and "-", starting with a letter)');
const CRON_FIELDS = 'minutes hours day-of-month month day-of-week year';
const Cron = z
  .string()
  .superRefine((cron, ctx) => {
    const fields = cron.trim().split(/\s+/);
    if (fields.length !== 6) {
      ctx.addIssue({ code: 'custom', message: `must have six fields "${CRON_FIELDS}", such as "30 3 * * ? *"` });
      return;
    }
    const [, , dayOfMonth, month, dayOfWeek, year] = fields as [string, string, string, string, string, string];
    if (cronTimesOfDay(cron) === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'minutes and hours may only hold values 0-59 and 0-23, ranges "a-b", steps "/n" and lists "a,b", such as "0,30" and "*/6"',
      });
    }
    // The 7 daily / 4 weekly / 6 monthly guarantee needs a backup every calendar day.
    const everyDay = ['*', '?'].includes(dayOfMonth) && month === '*' && ['*', '?'].includes(dayOfWeek) && year === '*';
    if (!everyDay) {
      ctx.addIssue({
        code: 'custom',
        message:
          'must run every day (day-of-month "*" or "?", month "*", day-of-week "*" or "?", year "*"): retention keeps one backup per day',
      });
    }
    if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
      ctx.addIssue({ code: 'custom', message: 'exactly one of day-of-month and day-of-week must be "?"' });
    }
  })
  .transform((cron) => cron.trim().split(/\s+/).join(' '));

const Schedule = z
  .strictObject({
    /** EventBridge Scheduler cron fields, without the `cron(...)` wrapper. */
    cron: Cron,
    /** IANA zone of the cron and of the calendar that decides monthly and weekly tiers. */
    timeZone: TimeZone,
  })
  .superRefine(({ cron, timeZone }, ctx) => {
    // Zod runs this even when a field has a problem of its own: check only a valid schedule.
    if (ctx.issues.length > 0) return;
    const problem = skippedRunProblem(cronTimesOfDay(cron)!, timeZone);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['cron'], message: problem });
  });

/**
 * A restore drill's schedule: any EventBridge Scheduler cron (six fields) in an IANA zone, checked as backups' are
 * against the zone's skipped hours. Quarterly by default (04:00 UTC on the first day of January, April, July and
 * October), as the runbooks ask for restore tests.
 */
const DrillSchedule = z
  .strictObject({
    cron: z
      .string()
      .superRefine((cron, ctx) => {
        const fields = cron.trim().split(/\s+/);
        if (fields.length !== 6) {
          ctx.addIssue({ code: 'custom', message: `must have six fields "${CRON_FIELDS}", such as "0 4 1 1,4,7,10 ? *"` });
        } else if (cronTimesOfDay(cron) === undefined) {
          ctx.addIssue({ code: 'custom', message: 'minutes and hours may only hold values 0-59 and 0-23, ranges, steps and lists' });
        } else if ((fields[2] === '?') === (fields[4] === '?')) {
          ctx.addIssue({ code: 'custom', message: 'exactly one of day-of-month and day-of-week must be "?"' });
        }
      })
      .transform((cron) => cron.trim().split(/\s+/).join(' ')),
    timeZone: TimeZone,
  })
  .superRefine(({ cron, timeZone }, ctx) => {
    if (ctx.issues.length > 0) return;
    const problem = skippedRunProblem(cronTimesOfDay(cron)!, timeZone);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['cron'], message: problem });
  });

/** What a database's drills may override of the deployment's `drill`. */
const DatabaseDrill = z.strictObject({
  schedule: DrillSchedule.optional(),
  /** The "untested backups" alarm fires when no drill of the database passed within this many days. */
  passedWithinDays: z.number().int().min(1).max(400).optional(),
});

/** Restore drills of every database (`<name>-drill`), deployed when present, beside `restore`. */
const Drill = z.strictObject({
  schedule: DrillSchedule.default({ cron: '0 4 1 1,4,7,10 ? *', timeZone: 'UTC' }),
  passedWithinDays: z.number().int().min(1).max(400).default(100),
});

const Rds = z.union([z.strictObject({ instanceIdentifier: RdsIdentifier }), z.strictObject({ clusterIdentifier: RdsIdentifier })]);

/** The point-in-time recovery workflow (`<name>-pitr`), for every database's `rds`: deployed when present, beside `restore`. */
const Pitr = z.strictObject({
  /** The IAM roles RDS Enhanced Monitoring publishes with on the sources: a restore's modify passes them on (iam:PassRole). */
  monitoringRoleArns: z
    .array(z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/, 'must be an IAM role ARN'))
    .default([]),
  /** The longest a restore may take to become available (instance, or cluster and writer) before the execution fails PitrTimedOut. */
  maxWaitHours: z.number().int().min(1).max(168).default(6),
  /**
   * Whether a PITR may use the endpoint-preserving strategy (`strategy: "rename"`), which renames the source aside and
   * back: its role then may modify the configured source instances. Off, the sources are never modifiable.
   */
  renameSources: z.boolean().default(false),
});

/** Fargate's task sizes: for each vCPU count, the memory in GiB from, to, and in steps of. */
const FARGATE_MEMORY_GIB = { 1: [2, 8, 1], 2: [4, 16, 1], 4: [8, 30, 1], 8: [16, 60, 4], 16: [32, 120, 8] } as const;
type FargateVcpus = keyof typeof FARGATE_MEMORY_GIB;

/** A Fargate task's size: `vcpus` (2 unless given) and `memoryGiB`, one Fargate pairs with them, `defaultMemoryGiB` unless given. */
function fargateSize(defaultMemoryGiB: (vcpus: FargateVcpus) => number) {
  return z
    .strictObject({
      vcpus: z.literal([1, 2, 4, 8, 16], { error: 'must be 1, 2, 4, 8 or 16, the vCPU counts Fargate offers' }).default(2),
      memoryGiB: z.number().int().positive().optional(),
    })
    .superRefine(({ vcpus, memoryGiB }, ctx) => {
      if (ctx.issues.length > 0 || memoryGiB === undefined) return;
      const [from, to, step] = FARGATE_MEMORY_GIB[vcpus];
      if (memoryGiB < from || memoryGiB > to || memoryGiB % step !== 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['memoryGiB'],
          message: `must be ${from} to ${to} GiB${step === 1 ? '' : ` in steps of ${step}`} with ${vcpus} vCPU${vcpus === 1 ? '' : 's'}, the sizes Fargate offers`,
        });
      }
    })
    .transform(({ vcpus, memoryGiB }) => ({ vcpus, memoryGiB: memoryGiB ?? defaultMemoryGiB(vcpus) }));
}

/** The restore runner: its vCPUs are pg_restore's default --jobs, and its memory, 4 GiB per vCPU unless given, holds the workers. */
const RestoreRunner = fargateSize((vcpus) => vcpus * 4);

/**
 * A database's backup task, for `runner: "fargate"`: the engine streams in bounded memory, so it gets the least
 * memory Fargate pairs with its vCPUs unless given (2 vCPUs and 4 GiB by default); the vCPUs run pg_dump, zstd and
 * the upload side by side.
 */
const BackupTask = fargateSize((vcpus) => FARGATE_MEMORY_GIB[vcpus][0]);

/** An alarm the user already has whose transition into ALARM starts a run for its database (lambdas/core/alarms/). */
const Alarm = z.strictObject({
  alarmName: AlarmName,
  action: AlarmAction,
  lookbackMinutes: AlarmRoute.shape.lookbackMinutes.default(0),
  /** The application a `prepare-*` run cuts over once approved; by default the database's one application, if it has one. */
  cutover: ApplicationName.optional(),
});

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
  /**
   * The server's DNS name or address, for a secret without `host` (RDS-managed secrets hold only username and
   * password). Left out, the function asks RDS for the endpoint of `rds` at run time.
   */
  host: z
    .string()
    .regex(/^[A-Za-z0-9.:-]{1,253}$/, 'must be a DNS name or an IP address')
    .optional(),
  port: z.number().int().min(1).max(65535).default(5432),
  /**
   * The database to back up, for a secret without `dbname`. Left out, the function asks RDS for the database
   * `rds` was created with.
   */
  databaseName: z.string().min(1).max(63).optional(),
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
  /**
   * A backup smaller than the previous one by more than this percent (in bytes, in total rows or in any table's
   * rows; a table that disappeared lost all its rows) raises the shrink alarm: a wiped table must not pass for a
   * successful backup while the good history expires.
   */
  shrinkAlarmPercent: z.number().min(0).max(99).default(50),
  /** `scheduled` backs up by the schedule; `on-demand` deploys the function for manual and pre-migration runs only. */
  runMode: z.enum(['scheduled', 'on-demand']).default('scheduled'),
  /** This database's drill schedule and alarm days, where they differ from the deployment's `drill`. */
  drill: DatabaseDrill.optional(),
  /**
   * Where the backup runs: `lambda`, a function that stops at 15 minutes (DatabaseTooLargeForLambda), or `fargate`,
   * an ECS task of the same image without a time limit, for the databases that outgrow Lambda.
   */
  runner: z.enum(['lambda', 'fargate']).default('lambda'),
  /** The Fargate task's size, with `runner: "fargate"`. */
  fargate: BackupTask.optional(),
  /** Alarms whose transition into ALARM backs this database up or prepares its restore or PITR up to the approval. */
  alarms: z.array(Alarm).default([]),
});

/** A database entry as the stacks read it: a Fargate database always has its task's size, a Lambda database none. */
const DatabaseEntry = Database.superRefine((db, ctx) => {
  if (db.fargate !== undefined && db.runner !== 'fargate') {
    ctx.addIssue({ code: 'custom', path: ['fargate'], message: 'sizes the Fargate task: only with "runner": "fargate"' });
  }
}).transform(({ fargate, ...db }) =>
  db.runner === 'fargate' ? { ...db, runner: db.runner, fargate: fargate ?? BackupTask.parse({}) } : { ...db, runner: db.runner },
);

const Network = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be 1-32 lowercase letters, digits or "-"'),
  vpcId: VpcId,
  /** Private subnets that route to the databases and to S3 and Secrets Manager (NAT or VPC endpoints). */
  subnetIds: z.array(SubnetId).min(1),
  /**
   * Create an S3 gateway endpoint (on these route tables) and interface endpoints for Secrets Manager, ECR and
   * CloudWatch Logs (what the restore runner needs to start) in this VPC. Leave out when the subnets already reach
   * these services through a NAT gateway or existing endpoints.
   */
  createEndpoints: z
    .strictObject({
      routeTableIds: z.array(RouteTableId).min(1),
      /**
       * All of the VPC's CIDR blocks. The endpoint's private DNS makes it every workload's Secrets Manager in
       * this VPC, so it admits HTTPS from all of them, not only from the backups.
       */
      vpcCidrs: z.array(VpcCidr).min(1),
    })
    .optional(),
});

const ObjectLock = z.strictObject({
  /** Each backup is locked for its tier's days; GOVERNANCE lets a holder of s3:BypassGovernanceRetention remove it early. */
  mode: ObjectLockMode.default('GOVERNANCE'),
});

const Approval = z.strictObject({
  /** Who is asked to approve restores into production and cutovers. */
  emails: z.array(z.email()).min(1),
  timeoutHours: z.number().int().min(1).max(168).default(24),
  /**
   * The identity that started an execution (CloudTrail's StartExecution) may not approve it, only reject it; runs
   * Lifeline starts (schedules, alarms, a restore's hand-over) have no human starter. See the README's Approvals.
   */
  separateDuties: z.boolean().default(false),
});

/** The restore workflow, deployed only when this section is present (see lib/README.md for its size limit). */
const Restore = z.strictObject({ runner: RestoreRunner.prefault({}) });

/**
 * The application's migrations, run on a restored database before it is validated (the runbooks' `prisma migrate
 * deploy` against the restore): an ECS task of the application's `image` running `command`, with DATABASE_URL
 * pointing at the restored database through the task's secret, never in its command.
 */
const Migrations = z.strictObject({
  /** The command line, as the container's command: `["npx", "prisma", "migrate", "deploy"]`. */
  command: z.array(z.string().min(1)).min(1),
  /** The application's own image, which holds its migrations (an ECR or registry reference with a tag or digest). */
  image: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._/:-]*(:[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})$/, 'must be an image reference with a tag or digest'),
  /** The run fails with MigrationsFailed past it (the task is stopped). */
  timeoutMinutes: z.number().int().min(1).max(240).default(30),
  /** The task's size: 1 vCPU and 2 GiB by default. */
  fargate: BackupTask.prefault({ vcpus: 1 }),
});

const Application = z
  .strictObject({
    name: ApplicationName,
    /** `name` of the database the application uses. */
    database: z.string(),
    /** The secret the application reads its connection from; cutover rewrites it and keeps the previous version. */
    connectionSecretArn: SecretArn,
    /** The ECS service cutover restarts (a forced new deployment) so that it reads the secret again. */
    ecs: z.strictObject({ cluster: z.string().min(1), service: z.string().min(1) }).optional(),
    /** Lambda functions that read the secret when they start: cutover changes their configuration so new environments start. */
    lambdaFunctions: z.array(LambdaFunctionName).default([]),
    /**
     * The alias the functions are invoked through (the same name on each): a cutover's `applicationVersion` points it at
     * another published version, and every rollback back. Left out: a cutover does not set the functions' version.
     */
    lambdaAlias: LambdaAliasName.optional(),
    /** How writes to the old database stop during a cutover: `none` (the default), `read-only-source`, `parameter` or `scale-to-zero` (of `ecs`). */
    freeze: Freeze.default({ mode: 'none' }),
    healthCheckUrl: z.url({ protocol: /^https?$/ }),
    /** How many 2xx answers in a row prove the application healthy after a switch, within `healthCheckWindowSeconds`. */
    healthCheckCount: HealthCheck.shape.count,
    healthCheckWindowSeconds: HealthCheck.shape.windowSeconds,
    /** Run on a restore this application is cut over to, after the restore and before its validation. */
    migrations: Migrations.optional(),
  })
  .refine((a) => a.ecs !== undefined || a.lambdaFunctions.length > 0, {
    path: ['ecs'],
    message: 'required: an ECS service or lambdaFunctions, which cutover restarts after switching the connection',
  })
  .refine((a) => a.freeze.mode !== 'scale-to-zero' || a.ecs !== undefined, {
    path: ['freeze', 'mode'],
    message: '"scale-to-zero" scales the application\'s ECS service to zero: it needs `ecs`',
  })
  .refine((a) => a.lambdaAlias === undefined || a.lambdaFunctions.length > 0, {
    path: ['lambdaAlias'],
    message: "is the alias of the application's Lambda functions: it needs lambdaFunctions",
  });

export const LifelineConfig = z
  .strictObject({
    /** Prefix of stack, function, schedule and alarm names. */
    name: DeploymentName.default(DEFAULT_DEPLOYMENT_NAME),
    /** Leave out for an environment-agnostic template (the CLI's credentials decide). */
    aws: z
      .strictObject({
        account: z.string().regex(/^\d{12}$/, 'must be a 12-digit account id'),
        region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be a region such as "eu-west-1"'),
      })
      .optional(),
    /**
     * How many stacks hold the databases' backup resources (each database's stack is chosen by a hash of its
     * name, so adding a database never moves another). Raise it when a stack would hold too many databases.
     */
    backupStacks: z.number().int().min(1).max(200).default(1),
    notifications: z.strictObject({ emails: z.array(z.email()).min(1) }),
    vault: z.strictObject({ objectLock: ObjectLock.prefault({}) }).prefault({}),
    /** Used by the restore and cutover workflows; optional until a deployment uses them. */
    approval: Approval.optional(),
    applications: z.array(Application).default([]),
    restore: Restore.optional(),
    pitr: Pitr.optional(),
    drill: Drill.optional(),
    networks: z.array(Network).min(1),
    databases: z.array(DatabaseEntry).min(1),
  })
  .superRefine((config, ctx) => {
    const unique = (values: string[], path: (i: number) => (string | number)[], what: string) =>
      values.forEach((value, i) => {
        if (values.indexOf(value) !== i) ctx.addIssue({ code: 'custom', path: path(i), message: `${what} "${value}" is used twice` });
      });
    unique(
      config.networks.map((n) => n.name),
      (i) => ['networks', i, 'name'],
      'network name',
    );
    unique(
      config.databases.map((d) => d.name),
      (i) => ['databases', i, 'name'],
      'database name',
    );
    unique(
      config.applications.map((a) => a.name),
      (i) => ['applications', i, 'name'],
      'application name',
    );
    const networks = new Map(config.networks.map((n) => [n.name, n]));
    const databases = new Set(config.databases.map((d) => d.name));
    config.databases.forEach((database, i) => {
      const network = networks.get(database.network);
      if (!network) {
        ctx.addIssue({ code: 'custom', path: ['databases', i, 'network'], message: `no network named "${database.network}" in networks` });
      } else if (network.createEndpoints && (database.host === undefined || database.databaseName === undefined)) {
        // Lifeline's endpoints reach S3 and Secrets Manager, not the RDS API the function would ask instead.
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, database.host === undefined ? 'host' : 'databaseName'],
          message: `required: network "${network.name}" reaches AWS through the endpoints Lifeline creates, which do not include the RDS API that would otherwise be asked; set "host" and "databaseName"`,
        });
      }
      if (network?.createEndpoints && database.runner === 'fargate') {
        // A Fargate task pulls its image and sends its logs, metrics and dead letters itself; Lambda does that for a function.
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'runner'],
          message: `"fargate" needs ECR, CloudWatch Logs, CloudWatch and SQS, which network "${network.name}" cannot reach: it reaches AWS through the endpoints Lifeline creates (S3, Secrets Manager, ECR and CloudWatch Logs: not CloudWatch's metrics or SQS); use "lambda", or a network with NAT`,
        });
      }
      const names = [
        ['function', backupFunctionName(config.name, database.name)],
        ...(config.drill === undefined ? [] : [['drill schedule', drillScheduleNames(config.name, database.name).check]]),
      ];
      for (const [what, resourceName] of names) {
        if (resourceName!.length <= MAX_RESOURCE_NAME) continue;
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'name'],
          message: `makes the ${what} name "${resourceName}" longer than ${MAX_RESOURCE_NAME} characters; shorten the database name or the config name`,
        });
        break;
      }
    });
    const fullest = Math.max(...groupDatabases(config.databases, config.backupStacks).map((group) => group.length));
    if (fullest > MAX_DATABASES_PER_STACK) {
      const enough = stackCountFor(
        config.databases.map((d) => d.name),
        config.backupStacks,
      );
      ctx.addIssue({
        code: 'custom',
        path: ['backupStacks'],
        message: `${config.backupStacks} would put ${fullest} databases in one stack, over the ${MAX_DATABASES_PER_STACK} that fit; set it to ${enough} or more`,
      });
    }
    config.applications.forEach((application, i) => {
      if (!databases.has(application.database)) {
        ctx.addIssue({
          code: 'custom',
          path: ['applications', i, 'database'],
          message: `no database named "${application.database}" in databases`,
        });
      }
      if (application.migrations !== undefined && config.restore === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['applications', i, 'migrations'],
          message: "needs `restore`: the restore workflow runs them, on the restore runners' cluster",
        });
      }
    });
    // The PITR workflow finds its databases in the restore workflow's catalog.
    if (config.drill !== undefined && config.restore === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['drill'],
        message: 'needs `restore`: drills run on the restore runner, in the networks the restore catalog names',
      });
    }
    if (config.pitr !== undefined && config.restore === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['pitr'],
        message: 'needs `restore`: the PITR workflow reads the restore catalog of databases',
      });
    }
    const alarmNames = config.databases.flatMap((db) => db.alarms.map((alarm) => alarm.alarmName));
    const ownAlarms = new Set(config.databases.map((db) => stalenessAlarmName(config.name, db.name)));
    config.databases.forEach((database, i) => {
      const applications = config.applications.filter((a) => a.database === database.name).map((a) => a.name);
      database.alarms.forEach((alarm, j) => {
        const problem = (field: string, message: string) =>
          ctx.addIssue({ code: 'custom', path: ['databases', i, 'alarms', j, field], message });
        if (alarmNames.indexOf(alarm.alarmName) !== alarmNames.lastIndexOf(alarm.alarmName)) {
          problem('alarmName', `"${alarm.alarmName}" is configured twice: one transition starts one run`);
        }
        if (ownAlarms.has(alarm.alarmName)) {
          problem('alarmName', `"${alarm.alarmName}" is Lifeline's own staleness alarm, which starts a backup already`);
        }
        if (alarm.action === 'backup') {
          if (database.runner === 'fargate') {
            problem('action', '"backup" invokes the backup function, and a database with "runner": "fargate" has none');
          }
          if (alarm.lookbackMinutes !== 0) problem('lookbackMinutes', 'applies to "prepare-restore" and "prepare-pitr" only');
          if (alarm.cutover !== undefined) problem('cutover', 'applies to "prepare-restore" and "prepare-pitr" only');
          return;
        }
        if (alarm.action === 'prepare-restore' && config.restore === undefined) {
          problem('action', '"prepare-restore" needs `restore`: it starts the restore workflow');
        }
        if (alarm.action === 'prepare-pitr' && config.pitr === undefined) {
          problem('action', '"prepare-pitr" needs `pitr`: it starts the point-in-time recovery workflow');
        }
        // The input the alarm will start the workflow with, checked now by the workflow's own schema.
        const cutover = alarmCutover(alarm.cutover, applications);
        const route = {
          alarmName: alarm.alarmName,
          database: database.name,
          action: alarm.action,
          lookbackMinutes: alarm.lookbackMinutes,
          cutover,
        };
        try {
          workflowInput(route, { alarmName: alarm.alarmName, changedAt: new Date() });
        } catch (error) {
          problem('action', `"${alarm.action}" cannot start for database "${database.name}": ${(error as Error).message}`);
        }
        if (alarm.cutover !== undefined && !applications.includes(alarm.cutover)) {
          problem('cutover', `no application named "${alarm.cutover}" uses database "${database.name}"`);
        } else if (alarm.cutover === undefined && applications.length > 1) {
          problem('cutover', `required: ${applications.map((a) => `"${a}"`).join(' and ')} use "${database.name}"; name the one to switch`);
        }
      });
    });
    // The cutover settings' own rule, at the config's fields: an application's `ecs` is its one ECS service.
    const resources = config.applications.map((a) => ({ ...a, ecsServices: a.ecs === undefined ? [] : [a.ecs] }));
    for (const { index, field, entry, message } of sharedApplicationResources(resources)) {
      const path = field === 'ecsServices' ? ['ecs'] : [field, ...(entry === undefined ? [] : [entry])];
      ctx.addIssue({ code: 'custom', path: ['applications', index, ...path], message });
    }
  });
export type LifelineConfig = z.infer<typeof LifelineConfig>;
export type DatabaseConfig = LifelineConfig['databases'][number];
export type NetworkConfig = LifelineConfig['networks'][number];
export type RestoreConfig = NonNullable<LifelineConfig['restore']>;
export type DrillConfig = NonNullable<LifelineConfig['drill']>;
export type PitrConfig = NonNullable<LifelineConfig['pitr']>;
/** A Fargate task's vCPUs and memory. */
export type FargateSize = RestoreConfig['runner'];
