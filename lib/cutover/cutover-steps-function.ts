import type * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import type { CutoverSettings } from '../../lambdas/core/cutover/state.js';
import type { NetworkPlacement } from '../runtime/image-function.js';
import type { RuntimeImage } from '../runtime/runtime-image.js';
import type { WorkflowLogs } from '../workflows/workflow-logs.js';
import { WorkflowStepsFunction } from '../workflows/workflow-steps-function.js';
import { cutoverStepsEnvironment, type CutoverCompensationEnvironment } from './cutover-settings.js';

/** The cutover steps handler in the runtime image (lambdas/Dockerfile bundles it as cutover.mjs). */
export const CUTOVER_STEPS_HANDLER = 'cutover.handler';

export interface CutoverStepsFunctionProps {
  readonly functionName: string;
  readonly image: RuntimeImage;
  readonly settings: CutoverSettings;
  /** The lock table and topic with which it compensates executions that ended past their rollback. */
  readonly compensation: CutoverCompensationEnvironment;
  readonly logs: WorkflowLogs;
  /** What its steps may do to the applications (cutoverStatements). */
  readonly statements: readonly iam.PolicyStatement[];
  /** Under which the vault's bucket policy knows Lifeline's runtime roles. */
  readonly rolePath: string;
  /** The applications' network: their databases and health URLs are reached from there. */
  readonly network: NetworkPlacement;
  /** Why its statements on `*` are accepted (acknowledgeEcsReads). */
  readonly unscopedCalls: readonly string[];
}

/**
 * The Lambda behind cutover.asl.json's Lambda states: the cutover handler, in the applications' network, with a role
 * limited to the configured applications. ProveHealth, its longest step, may take up to Lambda's limit (its state's
 * TimeoutSeconds).
 */
export class CutoverStepsFunction extends WorkflowStepsFunction {
  constructor(scope: Construct, id: string, props: CutoverStepsFunctionProps) {
    super(scope, id, {
      functionName: props.functionName,
      description:
        'Lifeline cutover steps: validate, record, freeze, swap, restart, prove health, unfreeze, revert, summarize; compensate stopped executions',
      roleDescription: 'Lifeline cutover steps',
      policyName: 'cutover',
      image: props.image,
      handler: CUTOVER_STEPS_HANDLER,
      memorySize: 512,
      // cutoverSettings checked that it fits Lambda's environment.
      environment: cutoverStepsEnvironment(scope, props.settings, props.compensation),
      logs: props.logs,
      rolePath: props.rolePath,
      statements: props.statements,
      network: props.network,
      unscopedCalls: props.unscopedCalls,
    });
  }
}
