import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { pitrWorkflowName } from '../../lambdas/core/pitr/state.js';
import { RecoveryWorkflowGrants, type RecoveryWorkflowGrantsProps } from '../workflows/recovery-workflow-grants.js';
import type { WorkflowLogs } from '../workflows/workflow-logs.js';
import { WorkflowStateMachine } from '../workflows/workflow-state-machine.js';

const DEFINITION = 'state-machines/pitr.asl.json';

/** `deployment`: the config's name; the state machine is `<name>-pitr`, its steps functions `<name>-pitr*`. */
export interface PitrStateMachineProps extends RecoveryWorkflowGrantsProps {
  /** The steps function outside any VPC (`${PitrStepsFunctionArn}`): every step but Validate. */
  readonly stepsFunctionArn: string;
  readonly alarmTopic: sns.ITopic;
  readonly logs: WorkflowLogs;
}

/**
 * The PITR workflow: pitr.asl.json with its placeholders filled in, logged in full (KMS) and traced, with a role that
 * may invoke only its deployment's PITR steps functions (by name prefix and deployment tag), publish only to its two
 * topics and, with applications, start and follow only the cutover state machine. It calls no RDS API itself: its
 * steps do, with their own role (pitr-grants.ts).
 */
export class PitrStateMachine extends WorkflowStateMachine {
  constructor(scope: Construct, id: string, props: PitrStateMachineProps) {
    const name = pitrWorkflowName(props.deployment);
    const grants = new RecoveryWorkflowGrants(scope, name, props);
    super(scope, id, {
      stateMachineName: name,
      definition: DEFINITION,
      substitutions: {
        PitrStepsFunctionArn: props.stepsFunctionArn,
        ...grants.substitutions,
      },
      role: { description: 'Lifeline point-in-time recovery workflow', policyName: 'pitr', statements: grants.statements },
      logs: props.logs,
      alarmTopic: props.alarmTopic,
      failedAlarmDescription: `A point-in-time recovery of ${name} failed, timed out or was aborted. Its execution history names the step and the error; what it restored (tagged lifeline:pitr-execution) was deleted unless handed over to cutover, or Cleanup says what remains.`,
    });
    grants.acknowledge(this, 'The PITR steps functions');
  }
}
