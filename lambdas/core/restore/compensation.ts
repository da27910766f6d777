import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { z } from 'zod';
import { LifelineError } from '../errors.js';
import {
  compensationNotice,
  compensationPrelude,
  waitForTaskInFlight,
  type CompensationDeps,
  type CompensationResult,
} from '../workflows/compensation.js';
import { RestoreState } from './state.js';

/**
 * A restore execution that ended without its Cleanup (stopped, timed out, or failed past every Catch, as
 * States.DataLimitExceeded does) gets what Cleanup does to its target: the database it created and still marks is
 * dropped, found by name and mark when CreateTarget never reported it; one handed over to a cutover (HandOver
 * entered), kept on failure or restored in place is kept. The drop runs in the database's network, in the steps
 * function the execution's request names (releaseTarget), as Cleanup would have.
 */

export interface RestoreCompensationDeps extends CompensationDeps {
  /** Invokes the database's network steps function. */
  lambda: LambdaClient;
}

/**
 * What a Task that runs in the database's network may still do after its execution ended: create the target, or mark
 * it kept (then it is not this execution's to drop any more).
 */
const SIDE_EFFECTS_IN_FLIGHT = ['CreateTarget', 'KeepTarget'];

/** releaseTarget's answer (steps.ts ReleasedTarget). */
const ReleasedTarget = z.object({
  dropped: z.string().nullable(),
  kept: z.string().nullable(),
  note: z.string(),
  actionNeeded: z.boolean(),
});
type ReleasedTarget = z.infer<typeof ReleasedTarget>;

/** Runs releaseTarget in `functionArn`, as Step Functions runs Cleanup there; a function error becomes a LifelineError. */
async function releaseIn(functionArn: string, state: RestoreState, lambda: LambdaClient): Promise<ReleasedTarget> {
  const answer = await lambda.send(
    new InvokeCommand({
      FunctionName: functionArn,
      Payload: new TextEncoder().encode(JSON.stringify({ step: 'releaseTarget', record: state })),
    }),
  );
  const text = answer.Payload ? new TextDecoder().decode(answer.Payload) : 'null';
  if (answer.FunctionError) {
    const { errorType, errorMessage } = (JSON.parse(text) ?? {}) as { errorType?: string; errorMessage?: string };
    throw new LifelineError('RestoreFailed', `${functionArn} failed with ${errorType ?? answer.FunctionError}: ${errorMessage ?? text}`);
  }
  return ReleasedTarget.parse(JSON.parse(text));
}

/** Why releaseTarget found nothing to do. */
function unchanged({ request, target }: RestoreState): string {
  if (target && request.inPlace) return ` Nothing was written over ${target.database}: the restore in place had not been approved.`;
  if (target) return ` ${target.database} existed before this execution, so it was left as it is, with whatever was restored into it.`;
  if (request.keepOnFailure) return ' Nothing was dropped (keepOnFailure).';
  return ` No database of this execution's was found under the name ${request.target.database ?? 'of its target'}.`;
}

/** Compensates restore execution `executionArn`, if it ended without succeeding and before its Cleanup finished. */
export async function compensateRestore(executionArn: string, deps: RestoreCompensationDeps): Promise<CompensationResult> {
  const start = await compensationPrelude(executionArn, deps, {
    workflow: 'restore',
    firstChange: { state: 'CreateTarget', before: 'created nothing' },
    schema: RestoreState,
    undoneBy: 'its Cleanup finished',
    byHand: `check for a database it created (its comment is "lifeline restore ${executionArn}") and drop it by hand`,
  });
  if ('result' in start) return start.result;
  const { record, state, how, at } = start;
  const { request } = state;
  const waited = await waitForTaskInFlight(record, SIDE_EFFECTS_IN_FLIGHT, deps);

  let released: ReleasedTarget;
  try {
    released = await releaseIn(request.stepsFunctionArn, state, deps.lambda);
  } catch (error) {
    const database = state.target?.database ?? request.target.database ?? 'its target';
    released = {
      dropped: null,
      kept: null,
      note: ` Could not release ${database}: ${(error as Error).message}; if it exists and its comment is "lifeline restore ${executionArn}", drop it by hand.`,
      actionNeeded: true,
    };
  }
  const child = record.submitted.HandOver?.ExecutionArn;
  const cutover =
    state.handOver === undefined
      ? ''
      : ` Which database ${state.handOver.application} uses is the cutover's to say${typeof child === 'string' ? ` (execution ${child})` : ''}: its own outcome, or its compensation when it did not succeed, reports it.`;
  const outcome = released.dropped ? `dropped ${released.dropped}` : released.kept ? `kept ${released.kept}` : 'nothing to drop';
  const nothing = released.note === '' ? unchanged(state) : '';
  const notice = compensationNotice(
    `restore of ${request.database} ${how}: ${released.actionNeeded ? 'drop its database by hand' : outcome}`,
    `Restore of ${request.database} ${how} (${record.status}) in ${at} before its Cleanup finished; this compensation did what Cleanup does.${waited}${released.note}${nothing}${cutover} Execution ${executionArn}.`,
    released.actionNeeded,
  );
  await deps.notify(notice);
  return { executionArn, status: record.status, compensated: true, reason: outcome, notice };
}
