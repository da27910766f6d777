import type { Command } from 'commander';
import { RESTORE_JOBS, RestoreCommandOptions } from '../../lambdas/core/operator/options.js';
import { runRestore } from '../../lambdas/core/restore/pipeline.js';
import { createS3Client } from '../../lambdas/core/vault/s3.js';
import { connectionFrom } from '../cli/connections.js';
import { parseOptions, schemaOption } from '../cli/options.js';
import { print, progress } from '../cli/output.js';
import type { Interruption } from '../cli/signals.js';

/** `lifeline restore`: the pipeline alone, on this machine (`start restore` and `run restore` run the workflow). */
export function registerRestore(program: Command, interruption: Interruption): void {
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
    .option('--tables <names>', 'only these tables, comma-separated (name or schema.name): their rows and what their definitions need')
    .option('--schemas <names>', 'only tables in these schemas, comma-separated')
    .option('--no-privileges', 'skip GRANTs and REVOKEs (needed when the target server lacks roles they name)')
    .addOption(schemaOption('--jobs <n>', 'parallel pg_restore jobs', RESTORE_JOBS))
    .option('--staging-dir <dir>', 'where the table of contents of the archive is staged (default: the temp directory)')
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
        signal: interruption.signal(),
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
}
