import { Metrics } from '@aws-lambda-powertools/metrics';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { LambdaContext } from '../core/deadline.js';
import { DrillSettings, runDrillStep } from '../core/drill/steps.js';
import { LifelineError } from '../core/errors.js';
import { ssmRestoreCatalog } from '../core/restore/catalog.js';
import { DATABASE_DIMENSION, DRILL_METRICS, METRICS_NAMESPACE, SERVICE_NAMES } from '../core/telemetry.js';
import { parseInput } from '../core/validation.js';
import { createS3Client } from '../core/vault/s3.js';

const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAMES.drill });
const s3 = createS3Client();
const ssm = new SSMClient({});

/** The settings the drill stack passes in LIFELINE_DRILL_SETTINGS. */
export const DRILL_SETTINGS_VARIABLE = 'LIFELINE_DRILL_SETTINGS';

function settingsFromEnvironment(): DrillSettings {
  const text = process.env[DRILL_SETTINGS_VARIABLE];
  if (!text) throw new LifelineError('InvalidConfig', `${DRILL_SETTINGS_VARIABLE} is not set`);
  return parseInput(DrillSettings, JSON.parse(text), DRILL_SETTINGS_VARIABLE, 'InvalidConfig');
}

/** The Lambda behind drill.asl.json's ValidateInput and Conclude, and the daily freshness check: `event.step` says which. */
export async function handler(event: unknown, context: LambdaContext): Promise<unknown> {
  try {
    const settings = settingsFromEnvironment();
    return await runDrillStep(event, {
      settings,
      catalog: ssmRestoreCatalog(ssm, { name: settings.deployment, backupStacks: settings.backupStacks }),
      s3,
      lambdaRemainingMs: context.getRemainingTimeInMillis(),
      recordMetric: (database, name, value) => {
        metrics.addDimension(DATABASE_DIMENSION, database);
        metrics.addMetric(name, DRILL_METRICS[name], value);
      },
    });
  } finally {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}
