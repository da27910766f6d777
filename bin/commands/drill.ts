import type { Command } from 'commander';
import { tmpdir } from 'node:os';
import { runDrill } from '../../lambdas/core/drill/drill.js';
import type { DrillReport } from '../../lambdas/core/drill/report.js';
import { LifelineError } from '../../lambdas/core/errors.js';
import { DrillCommandOptions } from '../../lambdas/core/operator/options.js';
import { findBackup } from '../../lambdas/core/vault/backups.js';
import { createS3Client } from '../../lambdas/core/vault/s3.js';
import { parseOptions } from '../cli/options.js';
import { formatBytes, print } from '../cli/output.js';
import type { Interruption } from '../cli/signals.js';

/** The report as a person reads it. */
function reportText(report: DrillReport): string {
  const lines = [`${report.verdict}: ${report.reason}`];
  if (report.backup) lines.push(`backup    ${report.backup.key} (${formatBytes(report.backup.bytes)}, taken ${report.backup.takenAt})`);
  if (report.server) lines.push(`server    ${report.server}`);
  if (report.restoreSeconds !== null) {
    lines.push(`restore   ${report.restoreSeconds} s (${report.restoreSecondsPerGiB} s per GiB of archive)`);
  }
  if (report.validation) {
    const { tables, migration, smokeChecks } = report.validation;
    lines.push(`tables    ${tables.checked - tables.failed} of ${tables.checked} match the manifest`);
    lines.push(`migration ${migration.ok ? 'matches' : 'differs'}`);
    for (const check of smokeChecks) lines.push(`check     ${check.name}: ${check.passed ? 'passed' : check.detail}`);
  }
  if (report.teardown) lines.push(`teardown  ${report.teardown}`);
  return lines.join('\n');
}

/** `lifeline drill`: the drill workflow's runner, here, against a throwaway PostgreSQL of this machine's server binaries. */
export function registerDrill(program: Command, interruption: Interruption): void {
  program
    .command('drill')
    .description(
      'restore a backup into a throwaway PostgreSQL on this machine, validate it as a restore does, remove the server and print the report; exits 1 unless it PASSED',
    )
    .requiredOption('--database <name>', 'the database label in the vault')
    .requiredOption('--bucket <bucket>', 'vault bucket')
    .option('--key <key>', 'the backup to drill (default: the latest)')
    .option('--smoke-check <name=sql>', 'a check of the restored database, true to pass (repeatable)', (value, all: string[] = []) => [
      ...all,
      value,
    ])
    .option('--timeout-minutes <n>', 'TIMED_OUT past this', '240')
    .option('--jobs <n>', 'pg_restore workers', '2')
    .option('--staging-dir <dir>', "where the archive and the server's data go (default: the OS temp directory)")
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (path-style)')
    .option('--json', 'print the report as JSON')
    .action(async (raw) => {
      const opts = parseOptions(DrillCommandOptions, raw);
      const s3 = createS3Client({ endpoint: opts.s3Endpoint });
      const key = opts.key ?? (await findBackup(s3, opts.bucket, { database: opts.database, latest: true }));
      const report = await runDrill(
        {
          database: opts.database,
          key,
          execution: `local-drill-${new Date().toISOString()}`,
          smokeChecks: opts.smokeCheck.map((check) => {
            const at = check.indexOf('=');
            return { name: check.slice(0, at), sql: check.slice(at + 1) };
          }),
          timeoutSeconds: opts.timeoutMinutes * 60,
          jobs: opts.jobs,
        },
        { s3, bucket: opts.bucket, stagingDir: opts.stagingDir ?? tmpdir(), signal: interruption.signal() },
      );
      print(opts.json, report, reportText(report));
      if (report.verdict !== 'PASSED') {
        const name = report.verdict === 'TIMED_OUT' ? 'DrillTimedOut' : 'DrillFailed';
        throw new LifelineError(name, `the drill of ${opts.database} ended ${report.verdict}`);
      }
    });
}
