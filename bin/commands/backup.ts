import type { Command } from 'commander';
import { backupSummary, runBackup } from '../../lambdas/core/backup/pipeline.js';
import { BackupCommandOptions } from '../../lambdas/core/operator/options.js';
import { describeComparison } from '../../lambdas/core/vault/comparison.js';
import { createS3Client } from '../../lambdas/core/vault/s3.js';
import { connectionFrom } from '../cli/connections.js';
import { parseOptions, schemaOption } from '../cli/options.js';
import { formatBytes, print, progress } from '../cli/output.js';
import type { Interruption } from '../cli/signals.js';

/** `lifeline backup`. */
export function registerBackup(program: Command, interruption: Interruption): void {
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
        signal: interruption.signal(),
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
}
