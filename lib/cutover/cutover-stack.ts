import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { cutoverLockTableName, cutoverWorkflowName } from '../../lambdas/core/names.js';
import type { LifelineConfig } from '../config/schema.js';
import type { VaultStack } from '../vault/vault-stack.js';
import { WorkflowLogs } from '../workflows/workflow-logs.js';
import { WorkflowCompensation } from '../workflows/workflow-compensation.js';
import {
  acknowledgeEcsReads,
  acknowledgeHandOverReads,
  cutoverStatements,
  releaseLockStatements,
  unscopedCutoverCalls,
} from './cutover-grants.js';
import { CutoverLockTable } from './cutover-lock-table.js';
import { applicationsNetwork, CutoverNetwork } from './cutover-network.js';
import { cutoverSettings } from './cutover-settings.js';
import { CutoverStateMachine } from './cutover-state-machine.js';
import { CutoverStepsFunction } from './cutover-steps-function.js';

export interface CutoverStackProps extends StackProps {
  /** A config with applications, which ask for this stack. */
  readonly config: LifelineConfig;
  readonly vaultStack: VaultStack;
}

/**
 * The cutover workflow, started by hand or by a restore (after its approval; cutover asks none of its own): its
 * state machine, the lock table, and the steps function in the applications' network.
 */
export class CutoverStack extends Stack {
  readonly locks: CutoverLockTable;
  readonly stepsFunction: CutoverStepsFunction;
  readonly stateMachine: CutoverStateMachine;

  constructor(scope: Construct, id: string, props: CutoverStackProps) {
    super(scope, id, props);
    const { config, vaultStack } = props;
    const name = cutoverWorkflowName(config.name);
    const network = applicationsNetwork(config);
    const settings = cutoverSettings(this, config);
    const databases = config.databases.filter((db) => config.applications.some((app) => app.database === db.name));
    const logs = new WorkflowLogs(this, 'Logs', 'cutover');
    // The steps use no PostgreSQL client binary: any image will do, and the newest is the one restores use.
    const image = vaultStack.newestImage;

    const access = new CutoverNetwork(this, 'Network', {
      vpcId: network.vpcId,
      databases,
      healthCheckUrls: config.applications.map((app) => app.healthCheckUrl),
      endpointSecurityGroupId: vaultStack.endpointSecurityGroupIds.get(network.name),
    });
    this.locks = new CutoverLockTable(this, 'Locks', { tableName: cutoverLockTableName(config.name) });
    // Executions stopped, timed out or failed past their rollback: the steps function reverts, unfreezes and unlocks.
    const compensation = new WorkflowCompensation(this, 'Compensation', {
      stateMachineName: name,
      alarmTopic: vaultStack.notifications.topic,
    });
    this.stepsFunction = new CutoverStepsFunction(this, 'Steps', {
      functionName: name,
      image,
      settings,
      compensation: { lockTableName: this.locks.table.tableName, alarmTopicArn: vaultStack.notifications.topic.topicArn },
      logs,
      statements: [
        ...cutoverStatements(settings, databases, config.name),
        ...releaseLockStatements(this.locks),
        ...compensation.statements(),
      ],
      rolePath: vaultStack.vault.runtimeRolePath,
      network: { subnetIds: network.subnetIds, securityGroup: access.securityGroup },
      unscopedCalls: unscopedCutoverCalls(settings),
    });
    compensation.acknowledge(this.stepsFunction.role);
    acknowledgeHandOverReads(this.stepsFunction.role, config.name);
    acknowledgeEcsReads(this.stepsFunction.role, settings);

    this.stateMachine = new CutoverStateMachine(this, 'Workflow', {
      stateMachineName: name,
      deployment: config.name,
      stepsFunctionArn: this.stepsFunction.functionArn,
      locks: this.locks,
      notifications: vaultStack.notifications.topic,
      alarmTopic: vaultStack.notifications.topic,
      logs,
    });
    // The function is named in the definition by ARN, not by reference: deploy it first.
    this.stateMachine.node.addDependency(this.stepsFunction);
    compensation.deliverTo(this.stepsFunction, this.stateMachine);

    this.stateMachine.addOutputs(this, {
      startWith: 'Start a cutover: the console, or a restore with "cutover"',
      exampleInput: '{"application": "<name>", "database": {...}}',
    });
  }
}
