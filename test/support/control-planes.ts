import { CreateTableCommand, DeleteItemCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import {
  DescribeServicesCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTaskDefinitionsCommand,
  ListTasksCommand,
  UpdateServiceCommand,
  type Deployment,
  type Service,
  type Task,
} from '@aws-sdk/client-ecs';
import {
  GetAliasCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  ListVersionsByFunctionCommand,
  PreconditionFailedException,
  ResourceNotFoundException as LambdaNotFound,
  UpdateAliasCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidParameterException,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import {
  DeleteParameterCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { randomBytes, randomUUID } from 'node:crypto';

/**
 * Stand-ins for the AWS control planes cutover drives, answering in the real APIs' shapes and keeping their
 * state as the services do: Secrets Manager's versions and staging labels, ECS services and their
 * deployments' rollout states, Lambda configurations and revisions, SSM parameters. DynamoDB is not here:
 * the lock runs against a real DynamoDB-compatible server (dynalite).
 */

const metadata = { $metadata: {} };

interface SecretVersionState {
  value: string;
  stages: Set<string>;
  created: Date;
}

/** Secrets Manager: versions with staging labels, moved as PutSecretValue and UpdateSecretVersionStage move them. */
export class FakeSecretsManager {
  readonly mock = mockClient(SecretsManagerClient);
  private readonly secrets = new Map<string, { name: string; versions: Map<string, SecretVersionState> }>();
  /** Every PutSecretValue and UpdateSecretVersionStage, in order. */
  readonly writes: { action: string; secretId: string }[] = [];

  constructor() {
    this.mock.on(GetSecretValueCommand).callsFake(({ SecretId, VersionId, VersionStage }) => {
      const secret = this.secret(SecretId);
      const id = VersionId ?? this.versionWith(SecretId, VersionStage ?? 'AWSCURRENT');
      const version = id === undefined ? undefined : secret.versions.get(id);
      if (!version || id === undefined) {
        throw new ResourceNotFoundException({ ...metadata, message: "Secrets Manager can't find the specified secret value." });
      }
      return {
        ARN: SecretId,
        Name: secret.name,
        VersionId: id,
        SecretString: version.value,
        VersionStages: [...version.stages],
        CreatedDate: version.created,
      };
    });
    this.mock.on(DescribeSecretCommand).callsFake(({ SecretId }) => {
      const secret = this.secret(SecretId);
      return {
        ARN: SecretId,
        Name: secret.name,
        VersionIdsToStages: Object.fromEntries(
          [...secret.versions].filter(([, v]) => v.stages.size > 0).map(([id, v]) => [id, [...v.stages]]),
        ),
      };
    });
    this.mock.on(PutSecretValueCommand).callsFake(({ SecretId, SecretString, ClientRequestToken, VersionStages }) => {
      const secret = this.secret(SecretId);
      this.writes.push({ action: 'PutSecretValue', secretId: SecretId });
      const id = ClientRequestToken ?? randomUUID();
      const existing = secret.versions.get(id);
      if (existing) {
        // Idempotent: the same token with the same value is the same request.
        if (existing.value !== SecretString) {
          throw new ResourceExistsException({
            ...metadata,
            message: 'You can’t modify an existing version, you can only create a new version.',
          });
        }
        return { ARN: SecretId, Name: secret.name, VersionId: id, VersionStages: [...existing.stages] };
      }
      secret.versions.set(id, { value: SecretString!, stages: new Set(), created: new Date() });
      // Without VersionStages the new version becomes AWSCURRENT; with them, each label moves to it from whoever held it.
      const stages = VersionStages ?? ['AWSCURRENT'];
      for (const stage of stages) {
        if (stage === 'AWSCURRENT') this.moveCurrent(SecretId, id);
        else {
          for (const version of secret.versions.values()) version.stages.delete(stage);
          secret.versions.get(id)!.stages.add(stage);
        }
      }
      return { ARN: SecretId, Name: secret.name, VersionId: id, VersionStages: stages };
    });
    this.mock.on(UpdateSecretVersionStageCommand).callsFake(({ SecretId, VersionStage, MoveToVersionId, RemoveFromVersionId }) => {
      const secret = this.secret(SecretId);
      this.writes.push({ action: 'UpdateSecretVersionStage', secretId: SecretId });
      const holder = this.versionWith(SecretId, VersionStage);
      if (holder !== undefined && holder !== RemoveFromVersionId && holder !== MoveToVersionId) {
        throw new InvalidParameterException({
          ...metadata,
          message: `The parameter RemoveFromVersionId can't be empty. Staging label ${VersionStage} is currently attached to version ${holder}, so you must explicitly reference that version in RemoveFromVersionId.`,
        });
      }
      if (!MoveToVersionId || !secret.versions.has(MoveToVersionId)) {
        throw new ResourceNotFoundException({ ...metadata, message: "Secrets Manager can't find the specified secret version." });
      }
      if (VersionStage === 'AWSCURRENT') this.moveCurrent(SecretId, MoveToVersionId);
      else {
        if (holder) secret.versions.get(holder)!.stages.delete(VersionStage);
        secret.versions.get(MoveToVersionId)!.stages.add(VersionStage);
      }
      return { ARN: SecretId, Name: secret.name };
    });
  }

  /** A secret with one version, AWSCURRENT; returns its version id. */
  create(arn: string, value: string): string {
    const id = randomUUID();
    const name = arn.split(':secret:')[1]!.replace(/-[A-Za-z0-9]{6}$/, '');
    this.secrets.set(arn, { name, versions: new Map([[id, { value, stages: new Set(['AWSCURRENT']), created: new Date() }]]) });
    return id;
  }

  current(arn: string): { versionId: string; value: string } {
    const id = this.versionWith(arn, 'AWSCURRENT')!;
    return { versionId: id, value: this.secret(arn).versions.get(id)!.value };
  }

  /** Each version's labels, by version id: what the console's version list shows. */
  stages(arn: string): Record<string, string[]> {
    return Object.fromEntries([...this.secret(arn).versions].map(([id, v]) => [id, [...v.stages].sort()]));
  }

  private secret(arn: string | undefined) {
    const secret = arn === undefined ? undefined : this.secrets.get(arn);
    if (!secret) throw new ResourceNotFoundException({ ...metadata, message: "Secrets Manager can't find the specified secret." });
    return secret;
  }

  private versionWith(arn: string, stage: string): string | undefined {
    return [...this.secret(arn).versions].find(([, v]) => v.stages.has(stage))?.[0];
  }

  /** AWSCURRENT to `id`; the version that had it becomes AWSPREVIOUS, as Secrets Manager moves them. */
  private moveCurrent(arn: string, id: string): void {
    const secret = this.secret(arn);
    const previous = this.versionWith(arn, 'AWSCURRENT');
    if (previous === id) return;
    for (const version of secret.versions.values()) version.stages.delete('AWSPREVIOUS');
    if (previous !== undefined) {
      const old = secret.versions.get(previous)!;
      old.stages.delete('AWSCURRENT');
      old.stages.add('AWSPREVIOUS');
    }
    secret.versions.get(id)!.stages.add('AWSCURRENT');
  }

  reset(): void {
    this.mock.restore();
  }
}

/**
 * What an ECS service runs; `restart` replaces its tasks (kills and starts the application) and rejects if they fail
 * to start. `stop`, when it is scaled to zero, resolves once its tasks have stopped (at once without it).
 */
export interface ServiceTasks {
  cluster: string;
  service: string;
  taskDefinition: string;
  desiredCount: number;
  restart(): Promise<void>;
  stop?(): Promise<void>;
}

/**
 * ECS: UpdateService with a new task definition or forceNewDeployment starts a deployment whose rolloutState goes
 * IN_PROGRESS, then COMPLETED or FAILED as its tasks start; a desired count alone starts or stops tasks of the
 * current deployment. Tasks are listed (ListTasks by service and desired status) and described as ECS reports them:
 * told to stop, a task is DEACTIVATING until it has stopped, then STOPPED.
 */
export class FakeEcs {
  readonly mock = mockClient(ECSClient);
  readonly updates: { service: string; taskDefinition?: string; desiredCount?: number; forceNewDeployment?: boolean }[] = [];
  /** The ACTIVE task definitions (ARNs): each service's own, and those a test registers. */
  readonly taskDefinitions = new Set<string>();
  /** Each service, and the tasks it runs now. */
  private readonly services = new Map<string, { tasks: ServiceTasks; service: Service; running: Task[] }>();
  /** Rollouts in flight, so a test can wait for them before it ends. */
  private readonly rollouts: Promise<void>[] = [];

  constructor(region = 'us-east-1', account = '000000000000') {
    const key = (cluster: string | undefined, service: string) => `${cluster ?? 'default'}/${service}`;
    const arn = (kind: string, name: string) => `arn:aws:ecs:${region}:${account}:${kind}/${name}`;
    const allTasks = new Map<string, Task>();
    // A service's tasks carry its name in `group`, as ECS gives them.
    const startTasks = ({ cluster, service }: ServiceTasks, count: number, taskDefinitionArn: string) =>
      Array.from({ length: count }, () => {
        const task: Task = {
          taskArn: arn('task', `${cluster}/${randomBytes(16).toString('hex')}`),
          clusterArn: arn('cluster', cluster),
          group: `service:${service}`,
          taskDefinitionArn,
          desiredStatus: 'RUNNING',
          lastStatus: 'RUNNING',
        };
        allTasks.set(task.taskArn!, task);
        return task;
      });
    const stopTasks = (tasks: Task[], stopped: Promise<void>) => {
      for (const task of tasks) Object.assign(task, { desiredStatus: 'STOPPED', lastStatus: 'DEACTIVATING' });
      this.rollouts.push(stopped.then(() => tasks.forEach((task) => (task.lastStatus = 'STOPPED'))));
    };
    // Names only, as ListTaskDefinitions answers; familyPrefix matches the start of a family.
    this.mock.on(ListTaskDefinitionsCommand).callsFake(({ familyPrefix = '', status = 'ACTIVE' }) => ({
      taskDefinitionArns:
        status === 'ACTIVE'
          ? [...this.taskDefinitions].filter((arn) => arn.split('task-definition/')[1]!.startsWith(familyPrefix)).sort()
          : [],
    }));
    this.add = (tasks) => {
      this.taskDefinitions.add(tasks.taskDefinition);
      const deployment: Deployment = {
        id: `ecs-svc/${randomBytes(9).toString('hex')}`,
        status: 'PRIMARY',
        taskDefinition: tasks.taskDefinition,
        desiredCount: tasks.desiredCount,
        runningCount: tasks.desiredCount,
        rolloutState: 'COMPLETED',
        createdAt: new Date(),
      };
      this.services.set(key(tasks.cluster, tasks.service), {
        tasks,
        service: {
          serviceArn: arn('service', `${tasks.cluster}/${tasks.service}`),
          serviceName: tasks.service,
          clusterArn: arn('cluster', tasks.cluster),
          status: 'ACTIVE',
          taskDefinition: tasks.taskDefinition,
          desiredCount: tasks.desiredCount,
          runningCount: tasks.desiredCount,
          deployments: [deployment],
        },
        running: startTasks(tasks, tasks.desiredCount, tasks.taskDefinition),
      });
    };
    this.mock.on(ListTasksCommand).callsFake(({ cluster, serviceName, desiredStatus = 'RUNNING' }) => {
      const entry = this.services.get(key(cluster, serviceName));
      if (!entry) return { taskArns: [] };
      const prefix = arn('task', `${entry.tasks.cluster}/`);
      const group = `service:${entry.tasks.service}`;
      return {
        taskArns: [...allTasks.values()]
          .filter((task) => task.taskArn!.startsWith(prefix) && task.group === group && task.desiredStatus === desiredStatus)
          .map((task) => task.taskArn!),
      };
    });
    this.mock.on(DescribeTasksCommand).callsFake(({ tasks: arns = [] }: { tasks?: string[] }) => {
      if (arns.length > 100) throw Object.assign(new Error('Tasks cannot be longer than 100.'), { name: 'InvalidParameterException' });
      const found = arns.map((taskArn) => allTasks.get(taskArn));
      return {
        tasks: found.filter((task) => task !== undefined).map((task) => structuredClone(task)),
        failures: arns.filter((_, i) => !found[i]).map((taskArn) => ({ arn: taskArn, reason: 'MISSING' })),
      };
    });
    this.mock.on(DescribeServicesCommand).callsFake(({ cluster, services = [] }: { cluster?: string; services?: string[] }) => {
      const found = services.map((name) => this.services.get(key(cluster, name)));
      return {
        services: found.filter((s) => s !== undefined).map((s) => structuredClone(s.service)),
        failures: services.filter((_, i) => !found[i]).map((name) => ({ arn: arn('service', `${cluster}/${name}`), reason: 'MISSING' })),
      };
    });
    this.mock.on(UpdateServiceCommand).callsFake(({ cluster, service: name, taskDefinition, desiredCount, forceNewDeployment }) => {
      const entry = this.services.get(key(cluster, name));
      if (!entry) throw Object.assign(new Error('Service not found.'), { name: 'ServiceNotFoundException' });
      if (taskDefinition !== undefined && !this.taskDefinitions.has(taskDefinition)) {
        throw Object.assign(new Error('TaskDefinition not found.'), { name: 'ClientException' });
      }
      this.updates.push({ service: name!, taskDefinition, desiredCount, forceNewDeployment });
      const { service, tasks } = entry;
      if (!forceNewDeployment && (taskDefinition === undefined || taskDefinition === service.taskDefinition)) {
        // A desired count alone: the current deployment's tasks start or stop, no new deployment.
        const before = service.desiredCount ?? 0;
        const count = desiredCount ?? before;
        service.desiredCount = count;
        const primary = service.deployments!.find((d) => d.status === 'PRIMARY')!;
        primary.desiredCount = count;
        if (count === 0 && before > 0) {
          stopTasks(entry.running, tasks.stop?.() ?? Promise.resolve());
          entry.running = [];
          service.runningCount = primary.runningCount = 0;
        } else if (count > 0 && before === 0) {
          // Tasks that fail to start leave the service with none running, as ECS keeps trying.
          this.rollouts.push(
            tasks.restart().then(
              () => {
                entry.running = startTasks(tasks, count, service.taskDefinition!);
                service.runningCount = primary.runningCount = count;
              },
              () => undefined,
            ),
          );
        }
        return { service: structuredClone(service) };
      }
      service.taskDefinition = taskDefinition ?? service.taskDefinition;
      service.desiredCount = desiredCount ?? service.desiredCount;
      for (const d of service.deployments!) d.status = 'ACTIVE';
      const deployment: Deployment = {
        id: `ecs-svc/${randomBytes(9).toString('hex')}`,
        status: 'PRIMARY',
        taskDefinition: service.taskDefinition,
        desiredCount: service.desiredCount,
        runningCount: 0,
        rolloutState: 'IN_PROGRESS',
        rolloutStateReason: 'ECS deployment ecs-svc in progress.',
        createdAt: new Date(),
      };
      service.deployments!.unshift(deployment);
      this.rollouts.push(
        tasks.restart().then(
          () => {
            Object.assign(deployment, { rolloutState: 'COMPLETED', rolloutStateReason: 'ECS deployment completed.' });
            deployment.runningCount = deployment.desiredCount;
            service.deployments = [deployment];
            stopTasks(entry.running, Promise.resolve());
            entry.running = startTasks(tasks, deployment.desiredCount ?? 0, deployment.taskDefinition!);
            service.runningCount = deployment.desiredCount;
          },
          (error: Error) => {
            Object.assign(deployment, {
              rolloutState: 'FAILED',
              rolloutStateReason: `ECS deployment circuit breaker: tasks failed to start. (${error.message})`,
            });
          },
        ),
      );
      return { service: structuredClone(service) };
    });
  }

  readonly add: (tasks: ServiceTasks) => void;

  async settled(): Promise<void> {
    await Promise.allSettled(this.rollouts);
  }
}

interface FakeFunction {
  variables: Record<string, string>;
  revisionId: string;
  status: 'Successful' | 'InProgress';
  /** Published versions, "1" up. */
  versions: string[];
  aliases: Map<string, { version: string; revisionId: string }>;
}

/**
 * Lambda: configurations with revisions; an update is InProgress until the next read, then Successful. Published
 * versions and aliases as the API serves them: ListVersionsByFunction in pages of 50 with $LATEST first, GetAlias,
 * and UpdateAlias refusing a stale RevisionId (PreconditionFailedException) or a version that does not exist.
 */
export class FakeLambda {
  readonly mock = mockClient(LambdaClient);
  readonly functions = new Map<string, FakeFunction>();
  /** Every UpdateAlias that changed an alias, in order. */
  readonly aliasUpdates: { function: string; alias: string; version: string }[] = [];
  /** What happens when an alias is pointed at another version: the version's new environments start. */
  onAliasUpdate: (fn: string, version: string) => Promise<void> = () => Promise.resolve();

  constructor() {
    const arn = (name: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}`;
    const find = (name: string | undefined) => {
      const fn = this.functions.get(name ?? '');
      if (!fn) throw new LambdaNotFound({ ...metadata, message: `Function not found: ${arn(name ?? '')}`, Type: 'User' });
      return fn;
    };
    const alias = (name: string, aliasName: string) => {
      const found = find(name).aliases.get(aliasName);
      if (!found) throw new LambdaNotFound({ ...metadata, message: `Alias not found: ${arn(name)}:${aliasName}`, Type: 'User' });
      return found;
    };
    const aliasConfiguration = (name: string, aliasName: string) => {
      const { version, revisionId } = alias(name, aliasName);
      return { AliasArn: `${arn(name)}:${aliasName}`, Name: aliasName, FunctionVersion: version, Description: '', RevisionId: revisionId };
    };
    this.mock.on(GetAliasCommand).callsFake(({ FunctionName, Name }) => aliasConfiguration(FunctionName, Name));
    this.mock.on(UpdateAliasCommand).callsFake(async ({ FunctionName, Name, FunctionVersion, RevisionId }) => {
      const current = alias(FunctionName, Name);
      if (RevisionId !== undefined && RevisionId !== current.revisionId) {
        throw new PreconditionFailedException({
          ...metadata,
          message:
            'The Revision Id provided does not match the latest Revision Id. Call the GetAlias API to retrieve the latest Revision Id',
          Type: 'User',
        });
      }
      if (FunctionVersion !== undefined && FunctionVersion !== current.version) {
        if (FunctionVersion !== '$LATEST' && !find(FunctionName).versions.includes(FunctionVersion)) {
          throw new LambdaNotFound({ ...metadata, message: `Function not found: ${arn(FunctionName)}:${FunctionVersion}`, Type: 'User' });
        }
        current.version = FunctionVersion;
        this.aliasUpdates.push({ function: FunctionName, alias: Name, version: FunctionVersion });
        await this.onAliasUpdate(FunctionName, FunctionVersion);
      }
      current.revisionId = randomUUID();
      return aliasConfiguration(FunctionName, Name);
    });
    this.mock.on(ListVersionsByFunctionCommand).callsFake(({ FunctionName, Marker, MaxItems }) => {
      const fn = find(FunctionName);
      const all = ['$LATEST', ...fn.versions].map((Version) => ({
        FunctionName,
        FunctionArn: `${arn(FunctionName)}:${Version}`,
        Version,
        RevisionId: fn.revisionId,
      }));
      const from = Marker === undefined ? 0 : Number(Marker);
      const to = from + (MaxItems ?? 50);
      return { Versions: all.slice(from, to), ...(to < all.length ? { NextMarker: String(to) } : {}) };
    });
    const configuration = (name: string, fn: ReturnType<typeof find>) => ({
      FunctionName: name,
      FunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${name}`,
      RevisionId: fn.revisionId,
      Environment: { Variables: { ...fn.variables } },
      State: 'Active' as const,
      LastUpdateStatus: fn.status,
    });
    this.mock.on(GetFunctionConfigurationCommand).callsFake(({ FunctionName }) => {
      const fn = find(FunctionName);
      const answer = configuration(FunctionName, fn);
      fn.status = 'Successful';
      return answer;
    });
    this.mock.on(UpdateFunctionConfigurationCommand).callsFake(({ FunctionName, Environment, RevisionId }) => {
      const fn = find(FunctionName);
      if (RevisionId !== undefined && RevisionId !== fn.revisionId) {
        throw new PreconditionFailedException({
          ...metadata,
          message: 'The Revision Id provided does not match the latest Revision Id.',
          Type: 'User',
        });
      }
      fn.variables = { ...Environment?.Variables };
      fn.revisionId = randomUUID();
      fn.status = 'InProgress';
      return configuration(FunctionName, fn);
    });
  }

  add(name: string, variables: Record<string, string>): void {
    this.functions.set(name, { variables, revisionId: randomUUID(), status: 'Successful', versions: [], aliases: new Map() });
  }

  /** Publishes versions 1..`versions` of `name` and points `alias` at `at`, as a deployment pipeline leaves them. */
  deploy(name: string, versions: number, alias: string, at: string): void {
    const fn = this.functions.get(name)!;
    fn.versions = Array.from({ length: versions }, (_, i) => String(i + 1));
    fn.aliases.set(alias, { version: at, revisionId: randomUUID() });
  }

  /** The version `alias` of `name` points at. */
  aliasVersion(name: string, alias: string): string | undefined {
    return this.functions.get(name)?.aliases.get(alias)?.version;
  }
}

/** SSM Parameter Store: parameters by name, with ParameterNotFound and ParameterAlreadyExists as the API raises them. */
export class FakeSsm {
  readonly mock = mockClient(SSMClient);
  readonly parameters = new Map<string, { value: string; type: string }>();

  constructor() {
    const notFound = () => new ParameterNotFound({ ...metadata, message: '' });
    this.mock.on(GetParameterCommand).callsFake(({ Name }) => {
      const parameter = this.parameters.get(Name);
      if (!parameter) throw notFound();
      return { Parameter: { Name, Value: parameter.value, Type: parameter.type, Version: 1 } };
    });
    this.mock.on(PutParameterCommand).callsFake(({ Name, Value, Type, Overwrite }) => {
      if (this.parameters.has(Name) && !Overwrite)
        throw new ParameterAlreadyExists({ ...metadata, message: 'The parameter already exists.' });
      this.parameters.set(Name, { value: Value!, type: Type ?? this.parameters.get(Name)?.type ?? 'String' });
      return { Version: 1, Tier: 'Standard' };
    });
    this.mock.on(DeleteParameterCommand).callsFake(({ Name }) => {
      if (!this.parameters.delete(Name)) throw notFound();
      return {};
    });
    // Non-recursive: the path's direct children, ten a page (the API's default MaxResults), in name order.
    this.mock.on(GetParametersByPathCommand).callsFake(({ Path, Recursive, NextToken }) => {
      if (Recursive) throw new Error('FakeSsm answers non-recursive GetParametersByPath only');
      const children = [...this.parameters.keys()]
        .filter((name) => name.startsWith(`${Path}/`) && !name.slice(Path.length + 1).includes('/'))
        .sort();
      const from = NextToken === undefined ? 0 : Number(NextToken);
      const page = children.slice(from, from + 10);
      return {
        Parameters: page.map((Name) => ({
          Name,
          Value: this.parameters.get(Name)!.value,
          Type: this.parameters.get(Name)!.type,
          Version: 1,
        })),
        NextToken: from + 10 < children.length ? String(from + 10) : undefined,
      };
    });
  }
}

/** Step Functions' optimized DynamoDB integration against a real client: the API's answer, or its error as `DynamoDB.<name>`. */
export function dynamoDbTask(client: DynamoDBClient, action: 'putItem' | 'deleteItem') {
  return async (parameters: unknown) => {
    try {
      const command =
        action === 'putItem'
          ? new PutItemCommand(parameters as ConstructorParameters<typeof PutItemCommand>[0])
          : new DeleteItemCommand(parameters as ConstructorParameters<typeof DeleteItemCommand>[0]);
      const { $metadata: _, ...answer } = await client.send(command as PutItemCommand);
      return answer as never;
    } catch (error) {
      throw Object.assign(new Error((error as Error).message), { name: `DynamoDB.${(error as Error).name}` });
    }
  };
}

/** cutover.asl.json's lock states, each Step Functions' DynamoDB integration against the lock table. */
export function cutoverLockTasks(client: DynamoDBClient) {
  return {
    TakeLock: dynamoDbTask(client, 'putItem'),
    KeepLock: dynamoDbTask(client, 'putItem'),
    ReleaseLock: dynamoDbTask(client, 'deleteItem'),
    ReleaseLockAfterFailure: dynamoDbTask(client, 'deleteItem'),
  };
}

/** A real DynamoDB-compatible server (dynalite, in memory) on loopback holding the cutover lock table, as the stack creates it. */
export async function startLockTable(tableName: string): Promise<{ dynamodb: DynamoDBClient; stop: () => void }> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const dynamodb = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: 'application', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'application', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  return { dynamodb, stop: () => server.close() };
}
