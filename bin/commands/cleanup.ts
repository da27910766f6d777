import type { Command } from 'commander';
import { tmpdir } from 'node:os';
import { LifelineError } from '../../lambdas/core/errors.js';
import { cleanUpAfterDeadRuns, describeCleanup, type CleanupServer } from '../../lambdas/core/operator/cleanup.js';
import { CleanupCommandOptions } from '../../lambdas/core/operator/options.js';
import { connectionFrom } from '../cli/connections.js';
import { parseOptions } from '../cli/options.js';
import { print } from '../cli/output.js';

/** A local run's settings, through the module that also holds the local engine, which the runner image leaves out. */
async function settingsServers(file: string): Promise<CleanupServer[]> {
  const { readLocalRestoreSettings, localServers } = await import('../../lambdas/core/operator/local-restore.js').catch(
    (error: unknown) => {
      throw new LifelineError(
        'InvalidConfig',
        `--settings needs the local engine, which this build leaves out: ${(error as Error).message}`,
      );
    },
  );
  return localServers(await readLocalRestoreSettings(file));
}

/** `lifeline cleanup`: what restore runs killed midway left here and on the servers named, removed; the rest said. */
export function registerCleanup(program: Command): void {
  program
    .command('cleanup')
    .description(
      'remove what a restore killed midway left: staging directories of processes that no longer run, and databases marked by a local run that died; says what it kept and why',
    )
    .option('--staging-dir <dir>', 'where restores staged their archives (default: the temp directory)')
    .option('--settings <file>', "a local run's settings file: its databases' servers are checked")
    .option('--database-url <url>', "an admin's URL on another server to check (keep the password in PGPASSWORD)")
    .option('--json', 'print one JSON object')
    .action(async (raw) => {
      const opts = parseOptions(CleanupCommandOptions, raw);
      const servers = opts.settings === undefined ? [] : await settingsServers(opts.settings);
      if (opts.databaseUrl !== undefined) {
        const settings = connectionFrom('--database-url', opts.databaseUrl, 'DATABASE_URL');
        servers.push({ label: `${settings.host}:${settings.port}`, settings });
      }
      const report = await cleanUpAfterDeadRuns({ stagingDir: opts.stagingDir ?? tmpdir(), servers });
      const lines = describeCleanup(report);
      print(opts.json, report, lines.length > 0 ? lines.join('\n') : 'nothing was left by a restore that died');
    });
}
