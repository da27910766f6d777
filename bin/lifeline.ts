#!/usr/bin/env node
/** The operator CLI: the same engine the Lambda functions run, against any PostgreSQL and S3 endpoint. */
import { Command, Option } from 'commander';
import { constants } from 'node:os';
import type { z } from 'zod';
import { backupSummary, runBackup } from '../lambdas/core/backup.js';
import { describeComparison } from '../lambdas/core/comparison.js';
import { fromUrl, type ConnectionSettings } from '../lambdas/core/connection.js';
import { LifelineError } from '../lambdas/core/errors.js';
import { BackupCommandOptions, ListCommandOptions, RESTORE_JOBS, RestoreCommandOptions } from '../lambdas/core/operator-options.js';
import { runRestore } from '../lambdas/core/restore.js';
import { createS3Client } from '../lambdas/core/s3.js';
import { describeIssues } from '../lambdas/core/validation.js';
import { listBackups } from '../lambdas/core/vault.js';

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

function exitCodeFor(error: unknown): number {
  if (!(error instanceof LifelineError)) return 1;
  if (error.name === 'InvalidInput') return 2;
  // As a shell reports a process ended by the signal: 130 for SIGINT, 143 for SIGTERM.
  if (error.name === 'Interrupted' && interruptedBy) return 128 + constants.signals[interruptedBy];
  return 1;
}

program.parseAsync().catch((error: unknown) => {
  const { name, message } = error instanceof Error ? error : new Error(String(error));
  process.stderr.write(`\nlifeline: ${name}: ${message}\n`);
  process.exitCode = exitCodeFor(error);
});
