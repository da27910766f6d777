import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { LifelineError } from '../core/errors.js';
import { createS3Client } from '../core/s3.js';
import { fromRdsSecret } from '../core/connection.js';
import { readSecretString } from '../core/secrets.js';
import { parseInput } from '../core/validation.js';
import { RestoreSettings } from '../core/workflows/restore-state.js';
import { runRestoreStep } from '../core/workflows/restore-steps.js';

const s3 = createS3Client();
const secrets = new SecretsManagerClient({});

function settingsFromEnvironment(): RestoreSettings {
  const text = process.env.LIFELINE_RESTORE_SETTINGS;
  if (!text) throw new LifelineError('InvalidConfig', 'LIFELINE_RESTORE_SETTINGS is not set');
  return parseInput(RestoreSettings, JSON.parse(text), 'LIFELINE_RESTORE_SETTINGS', 'InvalidConfig');
}

/** The Lambda behind every Lambda state of restore.asl.json: `event.step` says which. */
export async function handler(event: unknown): Promise<unknown> {
  return runRestoreStep(event, {
    settings: settingsFromEnvironment(),
    s3,
    // Each step names the database it connects to; "postgres" only fills in for secrets without a dbname.
    connection: async (secretArn) =>
      fromRdsSecret(await readSecretString(secrets, secretArn), { database: 'postgres', sslRootCert: process.env.PGSSLROOTCERT }),
  });
}
