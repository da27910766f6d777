import { Aws, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import type { RestoreDatabase } from '../../lambdas/core/restore/catalog.js';
import type { BackupsStack } from '../backup/backups-stack.js';
import {
  restoreCatalogPath,
  restoreNetworkFunctionName,
  restoreRunnerFamily,
  pitrWorkflowName,
  restoreRunnerRolePath,
  restoreWorkflowName,
} from '../../lambdas/core/names.js';
import { nagResource } from '../nag-findings.js';
import type { DatabaseConfig, LifelineConfig, RestoreConfig } from '../config/schema.js';
import type { VaultStack } from '../vault/vault-stack.js';
import { databaseStatements } from '../workflows/database-grants.js';
import { WorkflowLogs } from '../workflows/workflow-logs.js';
import { acknowledgeMigrationsHolders, MigrationsTasks, migrationsHoldersStatement } from './migrations-tasks.js';
import { RestoreRunner } from './restore-runner.js';
import { restoreDatabaseEntry, restoreSettings } from './restore-settings.js';
import { RestoreStepsFunction } from './restore-steps-function.js';

export interface RestoreGroupStackProps extends StackProps {
  readonly config: LifelineConfig;
  readonly restore: RestoreConfig;
  readonly vaultStack: VaultStack;
  /** Its backups stack, its number (1-based) and databases: a group restores what its backups stack backs up. */
  readonly backups: BackupsStack;
  readonly stack: number;
  readonly databases: readonly DatabaseConfig[];
}

/**
 * What restores of one backups stack's databases run on: a runner task definition, and a steps function in each of
 * their networks (in the backups' security group there), whose roles read those databases' secrets only; and the
 * catalog entry of each database (an SSM parameter under restoreCatalogPath), which tells the state machine where
 * its restores run. Split by backups stack so that no role or template outgrows its limit however many databases
 * there are.
 */
export class RestoreGroupStack extends Stack {
  readonly runner: RestoreRunner;
  /** By network name. */
  readonly networkFunctions: ReadonlyMap<string, RestoreStepsFunction>;
  /** The applications' migrations tasks and target secrets, which the PITR workflow runs too. */
  readonly migrations: MigrationsTasks;

  constructor(scope: Construct, id: string, props: RestoreGroupStackProps) {
    super(scope, id, props);
    const { config, vaultStack, databases } = props;
    const { vault } = vaultStack;
    const logs = new WorkflowLogs(this, 'Logs', 'restore');
    const image = vaultStack.newestImage;
    const family = restoreRunnerFamily(config.name, props.stack);

    this.runner = new RestoreRunner(this, 'Runner', {
      family,
      size: props.restore.runner,
      vault,
      image,
      databases,
      logs,
      rolePath: restoreRunnerRolePath(config.name),
      restoreWorkflow: restoreWorkflowName(config.name),
    });

    const migrations = (this.migrations = new MigrationsTasks(this, 'Migrations', {
      deployment: config.name,
      applications: config.applications.filter((app) => databases.some((db) => db.name === app.database)),
      logs,
    }));

    const settings = restoreSettings(this, config, props.restore, vault.bucketName);
    // CreateTarget asks whether the execution a target's mark names still runs: an ended one's mark does not hold the name.
    const restoreExecutions = `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:execution:${restoreWorkflowName(config.name)}:*`;
    const describeExecutions = () =>
      new iam.PolicyStatement({ sid: 'AskWhetherMarksHold', actions: ['states:DescribeExecution'], resources: [restoreExecutions] });
    const networks = config.networks.filter((network) => databases.some((db) => db.network === network.name));
    this.networkFunctions = new Map(
      networks.map((network) => {
        const inNetwork = databases.filter((db) => db.network === network.name);
        const applications = config.applications.filter((app) => inNetwork.some((db) => db.name === app.database));
        const pitrHolds = config.pitr !== undefined && applications.some((app) => app.migrations !== undefined);
        // The backups' own group: its rules already reach these databases (runtime-network.ts says why no other).
        const { securityGroup } = props.backups.networks.get(network.name)!;
        const steps = new RestoreStepsFunction(this, `Steps-${network.name}`, {
          functionName: restoreNetworkFunctionName(config.name, props.stack, network.name),
          description: `Lifeline restore steps that connect to the databases of backups stack ${props.stack} in network ${network.name}`,
          image,
          vault,
          settings,
          logs,
          statements: [
            ...databaseStatements([...inNetwork, ...applications.map((app) => ({ secretArn: app.connectionSecretArn }))], inNetwork),
            describeExecutions(),
            ...migrations.statements(applications.map((app) => app.name)),
            // A point-in-time recovery may hold an application's target secret too.
            ...(pitrHolds ? [migrationsHoldersStatement([pitrWorkflowName(config.name)])] : []),
          ],
          network: { subnetIds: network.subnetIds, securityGroup },
        });
        Validations.of(steps.role).acknowledge({
          id: `AwsSolutions-IAM5[${nagResource(steps.role, restoreExecutions)}]`,
          reason: "Marks name any execution of this deployment's restore workflow; DescribeExecution only reads its status.",
        });
        if (pitrHolds) acknowledgeMigrationsHolders(steps.role, [pitrWorkflowName(config.name)]);
        for (const db of inNetwork) {
          const entry: RestoreDatabase = {
            name: db.name,
            secretArn: db.secretArn,
            host: db.host,
            port: db.port,
            databaseName: db.databaseName,
            rds: db.rds,
            network: network.name,
            stepsFunctionArn: steps.functionArn,
            runner: { taskDefinition: family, subnetIds: [...network.subnetIds], securityGroupIds: [securityGroup.securityGroupId] },
            applications: config.applications
              .filter((app) => app.database === db.name)
              .map((app) => {
                const placement = migrations.placements.get(app.name);
                return { name: app.name, connectionSecretArn: app.connectionSecretArn, ...(placement ? { migrations: placement } : {}) };
              }),
          };
          new ssm.CfnParameter(this, `Catalog-${db.name}`, {
            name: `${restoreCatalogPath(config.name, props.stack)}/${db.name}`,
            type: 'String',
            tier: 'Standard',
            value: restoreDatabaseEntry(this, entry),
            description: `Lifeline: where restores of ${db.name} run`,
          });
        }
        return [network.name, steps];
      }),
    );
  }
}
