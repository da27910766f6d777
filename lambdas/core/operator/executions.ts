import {
  DescribeExecutionCommand,
  paginateGetExecutionHistory,
  paginateListStateMachines,
  StartExecutionCommand,
  type DescribeExecutionCommandOutput,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { LifelineError } from '../errors.js';
import { parseInput } from '../validation.js';
import { PitrInput } from '../pitr/input.js';
import { RestoreInput } from '../restore/input.js';
import { readableCause } from '../workflows/execution-state.js';
import { consoleUrl, parseExecutionArn, type StateMachineRef } from './arns.js';

export async function resolveStateMachine(sfn: SFNClient, ref: StateMachineRef): Promise<string> {
  if ('arn' in ref) return ref.arn;
  for await (const page of paginateListStateMachines({ client: sfn }, {})) {
    const found = page.stateMachines?.find((machine) => machine.name === ref.name);
    if (found?.stateMachineArn) return found.stateMachineArn;
  }
  const region = await sfn.config.region();
  throw new LifelineError(
    'InvalidInput',
    `--state-machine: no state machine named "${ref.name}" in ${region} (deploy its stack, pass --name with the config's name, or give --state-machine ARN)`,
  );
}

/**
 * The ARNs of the state machines found: those given by ARN, and those named that exist in the client's region (a
 * deployment without PITR has no `<name>-pitr`). None found is an error naming them all.
 */
export async function resolveStateMachines(sfn: SFNClient, refs: readonly StateMachineRef[]): Promise<string[]> {
  const named = new Set(refs.flatMap((ref) => ('name' in ref ? [ref.name] : [])));
  const found = new Map<string, string>();
  if (named.size > 0) {
    for await (const page of paginateListStateMachines({ client: sfn }, {})) {
      for (const machine of page.stateMachines ?? []) {
        if (machine.name && machine.stateMachineArn && named.has(machine.name)) found.set(machine.name, machine.stateMachineArn);
      }
    }
  }
  const arns = refs.flatMap((ref) => ('arn' in ref ? [ref.arn] : found.has(ref.name) ? [found.get(ref.name)!] : []));
  if (arns.length === 0) {
    const region = await sfn.config.region();
    throw new LifelineError(
      'InvalidInput',
      `--state-machine: no state machine named ${[...named].map((name) => `"${name}"`).join(' or ')} in ${region} (deploy its stack, pass --name with the config's name, or give --state-machine ARN)`,
    );
  }
  return arns;
}

export interface StartedExecution {
  executionArn: string;
  startDate: Date;
  consoleUrl: string;
}

/** Checks the input as the state machine's first state will (same schema, same messages), then starts it. */
export async function startRestore(sfn: SFNClient, stateMachine: StateMachineRef, input: unknown): Promise<StartedExecution> {
  parseInput(RestoreInput, input, 'restore input');
  const stateMachineArn = await resolveStateMachine(sfn, stateMachine);
  const started = await sfn.send(new StartExecutionCommand({ stateMachineArn, input: JSON.stringify(input) }));
  const executionArn = started.executionArn!;
  return { executionArn, startDate: started.startDate!, consoleUrl: consoleUrl(executionArn) };
}

/** `lifeline start pitr`: checks the input as the PITR workflow's first state will, then starts it. */
export async function startPitr(sfn: SFNClient, stateMachine: StateMachineRef, input: unknown): Promise<StartedExecution> {
  parseInput(PitrInput, input, 'PITR input');
  const stateMachineArn = await resolveStateMachine(sfn, stateMachine);
  const started = await sfn.send(new StartExecutionCommand({ stateMachineArn, input: JSON.stringify(input) }));
  const executionArn = started.executionArn!;
  return { executionArn, startDate: started.startDate!, consoleUrl: consoleUrl(executionArn) };
}

/** The execution's events, oldest first, every page. */
async function executionHistory(sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  for await (const page of paginateGetExecutionHistory({ client: sfn }, { executionArn })) events.push(...(page.events ?? []));
  return events;
}

/** `TaskStateEntered`, `ChoiceStateEntered`, ...: the events that name the state an execution moved to. */
const isStateEntered = (event: HistoryEvent) => event.type?.endsWith('StateEntered') === true;

export interface StateEntered {
  name: string;
  at: Date;
}

export interface FollowOptions {
  onStateEntered: (state: StateEntered) => void;
  /** Between polls; Step Functions' history is eventually consistent anyway. */
  pollMs?: number;
}

/** Polls an execution until it ends, reporting each state it enters once, in order; returns its final description. */
export async function followExecution(
  sfn: SFNClient,
  executionArn: string,
  { onStateEntered, pollMs = 3000 }: FollowOptions,
): Promise<DescribeExecutionCommandOutput> {
  let lastSeen = 0;
  for (;;) {
    // Described before reading the history, so the last read includes every state of an execution that ended.
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    for (const event of await executionHistory(sfn, executionArn)) {
      if ((event.id ?? 0) <= lastSeen) continue;
      lastSeen = event.id ?? lastSeen;
      if (isStateEntered(event)) onStateEntered({ name: event.stateEnteredEventDetails?.name ?? '?', at: event.timestamp! });
    }
    if (execution.status !== 'RUNNING') return execution;
    await sleep(pollMs);
  }
}

export interface ExecutionStatus {
  executionArn: string;
  status: string;
  /** The state it is in (running) or was in last (ended). */
  state: string | null;
  stateEnteredAt: Date | null;
  startDate: Date;
  stopDate: Date | null;
  error: string | null;
  /** As a person reads it: a failed first state's Lambda error JSON is its message (readableCause). */
  cause: string | null;
  /** A finished restore's message (its outcome's `message`), or the raw output. */
  output: string | null;
}

const OutputMessage = z.object({ message: z.string() });

function outputSummary(output: string | undefined): string | null {
  if (output === undefined) return null;
  try {
    const parsed = OutputMessage.safeParse(JSON.parse(output));
    return parsed.success ? parsed.data.message : output;
  } catch {
    return output;
  }
}

/** Where an execution is: `lifeline status ARN`. */
export async function executionStatus(sfn: SFNClient, executionArn: string): Promise<ExecutionStatus> {
  parseExecutionArn(executionArn);
  const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
  let entered: HistoryEvent | undefined;
  for await (const page of paginateGetExecutionHistory({ client: sfn }, { executionArn, reverseOrder: true })) {
    entered = page.events?.find(isStateEntered);
    if (entered) break;
  }
  return {
    executionArn,
    status: execution.status!,
    state: entered?.stateEnteredEventDetails?.name ?? null,
    stateEnteredAt: entered?.timestamp ?? null,
    startDate: execution.startDate!,
    stopDate: execution.stopDate ?? null,
    error: execution.error ?? null,
    cause: readableCause(execution.cause) ?? null,
    output: outputSummary(execution.output),
  };
}
