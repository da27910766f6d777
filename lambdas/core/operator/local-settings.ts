import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { fromUrl, type ConnectionSettings } from '../postgres/connection.js';
import { LifelineError } from '../errors.js';
import { DatabaseLabel } from '../vault/keys.js';
import { parseInput } from '../validation.js';
import { ApplicationName } from '../names.js';
import { HealthCheck } from '../cutover/state.js';
import type { CleanupServer } from './cleanup.js';

/**
 * The settings file of a local run (`lifeline run restore|cutover --local`, `lifeline demo`): the part of the deployed
 * config a workflow needs, with connection URLs for the databases' secrets, and for each application that a cutover
 * may switch, what stands in for its AWS resources here: its secret file, the command that starts it, its health URL.
 */

/** Stand-ins for the deployment's resources; the local engine answers for each in the real services' shapes. */
export const localArn = (service: string, resource: string) => `arn:aws:${service}:us-east-1:000000000000:${resource}`;

/** The approval verify function of local runs (local-aws.ts localApprovalVerify), as VerifyApproval names it. */
export const LOCAL_APPROVAL_VERIFY_FUNCTION = localArn('lambda', 'function:lifeline-local-approval-verify');

/** The name a local URL or secret file stands in for a secret under, in the workflows' settings and outputs. */
export function localSecretArn(kind: 'database' | 'application', name: string): string {
  return localArn('secretsmanager', `secret:lifeline-local/${kind}/${name}-LOCAL0`);
}

/** Passwords may stay out of the file: a URL without one takes PGPASSWORD, as libpq does, or connects with none. */
const ConnectionUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\/[^?]+$/, 'must be a postgres://user[:password]@host[:port]/database URL (TLS as for an RDS secret)');

/** The freezes a local run can apply: on the old database itself (there is no Parameter Store here). */
const LocalFreeze = z.strictObject({
  mode: z
    .enum(['none', 'read-only-source'])
    .describe("read-only-source: the old database is made read-only and the application role's sessions on it ended during the switch"),
});

const LocalApplication = z
  .strictObject({
    name: ApplicationName,
    database: DatabaseLabel,
    url: ConnectionUrl.optional().describe(
      "The application's own connection, for a restore only: its role owns and validates the restore.",
    ),
    secretFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        'The file the application reads its connection from (a URL, JSON with DATABASE_URL, or RDS JSON): what a cutover swaps, and a restore reads the role from.',
      ),
    start: z
      .string()
      .min(1)
      .optional()
      .describe(
        'The shell command that starts the application, run in `directory` with LIFELINE_SECRET_FILE set: what a cutover restarts.',
      ),
    healthCheck: HealthCheck.optional().describe('Where the application answers once it runs, and how a cutover proves it healthy.'),
    freeze: LocalFreeze.optional().describe('How writes stop during a cutover: none by default.'),
  })
  .refine((a) => (a.url === undefined) !== (a.secretFile === undefined), { message: 'give url or secretFile, one of them', path: ['url'] })
  .refine((a) => a.secretFile === undefined || (a.start !== undefined && a.healthCheck !== undefined), {
    message: 'an application with a secretFile needs start and healthCheck: a cutover restarts it and proves it healthy',
    path: ['start'],
  });
export type LocalApplication = z.infer<typeof LocalApplication>;

/** The settings file of a local run: the part of the deployed config a workflow needs, with URLs and files for secrets. */
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
  applications: z.array(LocalApplication).default([]),
  approvalTimeoutSeconds: z.number().int().min(1).default(3600),
  jobs: z.number().int().min(1).max(16).default(2).describe("pg_restore's jobs when the input gives none (the runner's vCPUs)."),
  directory: z
    .string()
    .min(1)
    .optional()
    .describe("Where relative paths are taken from and start commands run: by default the settings file's directory."),
  stateDirectory: z
    .string()
    .min(1)
    .optional()
    .describe(
      "Where a local cutover keeps its lock, the secrets' versions and the applications' pids and logs: by default `.lifeline` in `directory`.",
    ),
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
  const settings = parseInput(LocalRestoreSettings, await readJsonFile('--settings', file), `local settings ${file}`);
  return { ...settings, directory: resolve(dirname(file), settings.directory ?? '.') };
}

/** Where relative paths of the settings are taken from. */
export const settingsDirectory = (local: LocalRestoreSettings) => resolve(local.directory ?? '.');

/** A path the settings give, from their directory. */
export const settingsPath = (local: LocalRestoreSettings, path: string) => resolve(settingsDirectory(local), path);

/** The local cutover's state: its lock, the secrets' versions, the workloads' pids and logs. */
export const stateDirectoryOf = (local: LocalRestoreSettings) => settingsPath(local, local.stateDirectory ?? '.lifeline');

/**
 * A URL as a secret holds it, TLS as for any RDS secret: its password from the URL or PGPASSWORD, or none at all for a
 * server that asks none (trust authentication), as libpq connects.
 */
export function connectionOf(url: string, field: string): ConnectionSettings {
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
