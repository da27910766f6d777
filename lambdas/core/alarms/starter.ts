import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { ExecutionAlreadyExists, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { BackupRequest } from '../backup/request.js';
import { LifelineError } from '../errors.js';
import { backupFunctionName } from '../names.js';
import { PitrInput } from '../pitr/input.js';
import { RestoreInput } from '../restore/input.js';
import { parseInput } from '../validation.js';
import { claimRun, markStarted } from './cooldown.js';
import { routeFor, type AlarmAction, type AlarmRoute, type AlarmStarterSettings } from './routes.js';
import { alarmExecutionName, AlarmStateChange, transitionIntoAlarm, type AlarmTransition } from './transition.js';

export interface AlarmStarterClients {
  dynamodb: DynamoDBClient;
  sfn: SFNClient;
  lambda: LambdaClient;
  now?: () => Date;
}

/** What one delivery of an alarm event did. */
export type AlarmRunOutcome =
  | { outcome: 'ignored'; alarmName: string; reason: string }
  | { outcome: 'cooling-down'; alarmName: string; database: string; action: AlarmAction; until: string; startedBy: string }
  | { outcome: 'started' | 'already-started'; alarmName: string; database: string; action: AlarmAction; run: string };

/** The input a `prepare-*` run starts with: the restore point is the alarm's transition less the look back. */
export function workflowInput(route: AlarmRoute, transition: AlarmTransition): RestoreInput | PitrInput {
  const at = new Date(transition.changedAt.getTime() - route.lookbackMinutes * 60_000).toISOString();
  const cutover = route.cutover === undefined ? {} : { cutover: route.cutover };
  return route.action === 'prepare-pitr'
    ? parseInput(PitrInput, { database: route.database, restorePoint: at, ...cutover }, 'PITR input')
    : // Without a cutover, a restore would keep its copy unasked: an alarm's run always stops at a human's yes or no.
      parseInput(
        RestoreInput,
        { database: route.database, at, ...(route.cutover === undefined ? { askApproval: true } : cutover) },
        'restore input',
      );
}

/** The backup request of a `backup` run: trigger `alarm`, with the alarm and its transition for the manifest. */
export function alarmBackupRequest(transition: AlarmTransition): BackupRequest {
  return parseInput(
    BackupRequest,
    { trigger: 'alarm', alarm: { name: transition.alarmName, changedAt: transition.changedAt.toISOString() } },
    'backup request',
  );
}

/**
 * Starts the run a CloudWatch alarm's transition into ALARM asks for (its route), once per transition: the run is
 * named after the transition (alarmExecutionName), a workflow's StartExecution answering ExecutionAlreadyExists is
 * a run already started, and the cool-down table (cooldown.ts) both holds back a flapping alarm and remembers the
 * backups it asked for. Anything but a configured alarm's transition into ALARM is ignored.
 */
export async function startAlarmRun(
  event: unknown,
  settings: AlarmStarterSettings,
  clients: AlarmStarterClients,
): Promise<AlarmRunOutcome> {
  const change = parseInput(AlarmStateChange, event, 'alarm state change event');
  const { alarmName } = change.detail;
  const transition = transitionIntoAlarm(change);
  if (transition === undefined) {
    const { state, previousState } = change.detail;
    return { outcome: 'ignored', alarmName, reason: `${previousState.value} to ${state.value} is no transition into ALARM` };
  }
  const route = routeFor(settings, alarmName);
  if (route === undefined) return { outcome: 'ignored', alarmName, reason: 'no database configures this alarm' };

  const { database, action } = route;
  // Made before anything is claimed: a run that cannot start holds nothing back.
  const request = runRequest(settings, route, transition);
  const run = alarmExecutionName(transition);
  const table = { dynamodb: clients.dynamodb, tableName: settings.cooldownTable, now: clients.now ?? (() => new Date()) };
  const claim = await claimRun(table, { database, action, transition: run, changedAt: transition.changedAt });
  switch (claim.kind) {
    case 'cooling-down':
      return { outcome: 'cooling-down', alarmName, database, action, until: claim.until.toISOString(), startedBy: claim.transition };
    case 'started':
      return { outcome: 'already-started', alarmName, database, action, run };
    case 'in-progress':
      // A workflow's StartExecution is idempotent by name; a backup's invocation is not: thrown so that Lambda tries
      // the event again, by when the other starter has finished (or died, and its claim is stale).
      if ('functionName' in request) {
        throw new LifelineError('AlarmRunInProgress', `another delivery of ${run} is starting its backup of ${database}`);
      }
      break;
    case 'claimed':
      break;
  }
  const started = await startRun(request, run, clients);
  await markStarted(table, { database, action, transition: run });
  return { outcome: started ? 'started' : 'already-started', alarmName, database, action, run };
}

/** What a route's run is: the backup function's asynchronous invocation, or a workflow's execution. */
type RunRequest = { functionName: string; payload: BackupRequest } | { stateMachineArn: string; input: RestoreInput | PitrInput };

function runRequest(settings: AlarmStarterSettings, route: AlarmRoute, transition: AlarmTransition): RunRequest {
  if (route.action === 'backup') {
    return { functionName: backupFunctionName(settings.deployment, route.database), payload: alarmBackupRequest(transition) };
  }
  const pitr = route.action === 'prepare-pitr';
  const stateMachineArn = pitr ? settings.pitrStateMachineArn : settings.restoreStateMachineArn;
  if (stateMachineArn === undefined) {
    throw new LifelineError(
      'InvalidConfig',
      `${route.alarmName}: ${route.action} needs the ${pitr ? 'PITR' : 'restore'} workflow, which this deployment has not`,
    );
  }
  return { stateMachineArn, input: workflowInput(route, transition) };
}

/**
 * The backup function invoked asynchronously (it runs up to 15 minutes, with Lambda's own retries), or the workflow's
 * StartExecution named after the transition; false when that execution exists already.
 */
async function startRun(request: RunRequest, name: string, clients: AlarmStarterClients): Promise<boolean> {
  if ('functionName' in request) {
    await clients.lambda.send(
      new InvokeCommand({
        FunctionName: request.functionName,
        InvocationType: 'Event',
        Payload: Buffer.from(JSON.stringify(request.payload)),
      }),
    );
    return true;
  }
  try {
    await clients.sfn.send(
      new StartExecutionCommand({ stateMachineArn: request.stateMachineArn, name, input: JSON.stringify(request.input) }),
    );
    return true;
  } catch (error) {
    if (error instanceof ExecutionAlreadyExists) return false;
    throw error;
  }
}
