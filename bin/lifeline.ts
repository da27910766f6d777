#!/usr/bin/env node
/** The operator CLI: the same engine the Lambda functions run, against any PostgreSQL and S3 endpoint. */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { STSClient } from '@aws-sdk/client-sts';
import { Command, Option } from 'commander';
import { constants, hostname, tmpdir, userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import type { z } from 'zod';
import { backupSummary, runBackup } from '../lambdas/core/backup/pipeline.js';
import { describeComparison } from '../lambdas/core/vault/comparison.js';
import { fromUrl, type ConnectionSettings } from '../lambdas/core/postgres/connection.js';
import { LifelineError } from '../lambdas/core/errors.js';
import { cliExitCode } from '../lambdas/core/exit-codes.js';
import {
  ApprovalsCommandOptions,
  ApproveCommandOptions,
  BackupCommandOptions,
  ListCommandOptions,
  RejectCommandOptions,
  RESTORE_JOBS,
  RestoreCommandOptions,
  RunRestoreCommandOptions,
  StartRestoreCommandOptions,
  StatusCommandOptions,
} from '../lambdas/core/operator/options.js';
import { decide, listApprovals } from '../lambdas/core/operator/approvals.js';
import {
  consoleUrl,
  executionStatus,
  followExecution,
  parseExecutionArn,
  regionOfArn,
  resolveStateMachine,
  startRestore,
} from '../lambdas/core/operator/executions.js';
import { runRestore } from '../lambdas/core/restore/pipeline.js';
import { createRdsClient } from '../lambdas/core/postgres/rds.js';
import { createS3Client } from '../lambdas/core/vault/s3.js';
import { describeIssues } from '../lambdas/core/validation.js';
import { listBackups } from '../lambdas/core/vault/backups.js';
import type { Notification } from '../lambdas/core/workflows/local.js';
import { runRestoreRunner } from '../lambdas/core/runner/restore.js';
import { runBackupRunner } from '../lambdas/core/runner/backup.js';

const MiB = 1024 * 1024;

function formatBytes(bytes: number): string {
  return bytes >= MiB ? `${(bytes / MiB).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

/** Bytes and rate on one refreshing stderr line, only for a person watching a terminal. */
function progress(json: boolean): ((bytes: number) => void) | undefined {
  if (json || !process.stderr.isTTY) return undefined;
  const started = Date.now();
  let shown = 0;
  return (bytes) => {
    const now = Date.now();
    if (now - shown < 500) return;
    shown = now;
    const rate = bytes / MiB / Math.max((now - started) / 1000, 0.001);
    process.stderr.write(`\r${formatBytes(bytes)} at ${rate.toFixed(1)} MiB/s   `);
  };
}

/** A URL from a flag or the environment. A password typed into argv is visible to every local user. */
function connectionFrom(flag: string, value: string | undefined, envName: string): ConnectionSettings {
  const url = value ?? process.env[envName];
  if (!url) throw new LifelineError('InvalidInput', `${flag}: give ${flag} or set ${envName}`);
  const settings = fromUrl(url);
  if (value !== undefined && new URL(value).password) {
    process.stderr.write(`lifeline: warning: ${flag} carries a password on the command line; prefer ${envName} or PGPASSWORD\n`);
  }
  return settings;
}

const flag = (key: string) => `--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;

/** A command's options as its schema in core reads them; InvalidInput names each offending flag. */
function parseOptions<S extends z.ZodType>(schema: S, options: unknown): z.infer<S> {
  const result = schema.safeParse(options);
  if (result.success) return result.data;
  throw new LifelineError('InvalidInput', describeIssues(result.error, flag).join('; '));
}

type FieldSchema = z.ZodType & { options?: readonly string[]; unwrap?: () => FieldSchema };

/** An option whose choices and default come from its field's schema in core. */
function schemaOption(flags: string, description: string, field: FieldSchema): Option {
  const option = new Option(flags, description);
  let inner = field;
  while (inner.unwrap) inner = inner.unwrap(); // past .default() and .optional() to the enum
  if (inner.options) option.choices(inner.options);
  const fallback = field.safeParse(undefined);
  return fallback.success && fallback.data !== undefined ? option.default(fallback.data) : option;
}

function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

let interruptedBy: 'SIGINT' | 'SIGTERM' | undefined;

/** SIGINT or SIGTERM stops the run through its signal, so that it cleans up after itself; a second one ends it at once. */
function interruption(): AbortSignal {
  const controller = new AbortController();
  for (const name of ['SIGINT', 'SIGTERM'] as const) {
    process.on(name, () => {
      if (interruptedBy) process.exit(128 + constants.signals[name]);
      interruptedBy = name;
      process.stderr.write(`\nlifeline: ${name}: stopping and cleaning up (send it again to quit at once)\n`);
      controller.abort();
    });
  }
  return controller.signal;
}

const program = new Command('lifeline').description('Back up and restore PostgreSQL databases through an S3 vault').showHelpAfterError();

program
  .command('backup')
  .description('dump a database into the vault (pg_dump | zstd, streamed, verified, manifest last)')
  .option('--database-url <url>', 'source database (default: $DATABASE_URL)')
  .requiredOption('--database <name>', "the database's name in the vault")
  .requiredOption('--bucket <bucket>', 'vault bucket')
  .addOption(schemaOption('--tier <tier>', 'retention tier', BackupCommandOptions.shape.tier))
  .addOption(schemaOption('--trigger <trigger>', 'what started this backup', BackupCommandOptions.shape.trigger))
  .addOption(
    schemaOption('--time-zone <zone>', 'IANA time zone whose calendar picks monthly/weekly tiers', BackupCommandOptions.shape.timeZone),
  )
  .addOption(
    schemaOption(
      '--object-lock <mode>',
      "lock the backup until its tier ends, in the vault's Object Lock mode (vault.objectLock.mode)",
      BackupCommandOptions.shape.objectLock,
    ),
  )
  .option('--s3-endpoint <url>', 'S3-compatible endpoint (path-style)')
  .option('--json', 'print one JSON object')
  .action(async (raw) => {
    const opts = parseOptions(BackupCommandOptions, raw);
    const result = await runBackup({
      connection: connectionFrom('--database-url', opts.databaseUrl, 'DATABASE_URL'),
      database: opts.database,
      bucket: opts.bucket,
      s3: createS3Client({ endpoint: opts.s3Endpoint }),
      trigger: opts.trigger,
      tier: opts.tier,
      timeZone: opts.timeZone,
      objectLock: opts.objectLock,
      onProgress: progress(opts.json),
      signal: interruption(),
    });
    const summary = backupSummary(result);
    const { key, bytes, sha256, tier, durationMs } = summary;
    const { comparison } = result.manifest;
    print(
      opts.json,
      { ...summary, comparison },
      [
        `backed up ${opts.database} to s3://${opts.bucket}/${key}`,
        `  tier ${tier}, ${formatBytes(bytes)} in ${(durationMs / 1000).toFixed(1)} s`,
        `  sha256 ${sha256}`,
        ...(comparison ? describeComparison(comparison).map((line) => `  ${line}`) : []),
      ].join('\n'),
    );
  });

program
  .command('list')
  .description('list complete backups (those with a manifest), oldest first')
  .requiredOption('--bucket <bucket>', 'vault bucket')
  .option('--database <name>', 'only this database')
  .option('--s3-endpoint <url>', 'S3-compatible endpoint (path-style)')
  .option('--json', 'print one JSON object')
  .action(async (raw) => {
    const opts = parseOptions(ListCommandOptions, raw);
    const backups = await listBackups(createS3Client({ endpoint: opts.s3Endpoint }), opts.bucket, opts.database);
    const rows = backups.map((b) => `${b.startedAt.toISOString()}  ${b.tier.padEnd(7)}  ${formatBytes(b.bytes).padStart(10)}  ${b.key}`);
    print(opts.json, { backups }, rows.length > 0 ? rows.join('\n') : 'no backups');
  });

program
  .command('restore')
  .description('restore a backup into a new, empty database (checksum verified before anything is written)')
  .requiredOption('--bucket <bucket>', 'vault bucket')
  .option('--key <key>', 'the archive key to restore')
  .option('--latest', 'the latest backup of --database')
  .option('--at <time>', 'the latest backup of --database taken at or before this ISO 8601 time')
  .option('--database <name>', "the database's name in the vault (with --latest or --at)")
  .option(
    '--target-url <url>',
    'target database: an existing one without tables, or a new one with --create-target (default: $TARGET_DATABASE_URL)',
  )
  .option('--create-target', 'create the target database (it must not exist yet), and drop it again if the restore fails')
  .option('--tables <names>', 'only these tables, comma-separated: their rows and what their definitions need')
  .option('--schemas <names>', 'only tables in these schemas, comma-separated')
  .option('--no-privileges', 'skip GRANTs and REVOKEs (needed when the target server lacks roles they name)')
  .addOption(schemaOption('--jobs <n>', 'parallel pg_restore jobs', RESTORE_JOBS))
  .option('--staging-dir <dir>', 'where the archive is downloaded and decompressed (default: the temp directory)')
  .option('--s3-endpoint <url>', 'S3-compatible endpoint (path-style)')
  .option('--json', 'print one JSON object')
  .action(async (raw) => {
    const opts = parseOptions(RestoreCommandOptions, raw);
    const result = await runRestore({
      s3: createS3Client({ endpoint: opts.s3Endpoint }),
      bucket: opts.bucket,
      selector: opts.selector,
      target: connectionFrom('--target-url', opts.targetUrl, 'TARGET_DATABASE_URL'),
      createTarget: opts.createTarget,
      tables: opts.tables,
      schemas: opts.schemas,
      privileges: opts.privileges,
      jobs: opts.jobs,
      stagingDir: opts.stagingDir,
      onProgress: progress(opts.json),
      signal: interruption(),
    });
    const rows = result.tables.map(
      (t) => `  ${t.schema}.${t.name}: ${t.rows} rows${t.check === 'estimate' ? ` (the backup estimated ${t.expectedRows})` : ''}`,
    );
    const leftOut = result.leftOut.length > 0 ? ['left out of the selected tables:', ...result.leftOut.map((entry) => `  ${entry}`)] : [];
    print(
      opts.json,
      result,
      [
        `restored s3://${opts.bucket}/${result.key} into ${result.target} in ${(result.durationMs / 1000).toFixed(1)} s`,
        ...rows,
        ...leftOut,
      ].join('\n'),
    );
  });

/** An SNS publish of a local run, as an operator would read the e-mail (a local task token left out). */
function describeNotification({ state, topicArn, subject, message }: Notification): string {
  const body = typeof message === 'string' ? message : JSON.stringify({ ...(message as object), taskToken: undefined }, null, 2);
  return `[${state} -> ${topicArn.split(':').at(-1)}] ${subject ?? ''}\n${body}`;
}

type LocalDecision = { approve: true; comment: string | null } | { approve: false; reason: string };

/** The approval asked at the terminal (the request itself was printed as a notification). */
async function askApproval(): Promise<LocalDecision> {
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

const runner = program.command('runner').description('what the workflows run in the runner container (ECS Fargate)');

runner
  .command('restore')
  .description('restore the job in $LIFELINE_RESTORE_JOB (the restore workflow sets it); exit code names the error')
  .action(async () => {
    process.exitCode = await runRestoreRunner(process.env, {
      s3: createS3Client(),
      secrets: new SecretsManagerClient({}),
      signal: interruption(),
      stdout: (line) => process.stdout.write(`${line}\n`),
      stderr: (line) => process.stderr.write(`${line}\n`),
    });
  });

runner
  .command('backup')
  .description(
    "back up the database the task's environment names (a Fargate backup task), retrying as Lambda would; exit code names the error",
  )
  .action(async () => {
    process.exitCode = await runBackupRunner(process.env, {
      s3: createS3Client(),
      secrets: new SecretsManagerClient({}),
      rds: createRdsClient(),
      cloudwatch: new CloudWatchClient({}),
      sqs: new SQSClient({}),
      signal: interruption(),
      stdout: (line) => process.stdout.write(`${line}\n`),
      stderr: (line) => process.stderr.write(`${line}\n`),
    });
  });

const stateMachineOptions = (command: Command) =>
  command
    .option('--state-machine <arn>', 'the restore state machine (default: the one named <name>-restore in the current region)')
    .addOption(
      schemaOption('--name <name>', "the config's name, which prefixes the state machine's", StartRestoreCommandOptions.in.shape.name),
    );

const time = (date: Date | null | undefined) => date?.toISOString() ?? '-';

/** A failed, timed out or aborted execution as the CLI's error: its own error name, else its status. */
function executionError(execution: { status?: string; error?: string; cause?: string }): Error {
  return Object.assign(new Error(execution.cause ?? `the execution ended ${execution.status}`), {
    name: execution.error ?? execution.status ?? 'FAILED',
  });
}

const start = program.command('start').description('start a workflow in AWS Step Functions');

stateMachineOptions(
  start
    .command('restore')
    .description('start the restore workflow: the backup restored into a new database, validated, approved when it is to replace something')
    .requiredOption('--database <name>', 'the configured database whose backup is restored')
    .option('--at <time>', 'the latest backup taken at or before this ISO 8601 time')
    .option('--key <key>', 'this backup (an archive key in the vault)')
    .option('--target-database <name>', 'the new database (default: <database>_restored_<UTC yyyymmddhhmm>)')
    .option('--cutover <application>', 'switch this configured application to the restore once a human approves')
    .option('--jobs <n>', "pg_restore worker processes (default: the runner's vCPUs)")
    .option('--keep-on-failure', 'keep what the execution created when it fails, to investigate')
    .option('--wait', 'follow the execution to its end, printing each state it enters'),
)
  .option('--json', 'print one JSON object')
  .action(async (raw) => {
    const opts = parseOptions(StartRestoreCommandOptions, raw);
    const sfn = new SFNClient('arn' in opts.stateMachine ? { region: regionOfArn(opts.stateMachine.arn) } : {});
    const started = await startRestore(sfn, opts.stateMachine, opts.input);
    if (!opts.wait || !opts.json) print(opts.json, started, `started ${started.executionArn}\n  ${started.consoleUrl}`);
    if (!opts.wait) return;
    const ended = await followExecution(sfn, started.executionArn, {
      onStateEntered: (state) => {
        if (!opts.json) print(false, null, `  ${time(state.at)}  ${state.name}`);
      },
    });
    const outcome = {
      ...started,
      status: ended.status,
      error: ended.error ?? null,
      cause: ended.cause ?? null,
      output: ended.output ?? null,
    };
    if (opts.json) print(true, outcome, '');
    if (ended.status !== 'SUCCEEDED') throw executionError(ended);
    if (!opts.json) print(false, null, `SUCCEEDED in ${Math.round((ended.stopDate!.getTime() - started.startDate.getTime()) / 1000)} s`);
  });

stateMachineOptions(program.command('approvals').description('list restore executions waiting for a human decision'))
  .option('--json', 'print one JSON object')
  .action(async (raw) => {
    const opts = parseOptions(ApprovalsCommandOptions, raw);
    const sfn = new SFNClient('arn' in opts.stateMachine ? { region: regionOfArn(opts.stateMachine.arn) } : {});
    const approvals = (await listApprovals(sfn, await resolveStateMachine(sfn, opts.stateMachine))).map(({ token: _, ...shown }) => shown);
    const text = approvals.map((a) =>
      [
        a.executionArn,
        `  ${a.database ?? '?'} restored into ${a.target ?? '?'}, waiting in ${a.state} since ${time(a.since)}`,
        ...(a.report ? [`  validation ${a.report.passed ? 'passed' : 'failed'}: ${a.report.summary ?? ''}`] : []),
        `  lifeline approve ${a.executionArn} --comment "..."  |  lifeline reject ${a.executionArn} --reason "..."`,
      ].join('\n'),
    );
    print(opts.json, { approvals }, text.length > 0 ? text.join('\n') : 'no executions wait for approval');
  });

/** The SFN and STS clients in the execution's own region. */
function clientsFor(executionArn: string) {
  const { region } = parseExecutionArn(executionArn);
  return { sfn: new SFNClient({ region }), sts: new STSClient({ region }) };
}

program
  .command('approve')
  .description('approve what an execution waits for; your AWS identity and comment are recorded in it')
  .argument('<execution-arn>')
  .option('--comment <text>', 'why, for the record')
  .option('--json', 'print one JSON object')
  .action(async (executionArn: string, raw) => {
    const opts = parseOptions(ApproveCommandOptions, raw);
    const recorded = await decide(executionArn, { approve: true, comment: opts.comment ?? null }, clientsFor(executionArn));
    print(opts.json, recorded, `approved ${recorded.state} of ${executionArn} as ${recorded.approver}`);
  });

program
  .command('reject')
  .description('reject what an execution waits for: it cleans up what it created and fails with Rejected')
  .argument('<execution-arn>')
  .requiredOption('--reason <text>', 'why, recorded as the failure cause')
  .option('--json', 'print one JSON object')
  .action(async (executionArn: string, raw) => {
    const opts = parseOptions(RejectCommandOptions, raw);
    const recorded = await decide(executionArn, { approve: false, reason: opts.reason }, clientsFor(executionArn));
    print(opts.json, recorded, `rejected ${recorded.state} of ${executionArn} as ${recorded.approver}`);
  });

program
  .command('status')
  .description('where an execution is: status, state, times, error, outcome')
  .argument('<execution-arn>')
  .option('--json', 'print one JSON object')
  .action(async (executionArn: string, raw) => {
    const opts = parseOptions(StatusCommandOptions, raw);
    const status = await executionStatus(clientsFor(executionArn).sfn, executionArn);
    const running = status.status === 'RUNNING';
    print(
      opts.json,
      status,
      [
        executionArn,
        `  ${status.status}, ${running ? 'in' : 'last state'} ${status.state ?? '-'} since ${time(status.stateEnteredAt)}`,
        `  started ${time(status.startDate)}, stopped ${time(status.stopDate)}`,
        ...(status.error !== null ? [`  ${status.error}: ${status.cause ?? ''}`] : []),
        ...(status.output !== null ? [`  ${status.output}`] : []),
        `  ${consoleUrl(executionArn)}`,
      ].join('\n'),
    );
  });

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
    // The local engine (aws-local-stepfunctions) loads only here: the runner image's bundle leaves it out.
    const { readJsonFile, readLocalRestoreSettings, runRestoreLocally } = await import('../lambdas/core/operator/local-restore.js').catch(
      (error: unknown) => {
        throw new LifelineError(
          'InvalidConfig',
          `run --local needs the local engine, which this build leaves out: ${(error as Error).message}`,
        );
      },
    );
    const input = await readJsonFile('--input', opts.input);
    const settings = await readLocalRestoreSettings(opts.settings);
    const approver = `${userInfo().username}@${hostname()} (local run)`;
    const notifications: Notification[] = [];
    // The engine reports states a little after running them: each notification waits for its state's line.
    let current: string | undefined;
    let waiting: Notification[] = [];
    const show = (notification: Notification) => {
      if (!opts.json) print(false, null, describeNotification(notification));
    };
    const result = await runRestoreLocally({
      input,
      settings,
      s3: createS3Client({ endpoint: opts.s3Endpoint }),
      stagingDir: opts.stagingDir ?? tmpdir(),
      signal: interruption(),
      onStateEntered: (state) => {
        current = state;
        if (!opts.json) print(false, null, `> ${state}`);
        waiting.filter((n) => n.state === state).forEach(show);
        waiting = waiting.filter((n) => n.state !== state);
      },
      notify: (notification) => {
        notifications.push(notification);
        if (notification.state === current) show(notification);
        else waiting.push(notification);
      },
      answer: async () => {
        // The execution waits for this answer, so its state's line and the request are shown before the question.
        await new Promise((resolve) => setImmediate(resolve));
        const decision: LocalDecision = opts.approve
          ? { approve: true, comment: opts.comment ?? null }
          : opts.reject !== undefined
            ? { approve: false, reason: opts.reject }
            : await askApproval();
        if (decision.approve) return { output: { approver, comment: decision.comment, decidedAt: new Date().toISOString() } };
        return { error: 'Rejected', cause: `${decision.reason} (rejected by ${approver})` };
      },
    });
    if (opts.json) print(true, { ...result, notifications }, '');
    if (result.status !== 'SUCCEEDED') throw executionError({ status: result.status, error: result.error, cause: result.cause });
    if (!opts.json) print(false, null, `SUCCEEDED ${result.executionArn}\n${JSON.stringify(result.output, null, 2)}`);
  });

program.parseAsync().catch((error: unknown) => {
  const { name, message } = error instanceof Error ? error : new Error(String(error));
  process.stderr.write(`\nlifeline: ${name}: ${message}\n`);
  process.exitCode = cliExitCode(error, interruptedBy);
});
