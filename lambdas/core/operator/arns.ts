import { LifelineError } from '../errors.js';

/**
 * Step Functions ARNs as an operator gives them. A module of its own, without the SFN client: the CLI's option
 * parsing checks them for every command, a restore's included, whose start-up must not load what it never calls.
 */

/** `arn:aws:states:eu-west-1:123456789012:execution:lifeline-restore:3f2c...`; groups: region, state machine. */
const EXECUTION_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):\d{12}:execution:([^:\s]{1,80}):[^:\s]{1,80}$/;
export const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):\d{12}:stateMachine:[^:\s]{1,80}$/;

export interface ExecutionRef {
  arn: string;
  region: string;
  stateMachineName: string;
}

/** An execution ARN as an operator pastes it; anything else is refused before any AWS call. */
export function parseExecutionArn(arn: string): ExecutionRef {
  const match = EXECUTION_ARN.exec(arn);
  if (!match) {
    throw new LifelineError(
      'InvalidInput',
      `"${arn}" is not a Step Functions execution ARN (arn:aws:states:<region>:<account>:execution:<state machine>:<name>)`,
    );
  }
  return { arn, region: match[1]!, stateMachineName: match[2]! };
}

/** The region a state machine or execution ARN lives in: the SFN client must be in the same one. */
export function regionOfArn(arn: string): string {
  return arn.split(':')[3]!;
}

export function consoleUrl(executionArn: string): string {
  const region = regionOfArn(executionArn);
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/** Where an operator command finds its state machine: given by ARN, or looked up by name in the client's region. */
export type StateMachineRef = { arn: string } | { name: string };
