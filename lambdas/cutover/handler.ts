import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { LambdaContext } from '../core/deadline.js';
import { LifelineError } from '../core/errors.js';
import { parseInput } from '../core/validation.js';
import { CutoverSettings } from '../core/cutover/state.js';
import { runCutoverStep } from '../core/cutover/steps.js';
import { LOCK_TABLE_VARIABLE } from '../core/cutover/compensation.js';
import { ALARM_TOPIC_VARIABLE, publishNotices } from '../core/workflows/compensation.js';

const clients = { secrets: new SecretsManagerClient({}), ecs: new ECSClient({}), lambda: new LambdaClient({}), ssm: new SSMClient({}) };
// ValidateInput's: where a configured server without `host` listens, and the execution that handed over an approval.
const lookups = { rds: new RDSClient({}), stepFunctions: new SFNClient({}) };
// For the executions EventBridge reports stopped, timed out or failed: the stack names the lock table and the topic.
const lockTable = process.env[LOCK_TABLE_VARIABLE];
const alarmTopicArn = process.env[ALARM_TOPIC_VARIABLE];
const compensation =
  lockTable && alarmTopicArn
    ? {
        stepFunctions: new SFNClient({}),
        dynamodb: new DynamoDBClient({}),
        lockTable,
        notify: publishNotices(new SNSClient({}), alarmTopicArn),
      }
    : undefined;

function settingsFromEnvironment(): CutoverSettings {
  const text = process.env.LIFELINE_CUTOVER_SETTINGS;
  if (!text) throw new LifelineError('InvalidConfig', 'LIFELINE_CUTOVER_SETTINGS is not set');
  return parseInput(CutoverSettings, JSON.parse(text), 'LIFELINE_CUTOVER_SETTINGS', 'InvalidConfig');
}

/** The Lambda behind every Lambda state of cutover.asl.json: `event.step` says which. */
export async function handler(event: unknown, context: LambdaContext): Promise<unknown> {
  return runCutoverStep(event, {
    settings: settingsFromEnvironment(),
    ...clients,
    ...lookups,
    sslRootCert: process.env.PGSSLROOTCERT,
    lambdaRemainingMs: context.getRemainingTimeInMillis(),
    compensation,
  });
}
