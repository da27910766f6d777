import { describe, expect, it } from 'vitest';
import { CUTOVER_STEPS_MARGIN_SECONDS, CUTOVER_TIMEOUT_SECONDS, FAILING_CUTOVER_STATES } from '../../../../lambdas/core/cutover/state.js';
import { taskTimeoutSeconds, WORKFLOW_DEFINITIONS, worstCaseSeconds } from '../../../../lambdas/core/workflows/definitions.js';

/** What waking an idle function costs, once an execution: the ResourceNotReady retrier's waits (10 s, doubling, 6 times). */
const WAKING = 10 + 20 + 40 + 80 + 160 + 320;

describe("the cutover's time budget, from cutover.asl.json's own timeouts and retries", () => {
  it('counts every attempt a retrier allows at its timeout, with its waits, and waking the function once', () => {
    // Revert: 60 s, retried 3 times on any error (3 s, doubling), its SecretChanged retrier allowing none.
    expect(worstCaseSeconds('cutover', ['Revert'])).toBe(4 * 60 + (3 + 6 + 12) + WAKING);
    // Record: Lambda's own errors cost their waits only (2 s, doubling, 3 times).
    expect(worstCaseSeconds('cutover', ['Record'])).toBe(120 + (2 + 4 + 8) + WAKING);
    expect(worstCaseSeconds('cutover', ['Revert', 'Record'])).toBe(4 * 60 + 21 + 120 + 14 + WAKING);
    // TakeLock: DynamoDB's errors, 5 attempts at 2 s doubling.
    expect(worstCaseSeconds('cutover', ['TakeLock'])).toBe(6 * 60 + (2 + 4 + 8 + 16 + 32));
  });

  it('follows the definition: a changed timeout changes the budget', () => {
    const revert = WORKFLOW_DEFINITIONS.cutover.States.Revert!;
    const before = worstCaseSeconds('cutover', FAILING_CUTOVER_STATES);
    const timeout = revert.TimeoutSeconds;
    revert.TimeoutSeconds = 600;
    try {
      expect(worstCaseSeconds('cutover', FAILING_CUTOVER_STATES)).toBe(before + 4 * (600 - 60));
    } finally {
      revert.TimeoutSeconds = timeout;
    }
    expect(CUTOVER_STEPS_MARGIN_SECONDS).toBe(before);
  });

  it('covers every Task of a failing cutover: each is on that path, or in a phase the settings size, or runs only on success', () => {
    const phases = ['ProveHealth', 'ProveRollbackHealth'];
    const successOnly = ['Unfreeze', 'ReleaseLock', 'Summarize', 'Notify'];
    // KeepLock stands in for ReleaseLockAfterFailure when Conclude says to keep the lock; it takes no longer.
    const alternatives = ['KeepLock'];
    expect(worstCaseSeconds('cutover', ['KeepLock'])).toBeLessThanOrEqual(worstCaseSeconds('cutover', ['ReleaseLockAfterFailure']));
    const tasks = Object.entries(WORKFLOW_DEFINITIONS.cutover.States)
      .filter(([, state]) => state.Type === 'Task')
      .map(([name]) => name);
    expect(tasks.filter((name) => ![...FAILING_CUTOVER_STATES, ...phases, ...successOnly, ...alternatives].includes(name))).toEqual([]);
    // The rollback alone (Revert, RollbackUnfreeze, RollbackRestart, LiftFreeze, Conclude) can take over 2,000 s: more than the 1,800 s once written by hand.
    const rollback = worstCaseSeconds('cutover', ['Revert', 'RollbackUnfreeze', 'RollbackRestart', 'LiftFreeze', 'Conclude']) - WAKING;
    expect(rollback).toBeGreaterThan(2_000);
    expect(CUTOVER_STEPS_MARGIN_SECONDS).toBeGreaterThan(rollback);
  });

  it("gives the restore's HandOver longer than the cutover it waits for", () => {
    expect(CUTOVER_TIMEOUT_SECONDS).toBe(WORKFLOW_DEFINITIONS.cutover.TimeoutSeconds);
    expect(taskTimeoutSeconds('restore', 'HandOver')).toBeGreaterThan(CUTOVER_TIMEOUT_SECONDS);
  });
});
