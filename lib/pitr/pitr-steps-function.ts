import type * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import type { PitrSettings } from '../../lambdas/core/pitr/state.js';
import type { NetworkPlacement } from '../runtime/image-function.js';
import type { RuntimeImage } from '../runtime/runtime-image.js';
import type { WorkflowLogs } from '../workflows/workflow-logs.js';
import { WorkflowStepsFunction } from '../workflows/workflow-steps-function.js';
import { pitrStepsEnvironment } from './pitr-settings.js';

/** The PITR steps handler in the runtime image (lambdas/Dockerfile bundles it as pitr.mjs). */
export const PITR_STEPS_HANDLER = 'pitr.handler';

export interface PitrStepsFunctionProps {
  readonly functionName: string;
  readonly description: string;
  readonly image: RuntimeImage;
  readonly settings: PitrSettings;
  readonly logs: WorkflowLogs;
  /** Under which the vault's bucket policy knows Lifeline's runtime roles. */
  readonly rolePath: string;
  /** What its steps may do: RDS and the catalog outside any VPC, the applications' secrets in a network. */
  readonly statements: readonly iam.PolicyStatement[];
  /** In a network for Validate, which connects to the restored database; outside any VPC for the RDS API. */
  readonly network?: NetworkPlacement;
  /** What else it reads from its environment (the topic the compensation notifies). */
  readonly environment?: Record<string, string>;
}

/**
 * A Lambda behind pitr.asl.json's Lambda states: the PITR handler of the runtime image. The one outside any VPC
 * runs every step but Validate (RDS's control plane, the catalog, Summarize and Cleanup); one in each network runs
 * Validate, reading the application's secret and connecting to the restored database, which RDS placed in the
 * source's subnets and security groups. Each step stops before its state's timeout (deadline.ts).
 */
export class PitrStepsFunction extends WorkflowStepsFunction {
  constructor(scope: Construct, id: string, props: PitrStepsFunctionProps) {
    super(scope, id, {
      functionName: props.functionName,
      description: props.description,
      roleDescription: props.description,
      policyName: 'pitr',
      image: props.image,
      handler: PITR_STEPS_HANDLER,
      memorySize: 512,
      environment: { ...pitrStepsEnvironment(scope, props.settings), ...props.environment },
      logs: props.logs,
      rolePath: props.rolePath,
      statements: props.statements,
      network: props.network,
    });
  }
}
