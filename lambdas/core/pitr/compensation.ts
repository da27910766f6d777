import { setTimeout as delay } from 'node:timers/promises';
import {
  compensationNotice,
  compensationPrelude,
  waitForTaskInFlight,
  type CompensationDeps,
  type CompensationResult,
} from '../workflows/compensation.js';
import { renameBack } from './rename.js';
import type { RDSClient } from '@aws-sdk/client-rds';
import type { StepDeadline } from '../deadline.js';
import { releaseRestore } from './release.js';
import { PitrState, type RenameProgress } from './state.js';

/**
 * A PITR execution that ended without its Cleanup (stopped, timed out, or failed past every Catch) gets what its
 * failure path does, from what Step Functions recorded of it: a rename strategy caught midway is renamed back (the
 * restore to its own identifier, the source to its own), then what the execution created and tagged is deleted
 * (releaseRestore: deletion protection off, the writer before its cluster; RDS deletes a managed master secret with
 * its instance or cluster), never the source. A restore handed over to a cutover, or one whose rename finished, is kept.
 */

export type PitrCompensationDeps = CompensationDeps & { rds: RDSClient; deadline?: StepDeadline };

/** Steps that may still create or rename after the execution ended: their late effect must land before this undoes it. */
const SIDE_EFFECTS_IN_FLIGHT = ['StartRestore', 'CreateWriter', 'Finish', 'RenameIn', 'RenameBack'];

/** How long the compensation waits for renames and an Aurora writer's deletion: with a step left running (120 s), within Lambda's 15 minutes. */
const WAIT_BUDGET_MS = 11 * 60_000;
const LOOK_EVERY_MS = 30_000;

/** The renames undone, look by look, within the budget; undefined when done, else why not. */
async function undoRenames(state: PitrState, deps: PitrCompensationDeps, until: number): Promise<{ state: PitrState; problem?: string }> {
  const now = deps.now ?? (() => new Date());
  const sleep = deps.sleep ?? ((ms: number) => delay(ms));
  // No bound of looks but the budget's: the request's was the execution's own.
  let current: PitrState = { ...state, request: { ...state.request, maxPolls: Number.MAX_SAFE_INTEGER } };
  try {
    for (;;) {
      const back: RenameProgress = await renameBack(current, { rds: deps.rds, deadline: deps.deadline, now });
      current = { ...current, renameBack: back };
      if (back.phase === 'done') return { state: current };
      if (now().getTime() + LOOK_EVERY_MS > until) {
        return { state: current, problem: `the renames were not undone within ${WAIT_BUDGET_MS / 60_000} minutes (${back.seen})` };
      }
      await sleep(LOOK_EVERY_MS);
    }
  } catch (error) {
    return { state: current, problem: (error as Error).message };
  }
}

/** releaseRestore, again while an Aurora cluster waits for its writer's deletion (PitrCleanupPending), within the budget. */
async function release(state: PitrState, deps: PitrCompensationDeps, until: number) {
  const now = deps.now ?? (() => new Date());
  for (;;) {
    try {
      return await releaseRestore(state, deps);
    } catch (error) {
      if ((error as Error).name !== 'PitrCleanupPending' || now().getTime() + LOOK_EVERY_MS > until) throw error;
      await (deps.sleep ?? ((ms: number) => delay(ms)))(LOOK_EVERY_MS);
    }
  }
}

/** Compensates PITR execution `executionArn`, if it ended without succeeding and before its Cleanup finished. */
export async function compensatePitr(executionArn: string, deps: PitrCompensationDeps): Promise<CompensationResult> {
  const start = await compensationPrelude(executionArn, deps, {
    workflow: 'PITR',
    firstChange: { state: 'StartRestore', before: 'created nothing' },
    schema: PitrState,
    undoneBy: 'its Cleanup finished',
    byHand: `find the RDS instances and clusters tagged lifeline:pitr-execution = ${executionArn}, check that the source has its own identifier, and delete them by hand`,
  });
  if ('result' in start) return start.result;
  const { record, how, at } = start;
  const waited = await waitForTaskInFlight(record, SIDE_EFFECTS_IN_FLIGHT, deps);
  const until = (deps.now ?? (() => new Date()))().getTime() + WAIT_BUDGET_MS;
  let state = start.state;
  const what = `PITR of ${state.request.database}`;
  const sentences: string[] = [];
  let page = false;

  // A rename caught midway, unless it finished (the restore serves under the source's identifier): undo it first.
  const renaming = record.entered.includes('RenameIn') && state.rename?.phase !== 'done' && state.renameBack?.phase !== 'done';
  if (renaming) {
    const undone = await undoRenames(state, deps, until);
    state = undone.state;
    if (undone.problem) {
      page = true;
      sentences.push(`Could not rename back: ${undone.problem}.`);
    } else {
      const renamed = state.renameBack?.renamed ?? [];
      sentences.push(
        renamed.length > 0
          ? `Renamed back (${renamed.join(', ')}): ${state.request.source.identifier} is the source again.`
          : `${state.request.source.identifier} was never renamed.`,
      );
    }
  }
  let outcome: string;
  try {
    const released = await release(state, deps, until);
    sentences.push(...released.notes);
    if (released.actionNeeded) page = true;
    outcome =
      released.deleted.length > 0
        ? `deleted ${released.deleted.join(', ')}`
        : released.kept.length > 0
          ? `kept ${released.kept.join(', ')}`
          : 'nothing to delete';
    if (released.deleted.length === 0 && released.kept.length === 0) sentences.push('Nothing of this execution was found to delete.');
  } catch (error) {
    page = true;
    outcome = 'delete by hand';
    sentences.push(
      `Could not delete what it created (${(error as Error).name}: ${(error as Error).message}): delete the RDS instances and clusters tagged lifeline:pitr-execution = ${executionArn} by hand.`,
    );
  }
  const child = record.submitted.HandOver?.ExecutionArn;
  if (state.handOver) {
    sentences.push(
      `Which database ${state.handOver.application} uses is the cutover's to say${typeof child === 'string' ? ` (execution ${child})` : ''}: its own outcome, or its compensation when it did not succeed, reports it.`,
    );
  }
  const notice = compensationNotice(
    `${what} ${how}: ${page ? 'act by hand' : outcome}`,
    `${what} ${how} (${record.status}) in ${at} before its Cleanup finished; this compensation did what its failure path does.${waited} ${sentences.join(' ')} Execution ${executionArn}.`,
    page,
  );
  await deps.notify(notice);
  return { executionArn, status: record.status, compensated: true, reason: outcome, notice };
}
