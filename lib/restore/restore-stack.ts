import { Stack, Validations, type StackProps } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { DEPLOYMENT_TAG, restoreCatalogRoot, restoreWorkflowName } from '../../lambdas/core/names.js';
import type { LifelineConfig, RestoreConfig } from '../config/schema.js';
import { nagResource } from '../nag-findings.js';
import { functionArn } from '../runtime/image-function.js';
import { runnerCluster } from '../runtime/runner-task.js';
import type { VaultStack } from '../vault/vault-stack.js';
import { WorkflowCompensation } from '../workflows/workflow-compensation.js';
import { WorkflowLogs } from '../workflows/workflow-logs.js';
import { ApprovalsTopic } from './approvals-topic.js';
import { restoreSettings } from './restore-settings.js';
import { RestoreStateMachine } from './restore-state-machine.js';
import { RestoreStepsFunction } from './restore-steps-function.js';

export interface RestoreStackProps extends StackProps {
  readonly config: LifelineConfig;
  /** The config's `restore` section, whose presence asks for this stack. */
  readonly restore: RestoreConfig;
  readonly vaultStack: VaultStack;
}

/**
 * The restore workflow: its state machine, the runners' cluster, the steps function outside any VPC (which reads
 * the catalog of databases) and the approvals topic. What runs beside each backups stack's databases, their
 * runner and steps functions, is in that stack's restore group (restore-group-stack.ts), found by name.
 */
export class RestoreStack extends Stack {
  readonly cluster: ecs.CfnCluster;
  readonly stepsFunction: RestoreStepsFunction;
  readonly approvals: ApprovalsTopic;
  readonly stateMachine: RestoreStateMachine;

  constructor(scope: Construct, id: string, props: RestoreStackProps) {
    super(scope, id, props);
    const { config, vaultStack } = props;
    const { vault } = vaultStack;
    const name = restoreWorkflowName(config.name);
    const logs = new WorkflowLogs(this, 'Logs', 'restore');
    const image = vaultStack.newestImage;

    this.cluster = runnerCluster(this);
    const catalog = this.formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: `${restoreCatalogRoot(config.name).slice(1)}/*`,
    });
    this.approvals = new ApprovalsTopic(this, 'Approvals', { emails: config.approval?.emails ?? config.notifications.emails });
    // Executions stopped, timed out or failed past their Cleanup: this function reads them, and has the group's drop the target.
    const compensation = new WorkflowCompensation(this, 'Compensation', {
      stateMachineName: name,
      alarmTopic: vaultStack.notifications.topic,
    });
    const stepsFunctions = functionArn(this, `${name}*`);
    this.stepsFunction = new RestoreStepsFunction(this, 'Steps', {
      functionName: name,
      description:
        'Lifeline restore steps that need no database: validate the input, resolve the backup, summarize; compensate stopped executions',
      image,
      vault,
      settings: restoreSettings(this, config, props.restore, vault.bucketName),
      logs,
      statements: [
        new iam.PolicyStatement({ sid: 'ReadTheCatalog', actions: ['ssm:GetParametersByPath'], resources: [catalog] }),
        ...compensation.statements(),
        // releaseTarget runs in the database's network, in the group's steps function, as Cleanup does (tagged as the state machine invokes them).
        new iam.PolicyStatement({
          sid: 'ReleaseTargets',
          actions: ['lambda:InvokeFunction'],
          resources: [stepsFunctions],
          conditions: { StringEquals: { [`aws:ResourceTag/${DEPLOYMENT_TAG}`]: config.name } },
        }),
      ],
      environment: compensation.environment(),
    });
    Validations.of(this.stepsFunction.role).acknowledge({
      id: `AwsSolutions-IAM5[${nagResource(this, catalog)}]`,
      reason: "The catalog has a path per restore group under the deployment's path, read by path, not by parameter name.",
    });
    Validations.of(this.stepsFunction.role).acknowledge({
      id: `AwsSolutions-IAM5[${nagResource(this, stepsFunctions)}]`,
      reason: "The restore groups' steps functions are named under this prefix and invoked only when they bear the deployment's tag.",
    });
    compensation.acknowledge(this.stepsFunction.role);

    this.stateMachine = new RestoreStateMachine(this, 'Workflow', {
      stateMachineName: name,
      deployment: config.name,
      cluster: this.cluster,
      stepsFunctionArn: this.stepsFunction.functionArn,
      approvals: this.approvals.topic,
      notifications: vaultStack.notifications.topic,
      alarmTopic: vaultStack.notifications.topic,
      logs,
      startsCutover: config.applications.length > 0,
    });
    // The function is named in the definition by ARN, not by reference: deploy it first.
    this.stateMachine.node.addDependency(this.stepsFunction);
    compensation.deliverTo(this.stepsFunction, this.stateMachine);

    this.stateMachine.addOutputs(this, {
      startWith: 'Start a restore: lifeline start restore, or the console',
      exampleInput: '{"database": "<name>"}',
    });
  }
}
