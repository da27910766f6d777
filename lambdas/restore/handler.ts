import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { LambdaContext } from '../core/deadline.js';
import { LifelineError } from '../core/errors.js';
import { createS3Client } from '../core/vault/s3.js';
import { DATABASE_DIMENSION, METRICS_NAMESPACE, RESTORE_METRICS, SERVICE_NAMES } from '../core/telemetry.js';
import { parseInput } from '../core/validation.js';
import { ssmRestoreCatalog } from '../core/restore/catalog.js';
import { RestoreSettings } from '../core/restore/state.js';
import { runRestoreStep } from '../core/restore/steps.js';
import { tableCheckLog } from '../core/restore/validation.js';
import { ALARM_TOPIC_VARIABLE, publishNotices } from '../core/workflows/compensation.js';
import { executionStatusLookup } from '../core/workflows/execution-history.js';

const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAMES.restore });
const logger = new Logger({ serviceName: SERVICE_NAMES.restore });
const logTableChecks = tableCheckLog(
  (line) => logger.info('validation tables', line),
  `CloudWatch Logs ${process.env.AWS_LAMBDA_LOG_GROUP_NAME ?? 'of the restore steps function'}`,
);
const s3 = createS3Client();
const secrets = new SecretsManagerClient({});
const ssm = new SSMClient({});
// Fail fast where the subnets have no route to the RDS API, rather than hang until Lambda's limit.
const rds = new RDSClient({ requestHandler: { connectionTimeout: 5_000, requestTimeout: 15_000 } });
// Only the steps function outside any VPC compensates executions (EventBridge targets it): the stack gives it the topic.
const alarmTopicArn = process.env[ALARM_TOPIC_VARIABLE];
const compensation = alarmTopicArn
  ? { stepFunctions: new SFNClient({}), lambda: new LambdaClient({}), notify: publishNotices(new SNSClient({}), alarmTopicArn) }
  : undefined;

// Whether the execution a target's mark names still runs (CreateTarget asks only when a name bears another's mark).
// In a VPC without a route to Step Functions it fails fast, and the mark holds.
const describer = new SFNClient({ requestHandler: { connectionTimeout: 5_000, requestTimeout: 10_000 } });
const executions = executionStatusLookup(describer);

function settingsFromEnvironment(): RestoreSettings {
  const text = process.env.LIFELINE_RESTORE_SETTINGS;
  if (!text) throw new LifelineError('InvalidConfig', 'LIFELINE_RESTORE_SETTINGS is not set');
  return parseInput(RestoreSettings, JSON.parse(text), 'LIFELINE_RESTORE_SETTINGS', 'InvalidConfig');
}

/** The Lambda behind every Lambda state of restore.asl.json: `event.step` says which. */
export async function handler(event: unknown, context: LambdaContext): Promise<unknown> {
  try {
    const settings = settingsFromEnvironment();
    return await runRestoreStep(event, {
      settings,
      catalog: ssmRestoreCatalog(ssm, { name: settings.deployment, backupStacks: settings.backupStacks }),
      s3,
      secrets,
      rds,
      logTableChecks,
      executions,
      lambdaRemainingMs: context.getRemainingTimeInMillis(),
      compensation,
      recordMetric: (database, name, value) => {
        metrics.addDimension(DATABASE_DIMENSION, database);
        metrics.addMetric(name, RESTORE_METRICS[name], value);
      },
    });
  } finally {
    // Only Summarize and Cleanup count an outcome; the other steps have nothing to publish.
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}
