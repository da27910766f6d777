#!/usr/bin/env node
/** The operator CLI: the same engine the Lambda functions run, against any PostgreSQL and S3 endpoint. One module a command. */
import { Command } from 'commander';
import { cliExitCode } from '../lambdas/core/exit-codes.js';
import { Interruption } from './cli/signals.js';
import { registerApprovals } from './commands/approvals.js';
import { registerBackup } from './commands/backup.js';
import { registerCleanup } from './commands/cleanup.js';
import { registerDecisions } from './commands/decide.js';
import { registerDemo } from './commands/demo.js';
import { registerDrill } from './commands/drill.js';
import { registerDiff } from './commands/diff.js';
import { registerList } from './commands/list.js';
import { registerRestore } from './commands/restore.js';
import { registerRun } from './commands/run.js';
import { registerRunner } from './commands/runner.js';
import { registerStart } from './commands/start.js';
import { registerStatus } from './commands/status.js';
import { registerUnlock } from './commands/unlock.js';

/** In the order `lifeline --help` lists them. */
const COMMANDS: ((program: Command, interruption: Interruption) => void)[] = [
  registerBackup,
  registerList,
  registerDiff,
  registerRestore,
  registerDrill,
  registerRunner,
  registerStart,
  registerApprovals,
  registerDecisions,
  registerStatus,
  registerUnlock,
  registerRun,
  registerCleanup,
  registerDemo,
];

const program = new Command('lifeline').description('Back up and restore PostgreSQL databases through an S3 vault').showHelpAfterError();
const interruption = new Interruption();
for (const register of COMMANDS) register(program, interruption);

program.parseAsync().catch((error: unknown) => {
  const { name, message } = error instanceof Error ? error : new Error(String(error));
  process.stderr.write(`\nlifeline: ${name}: ${message}\n`);
  process.exitCode = cliExitCode(error, interruption.by);
});
