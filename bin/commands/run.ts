import type { Command } from 'commander';
import { hostname, tmpdir, userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { LifelineError } from '../../lambdas/core/errors.js';
import { answerDecision, type Decision } from '../../lambdas/core/operator/approvals.js';
import { localSeal } from '../../lambdas/core/workflows/approval.js';
import { RunCutoverCommandOptions, RunRestoreCommandOptions } from '../../lambdas/core/operator/options.js';
import { createS3Client } from '../../lambdas/core/vault/s3.js';
import type { CallbackAnswer, CallbackRequest, Notification } from '../../lambdas/core/workflows/local.js';
import type { CleanupItem } from '../../lambdas/core/operator/cleanup.js';
import { executionError } from '../cli/executions.js';
import { parseOptions } from '../cli/options.js';
import { print } from '../cli/output.js';
import type { Interruption } from '../cli/signals.js';
import { tableCheckLog } from '../../lambdas/core/restore/validation.js';
import { asksApproval, RestoreInput } from '../../lambdas/core/restore/input.js';
import { readableCause } from '../../lambdas/core/workflows/execution-state.js';

/** An SNS publish of a local run, as an operator would read the e-mail (which shows no task token: that is an attribute). */
function describeNotification({ state, topicArn, subject, message }: Notification): string {
  const body = typeof message === 'string' ? message : JSON.stringify(message, null, 2);
  return `[${state} -> ${topicArn.split(':').at(-1)}] ${subject ?? ''}\n${body}`;
}

/** The approval asked at the terminal (the request itself was printed as a notification). */
async function askApproval(): Promise<Decision> {
  if (!process.stdin.isTTY) {
    throw new LifelineError('InvalidInput', 'the workflow asks for approval: give --approve or --reject REASON, or run it on a terminal');
  }
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  try {
    if (/^y(es)?$/i.test((await terminal.question('approve? [y/N] ')).trim())) {
      return { approve: true, comment: (await terminal.question('comment (optional): ')).trim() || null };
    }
    return { approve: false, reason: (await terminal.question('reason: ')).trim() || 'rejected at the terminal' };
  } finally {
    terminal.close();
  }
}

/** How a local run answers its workflow's approval: --approve, --reject REASON, or asked on the terminal. */
export interface LocalAnswer {
  approve: boolean;
  comment?: string;
  reject?: string;
}

/**
 * The approval's answer as the approve function makes it (signed, here with this process's key, which the local
 * VerifyApproval checks), by this machine's user: no AWS identity decides a local run, and its record says so.
 */
export function localAnswer(options: LocalAnswer): (request: CallbackRequest) => Promise<CallbackAnswer> {
  const approver = { identity: `${userInfo().username}@${hostname()} (local run)` };
  return async (request) => {
    // The execution waits for this answer, so its state's line and the request are shown before the question.
    await new Promise((resolve) => setImmediate(resolve));
    const decision: Decision = options.approve
      ? { approve: true, comment: options.comment ?? null }
      : options.reject !== undefined
        ? { approve: false, reason: options.reject }
        : await askApproval();
    return answerDecision(request, approver, decision, { seal: localSeal() });
  };
}

/** A local run's progress: each state entered, and each notification after its state's line (unless --json). */
export function localProgress(json: boolean) {
  const notifications: Notification[] = [];
  // The engine reports states a little after running them: each notification waits for its state's line.
  let current: string | undefined;
  let waiting: Notification[] = [];
  const show = (notification: Notification) => {
    if (!json) print(false, null, describeNotification(notification));
  };
  return {
    notifications,
    onStateEntered: (state: string) => {
      current = state;
      if (!json) print(false, null, `> ${state}`);
      waiting.filter((n) => n.state === state).forEach(show);
      waiting = waiting.filter((n) => n.state !== state);
    },
    notify: (notification: Notification) => {
      notifications.push(notification);
      if (notification.state === current) show(notification);
      else waiting.push(notification);
    },
  };
}

/** The local engine loads only for a local run: the runner image's bundle leaves it out. */
async function localEngine<T>(load: () => Promise<T>): Promise<T> {
  return load().catch((error: unknown) => {
    throw new LifelineError(
      'InvalidConfig',
      `run --local needs the local engine, which this build leaves out: ${(error as Error).message}`,
    );
  });
}

/** `lifeline run restore|cutover --local`: the workflows' real state machines, run on this machine. */
export function registerRun(program: Command, interruption: Interruption): void {
  const run = program.command('run').description("run a workflow's state machine on this machine");

  run
    .command('restore')
    .description('run restore.asl.json here: steps and runner in-process, notifications printed, the approval asked on the terminal')
    .option('--local', 'run on this machine (required)')
    .requiredOption('--input <file>', "the workflow's input, as JSON (the same as the console's)")
    .requiredOption('--settings <file>', 'the databases and applications by connection URL, the vault bucket (see README)')
    .option('--approve', 'approve when the workflow asks, without asking on the terminal')
    .option('--comment <text>', "the approval's comment (with --approve)")
    .option('--reject <reason>', 'reject when the workflow asks, with this reason')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (path-style)')
    .option('--staging-dir <dir>', 'where the runner stages the archive (default: the temp directory)')
    .option('--json', 'print one JSON object')
    .action(async (raw) => {
      const opts = parseOptions(RunRestoreCommandOptions, raw);
      const { readJsonFile, readLocalRestoreSettings, runRestoreLocally } = await localEngine(
        () => import('../../lambdas/core/operator/local-restore.js'),
      );
      const input = await readJsonFile('--input', opts.input);
      // A rejection meant for an approval that never comes would let the restore go on: refused before anything starts.
      // (An input that does not parse fails in the workflow's first state, before anything is created.)
      const parsed = RestoreInput.safeParse(input);
      if (opts.reject !== undefined && parsed.success && !asksApproval(parsed.data)) {
        throw new LifelineError(
          'InvalidInput',
          `--reject: this input asks no approval (only "inPlace": true and "cutover" do), so there is nothing to reject and the restore would go on; leave --reject out to run it`,
        );
      }
      const settings = await readLocalRestoreSettings(opts.settings);
      const progress = localProgress(opts.json);
      let cleanedUp: CleanupItem[] = [];
      const printTableChecks = tableCheckLog((line) => process.stderr.write(`${JSON.stringify(line)}\n`), "this run's standard error");
      const result = await runRestoreLocally({
        input,
        settings,
        s3: createS3Client({ endpoint: opts.s3Endpoint }),
        stagingDir: opts.stagingDir ?? tmpdir(),
        signal: interruption.signal(),
        // What runs that died here left, removed before this one starts (what it kept, `lifeline cleanup` says).
        onCleanedUp: (report) => {
          cleanedUp = report.removed;
          if (!opts.json) report.removed.forEach((item) => print(false, null, `removed ${item.what}: ${item.why}`));
        },
        // Only a validation that failed has checks beyond the report's counts worth printing.
        logTableChecks: (execution, tables) => (tables.some((table) => !table.ok) ? printTableChecks(execution, tables) : null),
        onStateEntered: progress.onStateEntered,
        notify: progress.notify,
        answer: localAnswer(opts),
      });
      if (opts.json) print(true, { ...result, cause: readableCause(result.cause), notifications: progress.notifications, cleanedUp }, '');
      if (result.status !== 'SUCCEEDED') throw executionError({ status: result.status, error: result.error, cause: result.cause });
      if (!opts.json) print(false, null, `SUCCEEDED ${result.executionArn}\n${JSON.stringify(result.output, null, 2)}`);
    });

  run
    .command('cutover')
    .description(
      'run cutover.asl.json here: switch a local application (its secret file, start command and health URL in the settings) to another database',
    )
    .option('--local', 'run on this machine (required)')
    .requiredOption('--input <file>', "the workflow's input, as JSON (the same as the console's)")
    .requiredOption(
      '--settings <file>',
      'the databases, and the applications with their secret files, start commands and health checks (see README)',
    )
    .option('--approve', 'approve when the workflow asks, without asking on the terminal')
    .option('--comment <text>', "the approval's comment (with --approve)")
    .option('--reject <reason>', 'reject when the workflow asks, with this reason')
    .option('--json', 'print one JSON object')
    .action(async (raw) => {
      const opts = parseOptions(RunCutoverCommandOptions, raw);
      const { readJsonFile, readLocalRestoreSettings } = await localEngine(() => import('../../lambdas/core/operator/local-restore.js'));
      const { runCutoverLocally } = await localEngine(() => import('../../lambdas/core/operator/local-cutover.js'));
      const input = await readJsonFile('--input', opts.input);
      const settings = await readLocalRestoreSettings(opts.settings);
      const progress = localProgress(opts.json);
      const result = await runCutoverLocally({
        input,
        settings,
        onStateEntered: progress.onStateEntered,
        notify: progress.notify,
        answer: localAnswer(opts),
      });
      if (opts.json) print(true, { ...result, cause: readableCause(result.cause), notifications: progress.notifications }, '');
      if (result.status !== 'SUCCEEDED') throw executionError({ status: result.status, error: result.error, cause: result.cause });
      if (!opts.json) print(false, null, `SUCCEEDED ${result.executionArn}\n${JSON.stringify(result.output, null, 2)}`);
    });
}
