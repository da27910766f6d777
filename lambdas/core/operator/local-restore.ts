import type { S3Client } from '@aws-sdk/client-s3';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { fromUrl, type ConnectionSettings } from '../postgres/connection.js';
import { LifelineError } from '../errors.js';
import { DatabaseLabel } from '../vault/keys.js';
import { parseInput } from '../validation.js';
import {
  inProcessTask,
  runLocalExecution,
  type CallbackAnswer,
  type CallbackRequest,
  type LocalExecutionResult,
  type Notification,
} from '../workflows/local.js';
import { runnerExitCode } from '../exit-codes.js';
import { fixedRestoreCatalog, RestoreDatabase } from '../restore/catalog.js';
import { RestoreSettings } from '../restore/state.js';
import { runRestoreStep, type RestoreStepDeps } from '../restore/steps.js';
import { runnerEnvironment } from '../runner/environment.js';
import { localRds, localSecretsManager, localStepFunctions } from './local-aws.js';
import { localExecutionStatus } from '../workflows/local-executions.js';
import { cleanUpAfterDeadRuns, type CleanupReport, type CleanupServer } from './cleanup.js';
import { restoreFromEnvironment } from '../runner/restore.js';
import { ApplicationName } from '../names.js';

/**
 * `lifeline run restore --local`: the deployed restore.asl.json run on this machine, a rehearsal of the
 * cloud runbook. What the deployment gets from its config and Secrets Manager, a local run gets from a
 * settings file that names each database and application with a connection URL.
 */

/** restore.asl.json, from the source tree (tsx) or beside dist/ (the compiled CLI). */
function definitionFile(): string {
  for (const up of ['../../..', '../../../..']) {
    const file = fileURLToPath(new URL(`${up}/state-machines/restore.asl.json`, import.meta.url));
    if (existsSync(file)) return file;
  }
  throw new LifelineError('InvalidConfig', 'state-machines/restore.asl.json is not installed with this lifeline');
}

/** Stand-ins for the deployment's resources; the local engine answers for each in the real services' shapes. */
const local = (service: string, resource: string) => `arn:aws:${service}:us-east-1:000000000000:${resource}`;
const STEPS_FUNCTION = local('lambda', 'function:lifeline-local-restore-steps');
const SUBSTITUTIONS = {
  RestoreStepsFunctionArn: STEPS_FUNCTION,
  RunnerClusterArn: local('ecs', 'cluster/lifeline-local'),
  ApprovalsTopicArn: local('sns', 'lifeline-local-approvals'),
  NotificationsTopicArn: local('sns', 'lifeline-local-notifications'),
  CutoverStateMachineArn: local('states', 'stateMachine:lifeline-local-cutover'),
};

/** The name a local URL stands in for a secret under, in the workflow's settings and outputs. */
export function localSecretArn(kind: 'database' | 'application', name: string): string {
  return local('secretsmanager', `secret:lifeline-local/${kind}/${name}-LOCAL0`);
}

/** Passwords may stay out of the file: a URL without one takes PGPASSWORD, as libpq does, or connects with none. */
const ConnectionUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\/[^?]+$/, 'must be a postgres://user[:password]@host[:port]/database URL (TLS as for an RDS secret)');

/** The settings file of a local run: the part of the deployed config a restore needs, with URLs for secrets. */
export const LocalRestoreSettings = z.strictObject({
  bucket: z.string().min(3).describe('The vault bucket on the S3 endpoint (AWS_ENDPOINT_URL_S3 or --s3-endpoint).'),
  databases: z
    .array(
      z.strictObject({
        name: DatabaseLabel,
        url: ConnectionUrl.describe("An admin user's URL on the database's server: backups come from it, restores go beside it."),
      }),
    )
    .min(1),
  applications: z
    .array(
      z.strictObject({
        name: ApplicationName,
        database: DatabaseLabel,
        url: ConnectionUrl.describe("The application's own connection: its role owns and validates the restore."),
      }),
    )
    .default([]),
  approvalTimeoutSeconds: z.number().int().min(1).default(3600),
  jobs: z.number().int().min(1).max(16).default(2).describe("pg_restore's jobs when the input gives none (the runner's vCPUs)."),
});
export type LocalRestoreSettings = z.infer<typeof LocalRestoreSettings>;

/** A JSON file a flag names; an unreadable one is InvalidInput naming the flag and the file. */
export async function readJsonFile(flag: string, file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new LifelineError('InvalidInput', `${flag}: cannot read ${file} as JSON (${(error as Error).message})`);
  }
}

export async function readLocalRestoreSettings(file: string): Promise<LocalRestoreSettings> {
  return parseInput(LocalRestoreSettings, await readJsonFile('--settings', file), `local settings ${file}`);
}

/** The deployment's view of a local settings file: stand-in secret ARNs, and Secrets Manager answering them with the URLs. */
function deployment(local: LocalRestoreSettings) {
  const secrets = new Map<string, ConnectionSettings>();
  const databases = local.databases.map((d, i) => {
    const secretArn = localSecretArn('database', d.name);
    secrets.set(secretArn, connectionOf(d.url, `databases[${i}].url`));
    const { host, port, database } = secrets.get(secretArn)!;
    return {
      name: d.name,
      secretArn,
      host,
      port,
      databaseName: database,
      rds: { instanceIdentifier: d.name },
      network: 'local',
      stepsFunctionArn: STEPS_FUNCTION,
      runner: { taskDefinition: 'lifeline-local-runner', subnetIds: ['subnet-local'], securityGroupIds: ['sg-local'] },
      applications: local.applications.flatMap((a, i) => {
        if (a.database !== d.name) return [];
        const connectionSecretArn = localSecretArn('application', a.name);
        secrets.set(connectionSecretArn, connectionOf(a.url, `applications[${i}].url`));
        return [{ name: a.name, connectionSecretArn }];
      }),
    };
  });
  const settings = parseInput(
    RestoreSettings,
    {
      deployment: 'lifeline-local',
      backupStacks: 1,
      bucket: local.bucket,
      approvalTimeoutSeconds: local.approvalTimeoutSeconds,
      runnerVcpus: local.jobs,
    },
    'local settings',
  );
  const catalog = fixedRestoreCatalog(parseInput(z.array(RestoreDatabase), databases, 'local settings'));
  return { settings, catalog, secrets: localSecretsManager(secrets) };
}

/**
 * A URL as a secret holds it, TLS as for any RDS secret: its password from the URL or PGPASSWORD, or none at all for a
 * server that asks none (trust authentication), as libpq connects.
 */
function connectionOf(url: string, field: string): ConnectionSettings {
  try {
    return fromUrl(url);
  } catch (error) {
    throw new LifelineError('InvalidInput', `local settings: ${field}: ${(error as Error).message}`);
  }
}

/** The servers of a settings file's databases, each once, as `lifeline cleanup` and the start of a local run check them. */
export function localServers(local: LocalRestoreSettings): CleanupServer[] {
  const servers = new Map<string, CleanupServer>();
  local.databases.forEach((database, i) => {
    const settings = connectionOf(database.url, `databases[${i}].url`);
    const label = `${settings.host}:${settings.port}`;
    if (!servers.has(label)) servers.set(label, { label, settings });
  });
  return [...servers.values()];
}

export interface LocalRestoreOptions {
  input: unknown;
  settings: LocalRestoreSettings;
  s3: S3Client;
  /** Where the runner stages the archive (the OS temp directory by default). */
  stagingDir: string;
  /** The approval request's answer: given on the command line, or asked on the terminal. */
  answer: (request: CallbackRequest) => Promise<CallbackAnswer>;
  notify: (notification: Notification) => void;
  onStateEntered?: (state: string) => void;
  /** Keeps every table's check of the validation, as the deployed steps function logs them. */
  logTableChecks?: RestoreStepDeps['logTableChecks'];
  /** What the run removed, before it started, of what runs that died left (operator/cleanup.ts), and what it kept. */
  onCleanedUp?: (report: CleanupReport) => void;
  signal?: AbortSignal;
}

/** Runs restore.asl.json on this machine: the steps handler and the runner in-process, SNS printed, the approval asked. */
export async function runRestoreLocally(options: LocalRestoreOptions): Promise<LocalExecutionResult> {
  // Cutover needs the application's workloads, lock table and health check, which local settings do not describe yet.
  const { cutover } = (options.input ?? {}) as { cutover?: unknown };
  if (cutover !== undefined) {
    throw new LifelineError(
      'InvalidInput',
      `cutover: a local run cannot switch ${JSON.stringify(cutover)} yet (no local cutover workflow); leave "cutover" out to rehearse the restore here, or start it in AWS with lifeline start restore; nothing was created`,
    );
  }
  const { settings, catalog, secrets } = deployment(options.settings);
  // A run killed midway left its staging directory and the database its execution created: removed first.
  const cleaned = await cleanUpAfterDeadRuns({ stagingDir: options.stagingDir, servers: localServers(options.settings) });
  options.onCleanedUp?.(cleaned);
  const steps = {
    settings,
    catalog,
    s3: options.s3,
    secrets,
    rds: localRds(),
    logTableChecks: options.logTableChecks,
    // A mark of a local run whose process has ended does not hold its database's name.
    executions: localExecutionStatus,
  };
  return runLocalExecution({
    definitionFile: definitionFile(),
    substitutions: SUBSTITUTIONS,
    input: options.input,
    functions: {
      [STEPS_FUNCTION]: (event, context) => runRestoreStep(event, { ...steps, lambdaRemainingMs: context.getRemainingTimeInMillis() }),
    },
    tasks: {
      // The runner container's environment: the task definition's, plus the state machine's override.
      RunRestore: inProcessTask(async (override) => {
        const env = { ...runnerEnvironment({ bucket: settings.bucket, stagingDir: options.stagingDir }), ...override };
        await restoreFromEnvironment(env, { s3: options.s3, secrets, sfn: localStepFunctions(), signal: options.signal });
      }, runnerExitCode),
    },
    notify: options.notify,
    answer: options.answer,
    onStateEntered: options.onStateEntered,
  });
}
