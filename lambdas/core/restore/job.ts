import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import type { ConnectionSettings } from '../postgres/connection.js';
import { LifelineError } from '../errors.js';
import { runRestore, stagingBytesFor, type RestoreResult } from './pipeline.js';
import { SecretArn, type SecretDefaults } from '../postgres/connection-secrets.js';
import { backupKey } from '../vault/keys.js';
import { MAX_ECS_OVERRIDES_LENGTH } from '../workflows/aws-limits.js';
import { ExistingDatabaseName, MAX_IDENTIFIER_LENGTH } from '../postgres/databases.js';
import { ExecutionArn } from '../workflows/execution-history.js';

/** The variable the restore workflow's `ecs:runTask.sync` container override sets to the job, as JSON. */
export const RESTORE_JOB_VARIABLE = 'LIFELINE_RESTORE_JOB';

/**
 * What the restore workflow asks of the Fargate runner, passed in the LIFELINE_RESTORE_JOB environment
 * variable of the `ecs:runTask.sync` container override. Secrets travel by ARN only.
 */
export const RestoreJob = z.strictObject({
  key: z.string().min(1),
  /** The admin secret of the target's server; the runner connects with it to `database`. */
  serverSecretArn: SecretArn,
  /** Where that server listens, as CreateTarget resolved it: RDS-managed secrets hold neither. */
  server: z.strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65535) }),
  /** A new database's name, or in place the source's, whatever characters it holds. */
  database: ExistingDatabaseName,
  /** The role the restored objects belong to (the application's: pg_restore --role), or null for the admin user. */
  role: z.string().min(1).nullable(),
  /** Restore over the source database (approved by a human before the runner started). */
  inPlace: z.boolean(),
  /**
   * The restore execution that asks (`$$.Execution.Id`): in place, the runner restores only while it runs and only
   * what a human approved in it (in-place-approval.ts).
   */
  execution: ExecutionArn,
  tables: z.array(z.string().min(1)).nullable(),
  schemas: z.array(z.string().min(1)).nullable(),
  jobs: z.number().int().min(1).max(64),
  /** Fargate ephemeral storage for what the restore stages (21-200 GiB; storageFor). */
  storageGiB: z.number().int().min(21).max(200),
});
export type RestoreJob = z.infer<typeof RestoreJob>;

/** RunRestore's task overrides for `job`, as restore.asl.json builds them (the workflow test holds both to one shape). */
export function runnerOverrides(job: RestoreJob) {
  return {
    EphemeralStorage: { SizeInGiB: job.storageGiB },
    ContainerOverrides: [{ Name: 'runner', Environment: [{ Name: RESTORE_JOB_VARIABLE, Value: JSON.stringify(job) }] }],
  };
}

/** DNS's longest host name. */
const MAX_HOST_NAME = 253;

/** An execution ARN as long as Step Functions makes one: the longest partition and region, 80-character names. */
const LONGEST_EXECUTION_ARN = `arn:aws-us-gov:states:us-gov-west-1:123456789012:execution:${'s'.repeat(80)}:${'e'.repeat(80)}`;

/** What a job may choose; the rest (the backup, the server, the role) CreateTarget resolves later. */
type JobChoices = Pick<RestoreJob, 'serverSecretArn' | 'tables' | 'schemas' | 'jobs'> & { label: string };

/**
 * Refuses table and schema lists that would make the runner's task overrides longer than ECS takes, however long
 * what CreateTarget resolves later turns out: checked before anything exists, since RunTask would fail only after
 * the target was created.
 */
export function assertJobFits(choices: JobChoices): void {
  const { label, ...chosen } = choices;
  const widest: RestoreJob = {
    ...chosen,
    key: backupKey('monthly', label, new Date(0)),
    server: { host: 'h'.repeat(MAX_HOST_NAME), port: 65535 },
    database: 'd'.repeat(MAX_IDENTIFIER_LENGTH),
    role: 'r'.repeat(MAX_IDENTIFIER_LENGTH),
    inPlace: false,
    execution: LONGEST_EXECUTION_ARN,
    storageGiB: MAX_STORAGE_GIB,
  };
  const length = JSON.stringify(runnerOverrides(widest)).length;
  if (length > MAX_ECS_OVERRIDES_LENGTH) {
    const lists = [...(chosen.tables ?? []), ...(chosen.schemas ?? [])];
    throw new LifelineError(
      'InvalidInput',
      `tables, schemas: ${lists.length} names would make the runner's task overrides ${length} characters, more than the ${MAX_ECS_OVERRIDES_LENGTH} ECS takes; restore fewer tables at a time, or whole schemas`,
    );
  }
}

/** Fargate's ephemeral storage limits, in GiB. */
const MIN_STORAGE_GIB = 21;
const MAX_STORAGE_GIB = 200;
/** Beside the staged archive: the use lists, the container's own writes. */
const STORAGE_MARGIN_GIB = 2;
const GIB = 1024 ** 3;

/**
 * Ephemeral storage for restoring an archive of `archiveBytes`. A restore into a new database stages only the
 * archive's table of contents (and large objects' data): Fargate's least, whatever the archive's size. One in place
 * stages the archive decompressed (pipeline.ts stagingBytesFor); too large a backup for that is refused before
 * anything is created.
 */
export function storageFor(archiveBytes: number, inPlace: boolean): number {
  if (!inPlace) return MIN_STORAGE_GIB;
  const needed = Math.ceil(stagingBytesFor(archiveBytes) / GIB) + STORAGE_MARGIN_GIB;
  if (needed > MAX_STORAGE_GIB) {
    throw new LifelineError('InvalidInput', `the backup needs about ${needed} GiB of staging, more than Fargate's ${MAX_STORAGE_GIB} GiB`);
  }
  return Math.max(MIN_STORAGE_GIB, needed);
}

export interface RestoreJobDeps {
  s3: S3Client;
  bucket: string;
  /**
   * Connection settings from an RDS-style Secrets Manager secret, `defaults` filling in what it leaves out
   * (postgres/connection-secrets.ts connectionFromSecret).
   */
  connection(secretArn: string, defaults: SecretDefaults): Promise<ConnectionSettings>;
  /** Where the archive is staged (the runner's volume); by default the OS temp directory. */
  stagingDir?: string;
  /** Stops the restore (the runner's SIGTERM), which then puts the target back as it was. */
  signal?: AbortSignal;
}

/**
 * The runner's work: the archive, checked against its manifest, restored into the job's database (created empty
 * by the workflow, or the source in place), its objects owned by the job's role. Its rows are counted by the
 * workflow's next step.
 */
export async function runRestoreJob(job: RestoreJob, deps: RestoreJobDeps): Promise<RestoreResult> {
  const target = await deps.connection(job.serverSecretArn, { ...job.server, database: job.database });
  return runRestore({
    s3: deps.s3,
    bucket: deps.bucket,
    selector: { key: job.key },
    target: { ...target, database: job.database },
    role: job.role ?? undefined,
    inPlace: job.inPlace,
    tables: job.tables ?? undefined,
    schemas: job.schemas ?? undefined,
    jobs: job.jobs,
    // ValidateRestore, the next step, counts every table as the application's role.
    verifyRows: false,
    stagingDir: deps.stagingDir,
    signal: deps.signal,
  });
}
