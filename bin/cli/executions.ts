/** What the workflow commands share: the restore state machine's options, the clients that reach an execution, its failure. */
import { SFNClient } from '@aws-sdk/client-sfn';
import { LambdaClient } from '@aws-sdk/client-lambda';
import type { Command } from 'commander';
import { parseExecutionArn, regionOfArn, type StateMachineRef } from '../../lambdas/core/operator/arns.js';
import { StartRestoreCommandOptions } from '../../lambdas/core/operator/options.js';
import { readableCause } from '../../lambdas/core/workflows/execution-state.js';
import { schemaOption } from './options.js';

export const stateMachineOptions = (command: Command) =>
  command
    .option('--state-machine <arn>', 'the restore state machine (default: the one named <name>-restore in the current region)')
    .addOption(
      schemaOption('--name <name>', "the config's name, which prefixes the state machine's", StartRestoreCommandOptions.in.shape.name),
    );

/** The SFN client in the state machine's own region, when its ARN names one. */
export const sfnFor = (stateMachine: StateMachineRef) =>
  new SFNClient('arn' in stateMachine ? { region: regionOfArn(stateMachine.arn) } : {});

/** The SFN client in the execution's own region. */
export const sfnOfExecution = (executionArn: string) => new SFNClient({ region: parseExecutionArn(executionArn).region });

/** The Lambda client in the execution's own region, where its deployment's approve function is. */
export function lambdaFor(executionArn: string): LambdaClient {
  return new LambdaClient({ region: parseExecutionArn(executionArn).region });
}

/**
 * A failed, timed out or aborted execution as the CLI's error: its own error name, else its status, and its cause as a
 * person reads it (a failed first state's Lambda error JSON is its message: readableCause).
 */
export function executionError(execution: { status?: string; error?: string; cause?: string }): Error {
  return Object.assign(new Error(readableCause(execution.cause) ?? `the execution ended ${execution.status}`), {
    name: execution.error ?? execution.status ?? 'FAILED',
  });
}
