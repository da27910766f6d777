import { Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct, IConstruct } from 'constructs';
import { LifelineError } from '../../lambdas/core/errors.js';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import { pitrNetworkFunctionName, pitrWorkflowName, restoreCatalogRoot, restoreWorkflowName } from '../../lambdas/core/names.js';
import type { LifelineConfig, PitrConfig } from '../config/schema.js';
import { nagResource } from '../nag-findings.js';
import { ApprovalsTopic } from '../restore/approvals-topic.js';
import { acknowledgeMigrationsHolders, migrationsHoldersStatement } from '../restore/migrations-tasks.js';
import type { RestoreGroupStack } from '../restore/restore-group-stack.js';
import { functionArn } from '../runtime/image-function.js';
import { RuntimeNetwork } from '../runtime/runtime-network.js';
import type { VaultStack } from '../vault/vault-stack.js';
import { databaseStatements } from '../workflows/database-grants.js';
import { WorkflowCompensation } from '../workflows/workflow-compensation.js';
import { WorkflowLogs } from '../workflows/workflow-logs.js';
import { longestDeployedForm } from '../workflows/workflow-settings.js';
import { acknowledgePitrRdsStatements, pitrRdsStatements, type PitrSources } from './pitr-grants.js';
import { pitrSettings } from './pitr-settings.js';
import { PitrStateMachine } from './pitr-state-machine.js';
import { PitrStepsFunction } from './pitr-steps-function.js';

/** IAM's limit on a role's inline policies, in characters without whitespace. */
const ROLE_POLICY_CHARS = 10_240;
/** What the steps function adds to its role's policy besides these statements: writing its logs. */
const LOGS_STATEMENT_CHARS = 400;
/**
 * What the compensation's statements name by reference beyond the placeholder longestDeployedForm counts for each:
 * the alarm topic's ARN (a name of up to 256 characters) and the dead-letter queue's (80).
 */
const COMPENSATION_REFERENCE_CHARS = 400;

/** The configured databases' RDS instances and clusters, as the PITR role names them. */
function pitrSources(pitr: PitrConfig, databases: LifelineConfig['databases']): PitrSources {
  return {
    instances: databases.flatMap((db) => ('instanceIdentifier' in db.rds ? [db.rds.instanceIdentifier] : [])),
    clusters: databases.flatMap((db) => ('clusterIdentifier' in db.rds ? [db.rds.clusterIdentifier] : [])),
    monitoringRoleArns: pitr.monitoringRoleArns,
    renameSources: pitr.renameSources,
  };
}

/** The RDS steps' statements for these databases (and compensating executions), and how long the role's policy gets at the longest partition and region. */
function rdsStepsStatements(
  scope: IConstruct,
  config: LifelineConfig,
  pitr: PitrConfig,
  databases: LifelineConfig['databases'],
  catalog: string,
  compensation: WorkflowCompensation,
) {
  const statements = [
    new iam.PolicyStatement({ sid: 'ReadTheCatalog', actions: ['ssm:GetParametersByPath'], resources: [catalog] }),
    ...pitrRdsStatements(config.name, pitrSources(pitr, databases)),
    ...compensation.statements(),
  ];
  const chars =
    longestDeployedForm(scope, new iam.PolicyDocument({ statements }).toJSON()).length +
    LOGS_STATEMENT_CHARS +
    COMPENSATION_REFERENCE_CHARS;
  return { statements, chars };
}

export interface PitrStackProps extends StackProps {
  /** A config with `pitr` and `restore`: the PITR steps find the databases in the restore catalog. */
  readonly config: LifelineConfig;
  readonly pitr: PitrConfig;
  readonly vaultStack: VaultStack;
  /** The restore runners' cluster, and the restore groups whose migrations tasks and target secrets PITR uses too. */
  readonly restore: { readonly cluster: ecs.CfnCluster; readonly groups: readonly RestoreGroupStack[] };
}

/**
 * The point-in-time recovery workflow, `<name>-pitr`, for every configured database's `rds` instance or cluster: its
 * state machine, the approvals topic, the steps function outside any VPC (RDS's control plane and the restore
 * catalog) and one in each network with databases, where Validate connects to the restored database as the
 * application's role. RDS places a restore in its source's subnet group and security groups (requests.ts passes
 * them), so the network function's security group (RuntimeNetwork) reaches it through the rule it adds to each
 * source's group. It hands over to `<name>-cutover` by name, as the restore workflow does.
 */
export class PitrStack extends Stack {
  readonly stepsFunction: PitrStepsFunction;
  /** By network name. */
  readonly networkFunctions: ReadonlyMap<string, PitrStepsFunction>;
  readonly approvals: ApprovalsTopic;
  readonly stateMachine: PitrStateMachine;

  constructor(scope: Construct, id: string, props: PitrStackProps) {
    super(scope, id, props);
    const { config, vaultStack } = props;
    const name = pitrWorkflowName(config.name);
    const logs = new WorkflowLogs(this, 'Logs', 'pitr');
    // Validate connects with pg, no PostgreSQL client binary: any image will do, and the newest is the one restores use.
    const image = vaultStack.newestImage;
    const rolePath = vaultStack.vault.runtimeRolePath;
    // Every database has its `rds` (the config requires one): each is a source.
    const databases = config.databases;
    const networks = config.networks.filter((network) => databases.some((db) => db.network === network.name));
    const settings = pitrSettings(
      this,
      config,
      props.pitr,
      new Map(networks.map((network) => [network.name, functionArn(this, pitrNetworkFunctionName(config.name, network.name))])),
    );

    this.networkFunctions = new Map(
      networks.map((network) => {
        const inNetwork = databases.filter((db) => db.network === network.name);
        const applications = config.applications.filter((app) => inNetwork.some((db) => db.name === app.database));
        const access = new RuntimeNetwork(this, `Network-${network.name}`, {
          vpcId: network.vpcId,
          databases: inNetwork,
          endpointSecurityGroupId: vaultStack.endpointSecurityGroupIds.get(network.name),
          usedBy: { group: `Lifeline PITR validation in network ${network.name}`, rules: 'Lifeline PITR validation' },
        });
        const names = applications.map((app) => app.name);
        // Restores and point-in-time recoveries take turns at an application's migrations target secret.
        const holders = applications.some((app) => app.migrations !== undefined) ? [restoreWorkflowName(config.name), name] : [];
        const migrations = [
          ...props.restore.groups.flatMap((group, i) => group.migrations.statements(names, `${i + 1}`)),
          ...(holders.length > 0 ? [migrationsHoldersStatement(holders)] : []),
        ];
        const steps = new PitrStepsFunction(this, `Steps-${network.name}`, {
          functionName: pitrNetworkFunctionName(config.name, network.name),
          description: `Lifeline PITR Validate: connects to databases restored in network ${network.name} as their application's role`,
          image,
          settings,
          logs,
          rolePath,
          // Validate reads only the application's connection secret: the restored database has its own master secret.
          statements: [
            ...databaseStatements(
              applications.map((app) => ({ secretArn: app.connectionSecretArn })),
              [],
            ),
            ...migrations,
          ],
          network: { subnetIds: network.subnetIds, securityGroup: access.securityGroup },
        });
        acknowledgeMigrationsHolders(steps.role, holders);
        return [network.name, steps];
      }),
    );

    const catalog = this.formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: `${restoreCatalogRoot(config.name).slice(1)}/*`,
    });
    // The sources are listed by ARN in one role: the synth refuses a config whose list would outgrow IAM's limit.
    // Executions stopped, timed out or failed past their Cleanup: this function reads them, renames back and deletes.
    const compensation = new WorkflowCompensation(this, 'Compensation', {
      stateMachineName: name,
      alarmTopic: vaultStack.notifications.topic,
    });
    const { statements, chars } = rdsStepsStatements(this, config, props.pitr, databases, catalog, compensation);
    if (chars > ROLE_POLICY_CHARS) {
      let fit = 0;
      while (rdsStepsStatements(this, config, props.pitr, databases.slice(0, fit + 1), catalog, compensation).chars <= ROLE_POLICY_CHARS)
        fit += 1;
      throw new LifelineError(
        'InvalidConfig',
        `databases: the PITR workflow supports up to ${fit} databases per deployment for now (its RDS role lists each source, and IAM allows ${ROLE_POLICY_CHARS} characters: this config's ${databases.length} databases need ${chars}); leave out "pitr", or deploy it from a config with fewer databases`,
      );
    }
    this.stepsFunction = new PitrStepsFunction(this, 'Steps', {
      functionName: name,
      description:
        'Lifeline PITR steps on RDS: validate the input, restore, wait, create the writer, finish, rename, summarize, clean up; compensate stopped executions',
      image,
      settings,
      logs,
      rolePath,
      statements,
      environment: compensation.environment(),
    });
    acknowledgePitrRdsStatements(this.stepsFunction.role, pitrSources(props.pitr, databases));
    compensation.acknowledge(this.stepsFunction.role);
    Validations.of(this.stepsFunction.role).acknowledge({
      id: `AwsSolutions-IAM5[${nagResource(this, catalog)}]`,
      reason: "The restore catalog has a path per restore group under the deployment's path, read by path, not by parameter name.",
    });

    this.approvals = new ApprovalsTopic(this, 'Approvals', { emails: config.approval?.emails ?? config.notifications.emails });
    this.stateMachine = new PitrStateMachine(this, 'Workflow', {
      deployment: config.name,
      stepsFunctionArn: this.stepsFunction.functionArn,
      approvals: this.approvals.topic,
      notifications: vaultStack.notifications.topic,
      alarmTopic: vaultStack.notifications.topic,
      logs,
      startsCutover: config.applications.length > 0,
      cluster: props.restore.cluster,
      runsMigrations: config.applications.some((app) => app.migrations !== undefined),
    });
    // The functions are named in the definition and the settings by ARN, not by reference: deploy them first.
    this.stateMachine.node.addDependency(this.stepsFunction, ...this.networkFunctions.values());
    compensation.deliverTo(this.stepsFunction, this.stateMachine);

    this.stateMachine.addOutputs(this, {
      startWith: 'Start a point-in-time recovery: lifeline start pitr, or the console',
      exampleInput: '{"database": "<name>", "restorePoint": "latest"}',
    });
  }
}
