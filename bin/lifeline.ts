#!/usr/bin/env node
/** The operator CLI: the same engine the Lambda functions run, against any PostgreSQL and S3 endpoint. One module a command. */
import { Command } from 'commander';
import { cliExitCode } from '../lambdas/core/exit-codes.js';
import { Interruption } from './cli/signals.js';

type Register = (program: Command, interruption: Interruption) => void;

/**
 * Each command's module by the names it registers, in the order `lifeline --help` lists them. Only the named command's
 * module is loaded (all of them for help or an unknown name): loading every command's AWS clients would add about
 * a fifth of a second to every run, a restore's time to its first row included.
 */
const COMMANDS: [names: string[], load: () => Promise<Register>][] = [
  [['backup'], async () => (await import('./commands/backup.js')).registerBackup],
  [['list'], async () => (await import('./commands/list.js')).registerList],
  [['diff'], async () => (await import('./commands/diff.js')).registerDiff],
  [['restore'], async () => (await import('./commands/restore.js')).registerRestore],
  [['drill'], async () => (await import('./commands/drill.js')).registerDrill],
  [['runner'], async () => (await import('./commands/runner.js')).registerRunner],
  [['start'], async () => (await import('./commands/start.js')).registerStart],
  [['approvals'], async () => (await import('./commands/approvals.js')).registerApprovals],
  [['approve', 'reject'], async () => (await import('./commands/decide.js')).registerDecisions],
  [['status'], async () => (await import('./commands/status.js')).registerStatus],
  [['unlock'], async () => (await import('./commands/unlock.js')).registerUnlock],
  [['run'], async () => (await import('./commands/run.js')).registerRun],
  [['cleanup'], async () => (await import('./commands/cleanup.js')).registerCleanup],
  [['demo'], async () => (await import('./commands/demo.js')).registerDemo],
];

const program = new Command('lifeline').description('Back up and restore PostgreSQL databases through an S3 vault').showHelpAfterError();
const interruption = new Interruption();
const named = COMMANDS.filter(([names]) => names.includes(process.argv[2] ?? ''));
for (const [, load] of named.length > 0 ? named : COMMANDS) (await load())(program, interruption);

program.parseAsync().catch((error: unknown) => {
  const { name, message } = error instanceof Error ? error : new Error(String(error));
  process.stderr.write(`\nlifeline: ${name}: ${message}\n`);
  process.exitCode = cliExitCode(error, interruption.by);
});
