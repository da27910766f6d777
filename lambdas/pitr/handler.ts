import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { LambdaContext } from '../core/deadline.js';
import { LifelineError } from '../core/errors.js';
import { PitrSettings } from '../core/pitr/state.js';
import { runPitrStep } from '../core/pitr/steps.js';
import { ssmRestoreCatalog } from '../core/restore/catalog.js';
import { parseInput } from '../core/validation.js';
import { ALARM_TOPIC_VARIABLE, publishNotices } from '../core/workflows/compensation.js';
import { executionStatusLookup } from '../core/workflows/execution-history.js';

const secrets = new SecretsManagerClient({});
const ssm = new SSMClient({});
// Fail fast where the subnets have no route to the RDS API, rather than hang until Lambda's limit.
const rds = new RDSClient({ requestHandler: { connectionTimeout: 5_000, requestTimeout: 15_000 } });
// Whether the execution holding a migrations target secret still runs; without a route to Step Functions, it holds.
const executions = executionStatusLookup(new SFNClient({ requestHandler: { connectionTimeout: 5_000, requestTimeout: 10_000 } }));
// Only the steps function outside any VPC compensates executions (EventBridge targets it): the stack gives it the topic.
const alarmTopicArn = process.env[ALARM_TOPIC_VARIABLE];
const compensation = alarmTopicArn
  ? { stepFunctions: new SFNClient({}), notify: publishNotices(new SNSClient({}), alarmTopicArn) }
  : undefined;

function settingsFromEnvironment(): PitrSettings {
  const text = process.env.LIFELINE_PITR_SETTINGS;
  if (!text) throw new LifelineError('InvalidConfig', 'LIFELINE_PITR_SETTINGS is not set');
  return parseInput(PitrSettings, JSON.parse(text), 'LIFELINE_PITR_SETTINGS', 'InvalidConfig');
}

/** The Lambda behind every Lambda state of pitr.asl.json: `event.step` says which. */
export async function handler(event: unknown, context: LambdaContext): Promise<unknown> {
  const settings = settingsFromEnvironment();
  return runPitrStep(event, {
    settings,
    catalog: ssmRestoreCatalog(ssm, { name: settings.deployment, backupStacks: settings.backupStacks }),
    rds,
    secrets,
    executions,
    lambdaRemainingMs: context.getRemainingTimeInMillis(),
    compensation,
  });
}
