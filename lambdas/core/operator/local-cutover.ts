import { LambdaClient } from '@aws-sdk/client-lambda';
import { SSMClient } from '@aws-sdk/client-ssm';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CutoverSettings } from '../cutover/state.js';
import { runCutoverStep } from '../cutover/steps.js';
import { LifelineError } from '../errors.js';
import type { ConnectionSettings } from '../postgres/connection.js';
import { parseInput } from '../validation.js';
import {
  runLocalExecution,
  type CallbackAnswer,
  type CallbackRequest,
  type LocalExecutionResult,
  type LocalStateMachine,
  type Notification,
} from '../workflows/local.js';
import { LOCAL_STATE_MACHINE } from '../workflows/local-executions.js';
import { localApprovalVerify, localRds, localSecretsManager, localStepFunctions } from './local-aws.js';
import { LocalLock } from './local-lock.js';
import { LocalSecretStore } from './local-secrets.js';
import {
  connectionOf,
  LOCAL_APPROVAL_VERIFY_FUNCTION,
  localArn,
  localSecretArn,
  settingsDirectory,
  settingsPath,
  stateDirectoryOf,
  type LocalApplication,
  type LocalRestoreSettings,
} from './local-settings.js';
import { LOCAL_CLUSTER, LocalWorkloads, type LocalWorkloadsOptions } from './local-workloads.js';

/**
 * `lifeline run cutover --local`, and the cutover a local restore hands over to: the deployed cutover.asl.json run on
 * this machine against the local control planes of the settings file's applications: their secret files
 * (local-secrets.ts), their processes (local-workloads.ts) and a lock file each (local-lock.ts).
 */

/** A state machine's .asl.json, from the source tree (tsx) or beside dist/ (the compiled CLI). */
export function definitionFile(name: 'restore' | 'cutover'): string {
  for (const up of ['../../..', '../../../..']) {
    const file = fileURLToPath(new URL(`${up}/state-machines/${name}.asl.json`, import.meta.url));
    if (existsSync(file)) return file;
  }
  throw new LifelineError('InvalidConfig', `state-machines/${name}.asl.json is not installed with this lifeline`);
}

export const LOCAL_CUTOVER_STATE_MACHINE = localArn('states', 'stateMachine:lifeline-local-cutover');
const STEPS_FUNCTION = localArn('lambda', 'function:lifeline-local-cutover-steps');
const SUBSTITUTIONS = {
  CutoverStepsFunctionArn: STEPS_FUNCTION,
  LockTableName: 'lifeline-local-cutover-locks',
  NotificationsTopicArn: localArn('sns', 'lifeline-local-notifications'),
  AlarmTopicArn: localArn('sns', 'lifeline-local-alarms'),
  ApprovalVerifyFunctionArn: LOCAL_APPROVAL_VERIFY_FUNCTION,
};

/** A service no local run has: asked anyway, it fails naming why. */
function refusing<T extends LambdaClient | SSMClient>(client: T, why: string): T {
  client.middlewareStack.add(() => () => Promise.reject(new LifelineError('InvalidConfig', why)), {
    step: 'initialize',
    name: 'lifelineLocalRefusal',
  });
  return client;
}

/** The applications a cutover may switch: those with a secret file, a start command and a health check. */
const switchable = (local: LocalRestoreSettings) =>
  local.applications.filter((a): a is LocalApplication & Required<Pick<LocalApplication, 'secretFile' | 'start' | 'healthCheck'>> =>
    Boolean(a.secretFile && a.start && a.healthCheck),
  );

/** What the cutover's steps and lock act on, for a settings file: the same clients the AWS ones are, answered here. */
export interface LocalControlPlanes {
  /** The databases' URLs and the applications' secret files, as Secrets Manager. */
  secrets: ReturnType<typeof localSecretsManager>;
  workloads: LocalWorkloads;
  lock: LocalLock;
  /** The cutover steps' settings, as the stack would write them for these applications and servers. */
  cutover: CutoverSettings;
}

/** The processes of a settings file's applications that a cutover may switch. */
export function localWorkloads(local: LocalRestoreSettings, options?: LocalWorkloadsOptions): LocalWorkloads {
  return new LocalWorkloads(
    switchable(local).map((a) => ({
      name: a.name,
      start: a.start,
      directory: settingsDirectory(local),
      healthUrl: a.healthCheck.url,
      secretFile: settingsPath(local, a.secretFile),
    })),
    stateDirectoryOf(local),
    options,
  );
}

/** The control planes of a settings file; `workloads`, when given, are its applications' processes as their owner manages them. */
export function localControlPlanes(
  local: LocalRestoreSettings,
  databaseSecrets: ReadonlyMap<string, ConnectionSettings>,
  workloads = localWorkloads(local),
): LocalControlPlanes {
  const stateDirectory = stateDirectoryOf(local);
  const applications = switchable(local);
  const files = new LocalSecretStore(
    local.applications.flatMap((a) =>
      a.secretFile ? [{ arn: localSecretArn('application', a.name), file: settingsPath(local, a.secretFile) }] : [],
    ),
    stateDirectory,
  );
  const cutover = parseInput(
    CutoverSettings,
    {
      // A local process starts in seconds: polled every second, failed after two minutes.
      deployment: { pollSeconds: 1, timeoutSeconds: 120 },
      applications: applications.map((a) => ({
        name: a.name,
        connectionSecretArn: localSecretArn('application', a.name),
        ecsServices: [{ cluster: LOCAL_CLUSTER, service: a.name }],
        freeze: a.freeze ?? { mode: 'none' },
        healthCheck: a.healthCheck,
      })),
      servers: local.databases.map((d, i) => {
        const { host, port } = connectionOf(d.url, `databases[${i}].url`);
        return { name: d.name, secretArn: localSecretArn('database', d.name), host, port, rds: { instanceIdentifier: d.name } };
      }),
    },
    'local settings',
    'InvalidConfig',
  );
  return { secrets: localSecretsManager(databaseSecrets, files), workloads, lock: new LocalLock(stateDirectory), cutover };
}

/** The databases' admin URLs as the secrets the cutover settings name their servers by. */
export function databaseSecrets(local: LocalRestoreSettings): Map<string, ConnectionSettings> {
  return new Map(local.databases.map((d, i) => [localSecretArn('database', d.name), connectionOf(d.url, `databases[${i}].url`)]));
}

/** cutover.asl.json as deployed for these control planes: its steps function in-process, its lock states on the lock files. */
export function localCutoverStateMachine(planes: LocalControlPlanes): LocalStateMachine {
  const deps = {
    settings: planes.cutover,
    secrets: planes.secrets,
    ecs: planes.workloads.ecs(),
    lambda: refusing(new LambdaClient({ region: 'us-east-1' }), 'a local cutover restarts local processes, not Lambda functions'),
    ssm: refusing(new SSMClient({ region: 'us-east-1' }), 'a local cutover has no Parameter Store: use freeze read-only-source or none'),
    rds: localRds(),
    // A local restore hands over its approval: the cutover finds it in that execution's history, as in AWS.
    stepFunctions: localStepFunctions(),
    handOverStateMachines: { restore: [LOCAL_STATE_MACHINE], pitr: [] },
  };
  return {
    definitionFile: definitionFile('cutover'),
    substitutions: SUBSTITUTIONS,
    functions: {
      [STEPS_FUNCTION]: (event, context) => runCutoverStep(event, { ...deps, lambdaRemainingMs: context.getRemainingTimeInMillis() }),
      [LOCAL_APPROVAL_VERIFY_FUNCTION]: localApprovalVerify,
    },
    tasks: planes.lock.tasks(),
  };
}

export interface LocalCutoverOptions {
  input: unknown;
  settings: LocalRestoreSettings;
  /** The approval request's answer: given on the command line, or asked on the terminal. */
  answer: (request: CallbackRequest) => Promise<CallbackAnswer>;
  notify: (notification: Notification) => void;
  onStateEntered?: (state: string) => void;
}

/** Runs cutover.asl.json on this machine, switching a settings file's application between its databases. */
export async function runCutoverLocally(options: LocalCutoverOptions): Promise<LocalExecutionResult> {
  const planes = localControlPlanes(options.settings, databaseSecrets(options.settings));
  try {
    return await runLocalExecution({
      ...localCutoverStateMachine(planes),
      input: options.input,
      notify: options.notify,
      answer: options.answer,
      onStateEntered: options.onStateEntered,
    });
  } finally {
    await planes.workloads.close();
  }
}
