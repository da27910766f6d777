import type { Command } from 'commander';
import { diffReferences, parseReference, REFERENCE_FORMS } from '../../lambdas/core/drift/diff.js';
import { describeDrift } from '../../lambdas/core/drift/report.js';
import { LifelineError } from '../../lambdas/core/errors.js';
import { DiffCommandOptions } from '../../lambdas/core/operator/options.js';
import { createS3Client } from '../../lambdas/core/vault/s3.js';
import { connectionFrom } from '../cli/connections.js';
import { parseOptions } from '../cli/options.js';
import { print } from '../cli/output.js';
import type { Interruption } from '../cli/signals.js';

/** `lifeline diff A B`. */
export function registerDiff(program: Command, interruption: Interruption): void {
  program
    .command('diff')
    .description(
      'what changed from A to B: schema (tables, columns, indexes, constraints, functions, ...) from the archives, rows per table from the manifests',
    )
    .argument('<A>', REFERENCE_FORMS)
    .argument('<B>', REFERENCE_FORMS)
    .option('--bucket <bucket>', 'vault bucket (for backups)')
    .option('--database-url <url>', 'the database `live` names (default: $DATABASE_URL)')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (path-style)')
    .option('--json', 'print one JSON object')
    .action(async (a: string, b: string, raw) => {
      const opts = parseOptions(DiffCommandOptions, raw);
      const from = { reference: parseReference(a, 'A'), what: 'A' };
      const to = { reference: parseReference(b, 'B'), what: 'B' };
      const sides = [from.reference, to.reference];
      if (opts.bucket === undefined && sides.some((side) => !('live' in side))) {
        throw new LifelineError('InvalidInput', '--bucket: required when A or B is a backup');
      }
      const report = await diffReferences(from, to, {
        vault: opts.bucket === undefined ? undefined : { s3: createS3Client({ endpoint: opts.s3Endpoint }), bucket: opts.bucket },
        live: sides.some((side) => 'live' in side) ? connectionFrom('--database-url', opts.databaseUrl, 'DATABASE_URL') : undefined,
        signal: interruption.signal(),
      });
      print(opts.json, report, describeDrift(report).join('\n'));
    });
}
