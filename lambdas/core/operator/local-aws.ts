import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient, type GetSecretValueCommandOutput } from '@aws-sdk/client-secrets-manager';
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  SFNClient,
  type DescribeExecutionCommandOutput,
  type GetExecutionHistoryCommandInput,
  type GetExecutionHistoryCommandOutput,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { localExecution } from '../workflows/local-executions.js';
import type { ConnectionSettings } from '../postgres/connection.js';
import { LifelineError } from '../errors.js';
import { type RdsSecret } from '../postgres/connection-secrets.js';
import type { LocalSecretStore } from './local-secrets.js';
import { localSeal } from '../workflows/approval.js';
import { runVerifyApprovalStep } from '../workflows/approval-step.js';
import type { LambdaHandler } from '../workflows/local.js';

/**
 * The AWS control planes a local run cannot reach, answering in the real APIs' shapes: the workflow's code
 * runs unchanged, with clients whose requests never leave this process.
 */

const LOCAL_REGION = 'us-east-1';

/**
 * Secrets Manager holding one RDS-style secret per stand-in ARN, and the applications' secret files of `files`
 * (local-secrets.ts); an unknown ARN fails as the real service fails it.
 */
export function localSecretsManager(secrets: ReadonlyMap<string, ConnectionSettings>, files?: LocalSecretStore): SecretsManagerClient {
  const client = new SecretsManagerClient({ region: LOCAL_REGION });
  if (files) {
    // Its own `send` for the files, which answer every command the cutover sends; the middleware below for the rest.
    const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
    const answer = (command: { input: { SecretId?: string } }) =>
      files.has(command.input.SecretId ?? '') ? files.send(command) : send(command);
    Object.assign(client, { send: answer });
  }
  client.middlewareStack.add(
    () => (args) => {
      const secretId = (args.input as { SecretId?: string }).SecretId ?? '';
      const settings = secrets.get(secretId);
      if (!settings) {
        const error = new Error(`Secrets Manager can't find the specified secret.`);
        error.name = 'ResourceNotFoundException';
        return Promise.reject(error);
      }
      const secret: RdsSecret = {
        host: settings.host,
        port: settings.port,
        username: settings.user,
        // A URL without a password (a server with trust authentication) stands as the empty one.
        password: settings.password ?? '',
        dbname: settings.database,
      };
      const output: GetSecretValueCommandOutput = {
        $metadata: { httpStatusCode: 200 },
        ARN: secretId,
        Name: secretId.split(':secret:')[1]?.replace(/-\w{6}$/, ''),
        SecretString: JSON.stringify(secret),
        VersionId: '00000000-0000-0000-0000-000000000000',
        VersionStages: ['AWSCURRENT'],
        CreatedDate: new Date(0),
      };
      // No HTTP response: the request never left this process.
      return Promise.resolve({ output, response: undefined });
    },
    { step: 'initialize', name: 'lifelineLocalSecrets' },
  );
  return client;
}

/** The approval verify function a local run's VerifyApproval states call: it checks the local seal's signatures. */
export const localApprovalVerify: LambdaHandler = (event, context) =>
  runVerifyApprovalStep(event, { seal: localSeal() }, context.getRemainingTimeInMillis());

/** RDS is asked only for secrets without a host; a local secret always has one. */
export function localRds(): RDSClient {
  const client = new RDSClient({ region: LOCAL_REGION });
  client.middlewareStack.add(
    () => () => Promise.reject(new LifelineError('InvalidConfig', 'a local run cannot ask RDS for an endpoint: give the host in the URL')),
    { step: 'initialize', name: 'lifelineLocalRds' },
  );
  return client;
}

/** An event without its input, output and parameters, as GetExecutionHistory gives it with includeExecutionData false. */
function withoutData(event: HistoryEvent): HistoryEvent {
  const data = new Set(['input', 'output', 'parameters']);
  return Object.fromEntries(
    Object.entries(event).map(([key, value]) =>
      value !== null && typeof value === 'object' && !(value instanceof Date)
        ? [key, Object.fromEntries(Object.entries(value as object).filter(([field]) => !data.has(field)))]
        : [key, value],
    ),
  ) as HistoryEvent;
}

/** DescribeExecution or GetExecutionHistory of a local execution, answered from its record. */
function answerFromRecord(command: unknown): unknown {
  const input = (command as { input: GetExecutionHistoryCommandInput }).input;
  const record = localExecution(input.executionArn ?? '');
  if (!record) {
    const message = `Execution Does Not Exist: '${input.executionArn}'`;
    throw new ExecutionDoesNotExist({ message, $metadata: { httpStatusCode: 400 } });
  }
  const $metadata = { httpStatusCode: 200 };
  if (command instanceof DescribeExecutionCommand) {
    const output: DescribeExecutionCommandOutput = {
      $metadata,
      executionArn: record.executionArn,
      stateMachineArn: record.stateMachineArn,
      name: record.executionArn.split(':').at(-1),
      status: record.status as DescribeExecutionCommandOutput['status'],
      startDate: record.startDate,
      ...(record.stopDate ? { stopDate: record.stopDate } : {}),
      input: record.input,
      inputDetails: { included: true },
    };
    return output;
  }
  if (!(command instanceof GetExecutionHistoryCommand))
    throw new LifelineError('InvalidConfig', 'a local run answers DescribeExecution and GetExecutionHistory only');
  const size = input.maxResults || 100;
  const ordered = input.reverseOrder ? [...record.events].reverse() : record.events;
  const from = Number(input.nextToken ?? 0);
  const page = ordered.slice(from, from + size).map((event) => (input.includeExecutionData === false ? withoutData(event) : event));
  const output: GetExecutionHistoryCommandOutput = {
    $metadata,
    events: page,
    ...(from + size < ordered.length ? { nextToken: String(from + size) } : {}),
  };
  return output;
}

/**
 * Step Functions as the local engine knows its executions (workflows/local-executions.ts): DescribeExecution and
 * GetExecutionHistory of an execution this process runs, in the real API's shapes (pages of `maxResults`, 100 by
 * default; `reverseOrder`; data only with `includeExecutionData`); any other is ExecutionDoesNotExist, as Step
 * Functions answers for one it does not know. The client answers itself: its requests never leave this process.
 */
export function localStepFunctions(): SFNClient {
  const client = new SFNClient({ region: LOCAL_REGION });
  // Its own `send`: a test's aws-sdk-client-mock, which stubs SFNClient's prototype, does not answer for it.
  const send = (command: unknown) => new Promise((resolve) => resolve(answerFromRecord(command)));
  return Object.assign(client, { send });
}
