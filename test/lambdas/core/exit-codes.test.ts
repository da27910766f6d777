import { describe, expect, it } from 'vitest';
import { LifelineError } from '../../../lambdas/core/errors.js';
import { cliExitCode, runnerErrorName, runnerExitCode, runnerExitCodeLegend } from '../../../lambdas/core/exit-codes.js';

describe("the runner's exit codes", () => {
  it('name its error, which the workflow reads back from the code ECS reports', () => {
    for (const name of ['ChecksumMismatch', 'VerificationFailed', 'BackupNotFound', 'DatabaseUnreachable'] as const) {
      expect(runnerErrorName(runnerExitCode(new LifelineError(name, 'x')))).toBe(name);
    }
    expect(runnerExitCode(new Error('killed'))).toBe(1);
    expect(runnerErrorName(1)).toBe('RestoreFailed');
    expect(runnerErrorName(137)).toBe('RestoreFailed');
  });

  it('are listed for a person reading why a task stopped', () => {
    expect(runnerExitCodeLegend()).toMatch(/^10 InvalidInput, 11 SecretUnreadable, .*; 1 any other failure$/);
  });
});

describe("the CLI's exit codes", () => {
  it('are 2 for a bad input, 1 for any other failure', () => {
    expect(cliExitCode(new LifelineError('InvalidInput', 'x'))).toBe(2);
    expect(cliExitCode(new LifelineError('RestoreFailed', 'x'))).toBe(1);
    expect(cliExitCode(new Error('not ours'))).toBe(1);
  });

  it('are 130 and 143 for a run a signal stopped, as a shell reports the signal', () => {
    const interrupted = new LifelineError('Interrupted', 'stopped');
    expect(cliExitCode(interrupted, 'SIGINT')).toBe(130);
    expect(cliExitCode(interrupted, 'SIGTERM')).toBe(143);
    // Interrupted without a signal (a deadline, say) is an ordinary failure.
    expect(cliExitCode(interrupted)).toBe(1);
  });
});
