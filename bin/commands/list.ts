import type { Command } from 'commander';
import { ListCommandOptions } from '../../lambdas/core/operator/options.js';
import { listBackups } from '../../lambdas/core/vault/backups.js';
import { createS3Client } from '../../lambdas/core/vault/s3.js';
import { parseOptions } from '../cli/options.js';
import { formatBytes, print } from '../cli/output.js';

/** `lifeline list`. */
export function registerList(program: Command): void {
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
}
