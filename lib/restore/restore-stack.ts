import { Aws, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { BackupNetwork } from '../backup/backup-network.js';
import { cutoverWorkflowName, restoreWorkflowName } from '../../lambdas/core/deployment.js';
import { restoreNetworkFunctionName } from '../config/naming.js';
import type { LifelineConfig, RestoreConfig } from '../config/schema.js';
import type { VaultStack } from '../vault/vault-stack.js';
import { ApprovalsTopic } from './approvals-topic.js';
import { databaseStatements } from './database-grants.js';
import { RestoreLogs } from './restore-logs.js';
import { RestoreRunner } from './restore-runner.js';
import { restoreSettings, type RestoreNetworkSettings } from './restore-settings.js';
import { RestoreStateMachine } from './restore-state-machine.js';
import { RestoreStepsFunction, stepsFunctionArn } from './restore-steps-function.js';

export interface RestoreStackProps extends StackProps {
  readonly config: LifelineConfig;
  /** The config's `restore` section, whose presence asks for this stack. */
  readonly restore: RestoreConfig;
  readonly vaultStack: VaultStack;
}

/**
 * The restore workflow: its state machine, the Fargate runner, the steps functions (one outside any VPC, one in
 * each network that holds databases, for the steps that connect to them) and the approvals topic.
 */
export class RestoreStack extends Stack {
  readonly runner: RestoreRunner;
  readonly stepsFunction: RestoreStepsFunction;
  /** By network name. */
  readonly networkFunctions: ReadonlyMap<string, RestoreStepsFunction>;
  readonly approvals: ApprovalsTopic;
  readonly stateMachine: RestoreStateMachine;

  constructor(scope: Construct, id: string, props: RestoreStackProps) {
    super(scope, id, props);
    const { config, vaultStack } = props;
    const { vault } = vaultStack;
    const name = restoreWorkflowName(config.name);
    const logs = new RestoreLogs(this, 'Logs');
    // pg_restore reads archives of older pg_dumps: the newest client any database uses restores them all.
    const newest = Math.max(...vaultStack.images.keys());
    const image = [...vaultStack.images].find(([major]) => major === newest)![1];

    this.runner = new RestoreRunner(this, 'Runner', {
      family: `${name}-runner`,
      size: props.restore.runner,
      vault,
      image,
      databases: config.databases,
      logs,
    });
    this.approvals = new ApprovalsTopic(this, 'Approvals', { emails: config.approval?.emails ?? config.notifications.emails });

    const networks = config.networks.filter((network) => config.databases.some((db) => db.network === network.name));
    const access = new Map(
      networks.map((network) => [
        network.name,
        new BackupNetwork(this, `Network-${network.name}`, {
          vpcId: network.vpcId,
          databases: config.databases.filter((db) => db.network === network.name),
          endpointSecurityGroupId: vaultStack.endpointSecurityGroupIds.get(network.name),
          usedBy: { group: 'Lifeline restore steps and runner', rules: 'Lifeline restores' },
        }),
      ]),
    );
    const functionNames = new Map(networks.map((network) => [network.name, restoreNetworkFunctionName(config.name, network.name)]));
    const settings = restoreSettings(this, {
      config,
      bucket: vault.bucketName,
      runnerVcpus: this.runner.vcpus,
      networks: new Map(
        networks.map((network): [string, RestoreNetworkSettings] => [
          network.name,
          {
            stepsFunctionArn: stepsFunctionArn(this, functionNames.get(network.name)!),
            subnetIds: network.subnetIds,
            securityGroupId: access.get(network.name)!.securityGroup.securityGroupId,
          },
        ]),
      ),
    });

    this.stepsFunction = new RestoreStepsFunction(this, 'Steps', {
      functionName: name,
      description: 'Lifeline restore steps that need no database: validate the input, resolve the backup, summarize',
      image,
      vault,
      settings,
      logs,
    });
    this.networkFunctions = new Map(
      networks.map((network) => {
        const databases = config.databases.filter((db) => db.network === network.name);
        const applications = config.applications.filter((app) => databases.some((db) => db.name === app.database));
        const secrets = [...databases, ...applications.map((app) => ({ secretArn: app.connectionSecretArn }))];
        return [
          network.name,
          new RestoreStepsFunction(this, `Steps-${network.name}`, {
            functionName: functionNames.get(network.name)!,
            description: `Lifeline restore steps that connect to the databases of network ${network.name}`,
            image,
            vault,
            settings,
            logs,
            statements: databaseStatements(secrets, databases),
            network: { subnetIds: network.subnetIds, securityGroup: access.get(network.name)!.securityGroup },
          }),
        ];
      }),
    );

    this.stateMachine = new RestoreStateMachine(this, 'Workflow', {
      stateMachineName: name,
      runner: this.runner,
      stepsFunctionArn: this.stepsFunction.functionArn,
      invokedFunctionArns: [this.stepsFunction, ...this.networkFunctions.values()].map((steps) => steps.functionArn),
      approvals: this.approvals.topic,
      notifications: vaultStack.notifications.topic,
      alarmTopic: vaultStack.notifications.topic,
      logs,
      cutoverStateMachineName: cutoverWorkflowName(config.name),
      startsCutover: config.applications.length > 0,
    });
    // The functions are named in the definition by ARN, not by reference: deploy them first.
    for (const steps of [this.stepsFunction, ...this.networkFunctions.values()]) this.stateMachine.node.addDependency(steps);

    const { stateMachineArn, stateMachineName } = this.stateMachine.stateMachine;
    new CfnOutput(this, 'StateMachineArn', {
      value: stateMachineArn,
      description: 'Start a restore: lifeline start restore, or the console',
    });
    new CfnOutput(this, 'StateMachineName', { value: stateMachineName });
    new CfnOutput(this, 'ConsoleUrl', {
      value: `https://${Aws.REGION}.console.aws.amazon.com/states/home?region=${Aws.REGION}#/statemachines/view/${stateMachineArn}`,
      description: 'The state machine in the console: Start execution, with an input such as {"database": "<name>"}',
    });
  }
}
