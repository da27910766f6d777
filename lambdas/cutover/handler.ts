import { ECSClient } from '@aws-sdk/client-ecs';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { LifelineError } from '../core/errors.js';
import { parseInput } from '../core/validation.js';
import { CutoverSettings } from '../core/cutover/state.js';
import { runCutoverStep } from '../core/cutover/steps.js';

const clients = { secrets: new SecretsManagerClient({}), ecs: new ECSClient({}), lambda: new LambdaClient({}), ssm: new SSMClient({}) };

function settingsFromEnvironment(): CutoverSettings {
  const text = process.env.LIFELINE_CUTOVER_SETTINGS;
  if (!text) throw new LifelineError('InvalidConfig', 'LIFELINE_CUTOVER_SETTINGS is not set');
  return parseInput(CutoverSettings, JSON.parse(text), 'LIFELINE_CUTOVER_SETTINGS', 'InvalidConfig');
}

/** The Lambda behind every Lambda state of cutover.asl.json: `event.step` says which. */
export async function handler(event: unknown): Promise<unknown> {
  return runCutoverStep(event, { settings: settingsFromEnvironment(), ...clients, sslRootCert: process.env.PGSSLROOTCERT });
}
