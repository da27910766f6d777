import { Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import type { RestoreSettings } from '../../lambdas/core/restore/state.js';
import { nagResource } from '../nag-findings.js';
import type { NetworkPlacement } from '../runtime/image-function.js';
import type { RuntimeImage } from '../runtime/runtime-image.js';
import type { BackupVault } from '../vault/backup-vault.js';
import type { WorkflowLogs } from '../workflows/workflow-logs.js';
import { WorkflowStepsFunction } from '../workflows/workflow-steps-function.js';
import { restoreStepsEnvironment } from './restore-settings.js';

/** The restore steps handler in the runtime image (lambdas/Dockerfile bundles it as restore.mjs). */
export const RESTORE_STEPS_HANDLER = 'restore.handler';

export interface RestoreStepsFunctionProps {
  readonly functionName: string;
  readonly description: string;
  readonly image: RuntimeImage;
  readonly vault: BackupVault;
  readonly settings: RestoreSettings;
  readonly logs: WorkflowLogs;
  /** What else its steps need (the secrets of the databases it connects to). */
  readonly statements?: readonly iam.PolicyStatement[];
  /** Where it runs when its steps connect to databases; outside any VPC without. */
  readonly network?: NetworkPlacement;
  /** What else it reads from its environment (the topic the compensation notifies). */
  readonly environment?: Record<string, string>;
}

/**
 * A Lambda behind restore.asl.json's Lambda states: the restore handler, a role that reads the vault and, inside a
 * network, that network's databases' secrets. ValidateRestore, its longest step, may take up to Lambda's limit (its
 * state's TimeoutSeconds).
 */
export class RestoreStepsFunction extends WorkflowStepsFunction {
  constructor(scope: Construct, id: string, props: RestoreStepsFunctionProps) {
    super(scope, id, {
      functionName: props.functionName,
      description: props.description,
      roleDescription: props.description,
      policyName: 'restore',
      image: props.image,
      handler: RESTORE_STEPS_HANDLER,
      memorySize: 1024,
      // A few fixed values (restoreSettings): the databases are in the catalog.
      environment: { ...restoreStepsEnvironment(scope, props.settings), ...props.environment },
      logs: props.logs,
      rolePath: props.vault.runtimeRolePath,
      statements: [...props.vault.readStatements(), ...(props.statements ?? [])],
      network: props.network,
    });
    for (const objects of props.vault.tierObjectArns()) {
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM5[${nagResource(this, objects)}]`,
        reason: 'Backup keys carry a timestamp and any configured database may be restored: reads span the tier prefixes, no writes.',
      });
    }
  }
}
