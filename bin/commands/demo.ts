import type { Command } from 'commander';
import { constants } from 'node:os';
import { z } from 'zod';
import { LifelineError } from '../../lambdas/core/errors.js';
import { parseOptions } from '../cli/options.js';
import type { Interruption } from '../cli/signals.js';
import { localAnswer } from './run.js';

const DemoCommandOptions = z.strictObject({ yes: z.boolean().default(false), json: z.boolean().default(false) });

/** `lifeline demo` (`npm run demo`): backup, accident, restore and cutover on this machine, with nothing prepared. */
export function registerDemo(program: Command, interruption: Interruption): void {
  program
    .command('demo')
    .description(
      'the whole recovery on this machine: a throwaway PostgreSQL and S3, a sample application, a backup, an accident, the restore and cutover workflows',
    )
    .option('--yes', 'approve the restore without asking on the terminal')
    .option('--json', 'print the summary as one JSON object')
    .action(async (raw) => {
      const opts = parseOptions(DemoCommandOptions, raw);
      // s3rver, the demo's S3, is a devDependency: the demo runs from a clone of the repository (npm ci).
      const { runDemo } = await import('../../lambdas/core/operator/local-demo.js').catch((error: unknown) => {
        throw new LifelineError(
          'InvalidConfig',
          `lifeline demo runs from a clone of the repository after npm ci: ${(error as Error).message}`,
        );
      });
      const log = (line: string) => process.stderr.write(`${line}\n`);
      const signal = interruption.signal();
      // Without a terminal to ask on (CI), the demo approves as --yes would: it switches only its own throwaway application.
      const yes = opts.yes || !process.stdin.isTTY;
      if (yes && !opts.yes) log('No terminal to ask on: the restore will be approved as with --yes.');
      const approve = localAnswer({ approve: yes });
      try {
        const summary = await runDemo({
          log,
          signal,
          onStateEntered: (state) => log(`    > ${state}`),
          answer: async (request) => {
            if (!yes) log('    the restore asks for approval: shop_restored is restored and validated; switch shop-api to it?');
            return approve(request);
          },
        });
        process.stdout.write(opts.json ? `${JSON.stringify(summary)}\n` : `\n${summary.text}\nNothing is left running.\n`);
      } catch (error) {
        // Stopped by a signal: everything is removed already, and the workflow still in flight must not go on.
        if (interruption.by) {
          log(`\nlifeline: Interrupted: ${(error as Error).message}`);
          process.exit(128 + constants.signals[interruption.by]);
        }
        throw error;
      }
    });
}
