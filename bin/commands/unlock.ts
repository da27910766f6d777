import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { STSClient } from '@aws-sdk/client-sts';
import type { Command } from 'commander';
import { unlock } from '../../lambdas/core/operator/locks.js';
import { UnlockCommandOptions } from '../../lambdas/core/operator/options.js';
import { ApplicationName } from '../../lambdas/core/names.js';
import { parseInput } from '../../lambdas/core/validation.js';
import { parseOptions, schemaOption } from '../cli/options.js';
import { print } from '../cli/output.js';

/** `lifeline unlock`: clears an application's cutover lock, kept after a failed rollback, saying who and why. */
export function registerUnlock(program: Command): void {
  program
    .command('unlock')
    .description(
      "delete an application's cutover lock (kept after RollbackUnhealthy, SecretChanged or CutoverUnresolved) once you have checked it; prints your AWS identity and the reason",
    )
    .argument('<application>', "the application's name in the config")
    .option('--reason <text>', 'what you checked, so that the lock may go (required)')
    .addOption(schemaOption('--name <name>', "the config's name, which prefixes the lock table's", UnlockCommandOptions.in.shape.name))
    .option('--region <region>', "the deployment's region (default: the current region)")
    .option('--json', 'print one JSON object')
    .action(async (application: string, raw: Record<string, unknown>) => {
      parseInput(ApplicationName, application, 'application');
      const opts = parseOptions(UnlockCommandOptions, { ...raw, application });
      const region = opts.region === undefined ? {} : { region: opts.region };
      const result = await unlock(
        { application: opts.application, reason: opts.reason, table: opts.table },
        { dynamodb: new DynamoDBClient(region), sts: new STSClient(region), sfn: (at) => new SFNClient({ region: at }) },
      );
      print(opts.json, result, result.message);
    });
}
