import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SFNClient } from '@aws-sdk/client-sfn';
import { ALARM_STARTER_SETTINGS_VARIABLE, AlarmStarterSettings } from '../core/alarms/routes.js';
import { startAlarmRun, type AlarmRunOutcome } from '../core/alarms/starter.js';
import { LifelineError } from '../core/errors.js';
import { parseInput } from '../core/validation.js';

const logger = new Logger({ serviceName: 'lifeline-alarm-runs' });
const clients = { dynamodb: new DynamoDBClient({}), sfn: new SFNClient({}), lambda: new LambdaClient({}) };

function settingsFromEnvironment(): AlarmStarterSettings {
  const text = process.env[ALARM_STARTER_SETTINGS_VARIABLE];
  if (!text) throw new LifelineError('InvalidConfig', `${ALARM_STARTER_SETTINGS_VARIABLE} is not set`);
  return parseInput(AlarmStarterSettings, JSON.parse(text), ALARM_STARTER_SETTINGS_VARIABLE, 'InvalidConfig');
}

/** Starts what a configured CloudWatch alarm's transition into ALARM asks for; EventBridge delivers the event. */
export async function handler(event: unknown): Promise<AlarmRunOutcome> {
  const outcome = await startAlarmRun(event, settingsFromEnvironment(), clients);
  logger.info('alarm event handled', { ...outcome });
  return outcome;
}
