import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { LifelineError } from '../errors.js';
import { parseInput } from '../validation.js';
import {
  inProcessTask,
  runLocalExecution,
  type CallbackAnswer,
  type CallbackRequest,
  type LocalExecutionResult,
  type Notification,
} from '../workflows/local.js';
import { runnerExitCode } from '../exit-codes.js';
import { fixedRestoreCatalog, RestoreDatabase } from '../restore/catalog.js';
import { RestoreSettings } from '../restore/state.js';
import { runRestoreStep, type RestoreStepDeps } from '../restore/steps.js';
import { runnerEnvironment } from '../runner/environment.js';
import { localApprovalVerify, localRds, localStepFunctions } from './local-aws.js';
import { localExecutionStatus } from '../workflows/local-executions.js';
import { cleanUpAfterDeadRuns, type CleanupReport } from './cleanup.js';
import { restoreFromEnvironment } from '../runner/restore.js';
import {
  databaseSecrets,
  definitionFile,
  LOCAL_CUTOVER_STATE_MACHINE,
  localControlPlanes,
  localCutoverStateMachine,
  localWorkloads,
} from './local-cutover.js';
import type { LocalWorkloads } from './local-workloads.js';
import {
  connectionOf,
  LOCAL_APPROVAL_VERIFY_FUNCTION,
  localArn,
  localSecretArn,
  localServers,
  type LocalRestoreSettings,
} from './local-settings.js';

export { LocalRestoreSettings, localSecretArn, localServers, readJsonFile, readLocalRestoreSettings } from './local-settings.js';

/**
 * `lifeline run restore --local`: the deployed restore.asl.json run on this machine, a rehearsal of the
 * cloud runbook. What the deployment gets from its config and Secrets Manager, a local run gets from a
 * settings file that names each database and application with a connection URL.
 */

const STEPS_FUNCTION = localArn('lambda', 'function:lifeline-local-restore-steps');
const SUBSTITUTIONS = {
  RestoreStepsFunctionArn: STEPS_FUNCTION,
  RunnerClusterArn: localArn('ecs', 'cluster/lifeline-local'),
  ApprovalsTopicArn: localArn('sns', 'lifeline-local-approvals'),
  NotificationsTopicArn: localArn('sns', 'lifeline-local-notifications'),
  CutoverStateMachineArn: LOCAL_CUTOVER_STATE_MACHINE,
  ApprovalVerifyFunctionArn: LOCAL_APPROVAL_VERIFY_FUNCTION,
};

/**
 * The deployment's view of a local settings file: stand-in secret ARNs, Secrets Manager answering them with the URLs
 * and the applications' secret files, and the control planes a cutover of its applications acts on.
 */
function deployment(local: LocalRestoreSettings, workloads: LocalWorkloads) {
  const secrets = databaseSecrets(local);
  const databases = local.databases.map((d) => {
    const secretArn = localSecretArn('database', d.name);
    const { host, port, database } = secrets.get(secretArn)!;
    return {
      name: d.name,
      secretArn,
      host,
      port,
      databaseName: database,
      rds: { instanceIdentifier: d.name },
      network: 'local',
      stepsFunctionArn: STEPS_FUNCTION,
      runner: { taskDefinition: 'lifeline-local-runner', subnetIds: ['subnet-local'], securityGroupIds: ['sg-local'] },
      applications: local.applications.flatMap((a, i) => {
        if (a.database !== d.name) return [];
        const connectionSecretArn = localSecretArn('application', a.name);
        if (a.url !== undefined) secrets.set(connectionSecretArn, connectionOf(a.url, `applications[${i}].url`));
        return [{ name: a.name, connectionSecretArn }];
      }),
    };
  });
  const settings = parseInput(
    RestoreSettings,
    {
      deployment: 'lifeline-local',
      backupStacks: 1,
      bucket: local.bucket,
      approvalTimeoutSeconds: local.approvalTimeoutSeconds,
      runnerVcpus: local.jobs,
    },
    'local settings',
  );
  const catalog = fixedRestoreCatalog(parseInput(z.array(RestoreDatabase), databases, 'local settings'));
  const planes = localControlPlanes(local, secrets, workloads);
  return { settings, catalog, planes };
}

export interface LocalRestoreOptions {
  input: unknown;
  settings: LocalRestoreSettings;
  s3: S3Client;
  /** Where the runner stages the archive (the OS temp directory by default). */
  stagingDir: string;
  /** The approval request's answer: given on the command line, or asked on the terminal. */
  answer: (request: CallbackRequest) => Promise<CallbackAnswer>;
  notify: (notification: Notification) => void;
  onStateEntered?: (state: string) => void;
  /** Keeps every table's check of the validation, as the deployed steps function logs them. */
  logTableChecks?: RestoreStepDeps['logTableChecks'];
  /** What the run removed, before it started, of what runs that died left (operator/cleanup.ts), and what it kept. */
  onCleanedUp?: (report: CleanupReport) => void;
  signal?: AbortSignal;
  /** The applications' processes, when the caller manages them (the demo, whose application ends with it); else the run's own. */
  workloads?: LocalWorkloads;
}

/** Runs restore.asl.json on this machine: the steps handler and the runner in-process, SNS printed, the approval asked. */
export async function runRestoreLocally(options: LocalRestoreOptions): Promise<LocalExecutionResult> {
  const workloads = options.workloads ?? localWorkloads(options.settings);
  const { settings, catalog, planes } = deployment(options.settings, workloads);
  const { secrets } = planes;
  // An application a local cutover cannot restart or prove healthy is refused before the restore creates anything.
  const { cutover } = (options.input ?? {}) as { cutover?: unknown };
  if (typeof cutover === 'string' && !planes.cutover.applications.some((a) => a.name === cutover)) {
    throw new LifelineError(
      'InvalidInput',
      `cutover: a local run cannot switch ${JSON.stringify(cutover)}: the local settings give it no secretFile, start and healthCheck (what stands in for its secret, its workloads and its health check here); add them, or leave "cutover" out to rehearse the restore only; nothing was created`,
    );
  }
  // A run killed midway left its staging directory and the database its execution created: removed first.
  const cleaned = await cleanUpAfterDeadRuns({ stagingDir: options.stagingDir, servers: localServers(options.settings) });
  options.onCleanedUp?.(cleaned);
  const steps = {
    settings,
    catalog,
    s3: options.s3,
    secrets,
    rds: localRds(),
    logTableChecks: options.logTableChecks,
    // A mark of a local run whose process has ended does not hold its database's name.
    executions: localExecutionStatus,
  };
  try {
    return await runLocalExecution({
      definitionFile: definitionFile('restore'),
      substitutions: SUBSTITUTIONS,
      input: options.input,
      functions: {
        [STEPS_FUNCTION]: (event, context) => runRestoreStep(event, { ...steps, lambdaRemainingMs: context.getRemainingTimeInMillis() }),
        [LOCAL_APPROVAL_VERIFY_FUNCTION]: localApprovalVerify,
      },
      tasks: {
        // The runner container's environment: the task definition's, plus the state machine's override.
        RunRestore: inProcessTask(async (override) => {
          const env = { ...runnerEnvironment({ bucket: settings.bucket, stagingDir: options.stagingDir }), ...override };
          await restoreFromEnvironment(env, { s3: options.s3, secrets, sfn: localStepFunctions(), signal: options.signal });
        }, runnerExitCode),
        // Local settings configure no migrations, so validateInput never asks for them.
        RunMigrations: () => Promise.reject(new LifelineError('InvalidConfig', 'local runs have no migrations task')),
      },
      // The restore's `cutover` hands over to cutover.asl.json, run here too against the settings' applications.
      stateMachines: { [LOCAL_CUTOVER_STATE_MACHINE]: localCutoverStateMachine(planes) },
      notify: options.notify,
      answer: options.answer,
      onStateEntered: options.onStateEntered,
    });
  } finally {
    // The caller's workloads are the caller's to close.
    if (!options.workloads) await workloads.close();
  }
}
