import { paginateGetParametersByPath, type GetParametersByPathCommandOutput, type SSMClient } from '@aws-sdk/client-ssm';
import { z } from 'zod';
import { backupStackOf } from '../database-groups.js';
import { restoreCatalogPath, restoreNetworkFunctionName, restoreRunnerFamily, ApplicationName } from '../names.js';
import { LifelineError } from '../errors.js';
import { DatabaseLabel } from '../vault/keys.js';
import { SecretArn } from '../postgres/connection-secrets.js';
import { parseInput } from '../validation.js';
import { MigrationsPlacement } from './migrations.js';

/** An RDS instance or Aurora cluster by identifier (postgres/rds.ts RdsResource). */
const RdsResource = z.union([
  z.strictObject({ instanceIdentifier: z.string().min(1) }),
  z.strictObject({ clusterIdentifier: z.string().min(1) }),
]);

/** A Lambda function's ARN, unqualified. */
export const LambdaFunctionArn = z
  .string()
  .regex(/^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+$/, 'must be a Lambda function ARN');

/** Where a restore's runner task runs: its backups stack's task definition (a family: its latest revision), in the database's network. */
export const RunnerPlacement = z.strictObject({
  taskDefinition: z.string().min(1),
  subnetIds: z.array(z.string()).min(1),
  securityGroupIds: z.array(z.string()).min(1),
});

/**
 * A configured database as the restore workflow knows it: its server, reached as its backups reach it, and where
 * the restores beside it run. The deployment writes one per database, as an SSM parameter of its backups stack's
 * restore group: the catalog is as large as the config, which no function's environment could hold.
 */
export const RestoreDatabase = z.strictObject({
  name: DatabaseLabel,
  /** The secret backups connect with; its server is the default target's server. */
  secretArn: SecretArn,
  /**
   * Where the server listens, for secrets that do not say (RDS-managed ones): as the backup function resolves it
   * (postgres/endpoints.ts endpointConnection): the secret, then host/port/databaseName, then RDS.
   */
  host: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535),
  databaseName: z.string().min(1).optional(),
  rds: RdsResource,
  /** Its network's name: a restore's target server must be in the source's. */
  network: z.string().min(1),
  /** The restore steps function of its group in its network, for the steps that connect to it. */
  stepsFunctionArn: LambdaFunctionArn,
  runner: RunnerPlacement,
  /** The applications that use it, whose roles own and validate its restores. */
  applications: z.array(
    z.strictObject({
      name: ApplicationName,
      connectionSecretArn: SecretArn,
      /** Where its migrations run on a restore it is cut over to, when the config gives it some. */
      migrations: MigrationsPlacement.optional(),
    }),
  ),
});
export type RestoreDatabase = z.infer<typeof RestoreDatabase>;

/** The configured databases a restore of one database chooses among: its own, and the servers it may restore onto. */
export interface RestoreCatalog {
  /** Every configured database of `database`'s restore group (its backups stack), itself among them when it is configured. */
  groupOf(database: string): Promise<RestoreDatabase[]>;
}

/**
 * The catalog as the deployment wrote it: the group's parameters, read by path (at most 50, so five pages). Each
 * entry must name its own parameter's database and its own group's steps function and runner, so that an entry
 * written by hand under the path cannot send a restore to another group's runner or function.
 */
export function ssmRestoreCatalog(ssm: SSMClient, deployment: { name: string; backupStacks: number }): RestoreCatalog {
  return {
    async groupOf(database) {
      const group = backupStackOf(database, deployment.backupStacks) + 1;
      const path = restoreCatalogPath(deployment.name, group);
      const databases: RestoreDatabase[] = [];
      const pages: GetParametersByPathCommandOutput[] = [];
      try {
        for await (const page of paginateGetParametersByPath({ client: ssm }, { Path: path, Recursive: false })) pages.push(page);
      } catch (error) {
        throw new LifelineError('InvalidConfig', `cannot read the restore catalog under SSM path ${path}: ${(error as Error).message}`, {
          cause: error,
        });
      }
      for (const parameter of pages.flatMap((page) => page.Parameters ?? [])) {
        const what = `SSM parameter ${parameter.Name}`;
        let value: unknown;
        try {
          value = JSON.parse(parameter.Value ?? '');
        } catch (error) {
          throw new LifelineError('InvalidConfig', `${what} is not JSON: ${(error as Error).message}`);
        }
        const entry = parseInput(RestoreDatabase, value, what, 'InvalidConfig');
        const problem =
          parameter.Name !== `${path}/${entry.name}`
            ? `names database "${entry.name}"`
            : !entry.stepsFunctionArn.endsWith(`:function:${restoreNetworkFunctionName(deployment.name, group, entry.network)}`)
              ? `names steps function ${entry.stepsFunctionArn}, not one of group ${group}'s`
              : entry.runner.taskDefinition !== restoreRunnerFamily(deployment.name, group)
                ? `names runner ${entry.runner.taskDefinition}, not group ${group}'s`
                : undefined;
        if (problem !== undefined) throw new LifelineError('InvalidConfig', `${what} ${problem}; only the deployment writes the catalog`);
        databases.push(entry);
      }
      return databases;
    },
  };
}

/** A catalog of given databases, all in one group: a local run's, whose settings file is small. */
export function fixedRestoreCatalog(databases: readonly RestoreDatabase[]): RestoreCatalog {
  return { groupOf: () => Promise.resolve([...databases]) };
}

export type RestoreApplication = RestoreDatabase['applications'][number];

/**
 * The configured database `name` and the catalog group it is in (the restore and PITR inputs name it); InvalidInput
 * naming its restore group when that group has no entry for it.
 */
export async function configuredDatabase(
  catalog: RestoreCatalog,
  name: string,
  deployment: { name: string; backupStacks: number },
): Promise<{ database: RestoreDatabase; group: RestoreDatabase[] }> {
  const group = await catalog.groupOf(name);
  const database = group.find((d) => d.name === name);
  if (!database) {
    throw new LifelineError(
      'InvalidInput',
      `database: "${name}" is not a configured database of deployment ${deployment.name} (its restore group ${deployment.name}-restore-${backupStackOf(name, deployment.backupStacks) + 1} has no catalog entry for it)`,
    );
  }
  return { database, group };
}

/**
 * The application whose role owns and validates a restore of `database`: the one `cutover` names, which must be one
 * of its configured applications (InvalidInput naming them), else its only one; undefined when it has none or several.
 */
export function owningApplication(database: RestoreDatabase, cutover: string | undefined): RestoreApplication | undefined {
  if (cutover === undefined) return database.applications.length === 1 ? database.applications[0] : undefined;
  const application = database.applications.find((a) => a.name === cutover);
  if (!application) {
    const applications = database.applications.map((a) => a.name).join(', ') || 'none';
    throw new LifelineError(
      'InvalidInput',
      `cutover: "${cutover}" is not a configured application of database "${database.name}" (its applications: ${applications})`,
    );
  }
  return application;
}
