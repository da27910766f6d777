import {
  DescribeServicesCommand,
  DescribeTasksCommand,
  paginateListTaskDefinitions,
  paginateListTasks,
  UpdateServiceCommand,
  type DesiredStatus,
  type ECSClient,
  type Service,
} from '@aws-sdk/client-ecs';
import { GetFunctionConfigurationCommand, UpdateFunctionConfigurationCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { LifelineError } from '../errors.js';
import { pointAlias, recordAliasSwitch } from './function-versions.js';
import { CUTOVER_MARKER_VARIABLE, type CutoverApplication, type Recorded, type Restarted, type Side } from './state.js';

/**
 * The application's workloads, restarted so they read the connection secret again: ECS services by a forced
 * new deployment (watched until its rollout completes or fails), Lambda functions by a configuration change
 * (new execution environments start and read the secret), or, with an application version, by pointing their alias
 * at it (function-versions.ts).
 */

type ServiceRef = { cluster: string; service: string };

async function describeService(ecs: ECSClient, { cluster, service }: ServiceRef): Promise<Service> {
  const { services = [], failures = [] } = await ecs.send(new DescribeServicesCommand({ cluster, services: [service] }));
  const found = services[0];
  if (!found || found.status === 'INACTIVE') {
    const reason = failures[0]?.reason ?? found?.status ?? 'MISSING';
    throw new LifelineError('InvalidConfig', `ECS service ${service} in cluster ${cluster} cannot be restarted: ${reason}`);
  }
  return found;
}

/**
 * Each service's task definition and desired count, and each function's revision: what rollback goes back to; and,
 * by `applicationVersion`, the task definition each service's restart deploys and the version each function's
 * alias is pointed at (ValidateInput refused an application version for functions without `lambdaAlias`).
 */
export async function recordWorkloads(
  application: CutoverApplication,
  clients: { ecs: ECSClient; lambda: LambdaClient },
  applicationVersion?: string,
): Promise<Pick<Recorded, 'services' | 'functions'>> {
  const services: Recorded['services'] = [];
  for (const ref of application.ecsServices) {
    const service = await describeService(clients.ecs, ref);
    const taskDefinition = service.taskDefinition!;
    const deploy = applicationVersion && (await chosenTaskDefinition(clients.ecs, ref, taskDefinition, applicationVersion));
    services.push({ ...ref, taskDefinition, desiredCount: service.desiredCount ?? 0, ...(deploy ? { deploy } : {}) });
  }
  const functions: Recorded['functions'] = [];
  for (const name of application.lambdaFunctions) {
    const { RevisionId } = await clients.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    const alias =
      applicationVersion && application.lambdaAlias
        ? await recordAliasSwitch(clients.lambda, name, application.lambdaAlias, applicationVersion)
        : undefined;
    functions.push({ name, revisionId: RevisionId ?? '', ...(alias ? { alias } : {}) });
  }
  return { services, functions };
}

/** A task definition's family and revision, from its ARN or `family:revision`. */
function revisionOf(taskDefinition: string): { family: string; revision: number } {
  const [family = '', revision = ''] = taskDefinition.slice(taskDefinition.lastIndexOf('/') + 1).split(':');
  return { family, revision: Number(revision) };
}

/**
 * The task definition `version` names for a service now on `current`: "previous", the latest ACTIVE revision of its
 * family before the current one; or a revision of that same family, which must be ACTIVE. Only the family's revisions
 * are listed (ListTaskDefinitions, names only: no task definition's contents are read), and never another family's:
 * a cutover deploys the application's own task definitions only.
 */
async function chosenTaskDefinition(ecs: ECSClient, ref: ServiceRef, current: string, version: string): Promise<string> {
  const { family, revision } = revisionOf(current);
  const name = `ECS service ${ref.service} in cluster ${ref.cluster}`;
  const active: { arn: string; revision: number }[] = [];
  for await (const page of paginateListTaskDefinitions({ client: ecs }, { familyPrefix: family, status: 'ACTIVE' })) {
    for (const arn of page.taskDefinitionArns ?? []) {
      const listed = revisionOf(arn);
      // familyPrefix matches other families that start with this one's name.
      if (listed.family === family) active.push({ arn, revision: listed.revision });
    }
  }
  if (version === 'previous') {
    const previous = active.filter((t) => t.revision < revision).sort((a, b) => b.revision - a.revision)[0];
    if (!previous) {
      throw new LifelineError(
        'InvalidInput',
        `applicationVersion: "previous": ${family} has no ACTIVE revision before ${revision}, the one ${name} runs; name the revision to deploy`,
      );
    }
    return previous.arn;
  }
  const wanted = revisionOf(version);
  if (wanted.family !== family) {
    throw new LifelineError(
      'InvalidInput',
      `applicationVersion: ${version} is of the task definition family ${wanted.family}, not ${family}, which ${name} runs; a cutover deploys only the application's own task definitions`,
    );
  }
  const found = active.find((t) => t.revision === wanted.revision && (!version.startsWith('arn:') || t.arn === version));
  if (!found) throw new LifelineError('InvalidInput', `applicationVersion: ${version} is not an ACTIVE revision of ${family}`);
  return found.arn;
}

/** The deployment an UpdateService started: the PRIMARY one. */
function primaryDeployment(service: Service | undefined, ref: ServiceRef): string {
  const id = service?.deployments?.find((d) => d.status === 'PRIMARY')?.id;
  if (!id) throw new LifelineError('DeploymentFailed', `ECS service ${ref.service} in cluster ${ref.cluster} reported no new deployment`);
  return id;
}

/**
 * Starts the restarts. Going back (`old`), services return to the recorded task definition and desired count, and
 * aliases to the recorded version, so rollback needs nothing but the record. An alias someone else moved fails the
 * restart with AliasMoved: going forward at once; going back once every other workload is back.
 */
export async function restartWorkloads(
  recorded: Recorded,
  side: Side,
  clients: { ecs: ECSClient; lambda: LambdaClient },
  at: Date,
): Promise<Pick<Restarted, 'deployments' | 'functions'>> {
  const deployments: Restarted['deployments'] = [];
  for (const service of recorded.services) {
    const ref = { cluster: service.cluster, service: service.service };
    // Forward: the chosen version, if any; scaled to zero by the freeze, the recorded count back with the new connection.
    const forward = {
      ...(service.deploy === undefined ? {} : { taskDefinition: service.deploy }),
      ...(recorded.freeze.mode === 'scale-to-zero' ? { desiredCount: service.desiredCount } : {}),
    };
    const back = side === 'old' ? { taskDefinition: service.taskDefinition, desiredCount: service.desiredCount } : forward;
    const { service: updated } = await clients.ecs.send(new UpdateServiceCommand({ ...ref, ...back, forceNewDeployment: true }));
    deployments.push({ ...ref, deploymentId: primaryDeployment(updated, ref) });
  }
  const moved: string[] = [];
  const reconfigured: string[] = [];
  for (const { name, alias } of recorded.functions) {
    if (alias) {
      // The alias serves a published version, whose configuration cannot change: a change of $LATEST would restart
      // nothing it serves. Pointed at another version, it gets that version's environments, which start on the
      // current secret. (Those of the version it leaves that started between Swap and here read the new secret, and
      // serve with it after a rollback until Lambda retires them: nothing can restart a published version.)
      try {
        await pointAlias(clients.lambda, name, alias, side);
      } catch (error) {
        if (side === 'new' || (error as Error).name !== 'AliasMoved') throw error;
        moved.push((error as Error).message);
      }
      continue;
    }
    reconfigured.push(name);
    const { Environment, RevisionId } = await clients.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    // UpdateFunctionConfiguration replaces all variables: keep the others. RevisionId refuses a concurrent edit.
    const Variables = { ...Environment?.Variables, [CUTOVER_MARKER_VARIABLE]: at.toISOString() };
    await clients.lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, Environment: { Variables }, RevisionId }));
  }
  if (moved.length > 0) throw new LifelineError('AliasMoved', moved.join('; '));
  // An alias takes effect at once: only configuration updates have a status to watch.
  return { deployments, functions: reconfigured };
}

/** What is still rolling out; a failed rollout, or one past the deadline, is DeploymentFailed. */
export async function pendingRestarts(restart: Restarted, clients: { ecs: ECSClient; lambda: LambdaClient }, now: Date): Promise<string[]> {
  const pending: string[] = [];
  for (const deployment of restart.deployments) {
    const service = await describeService(clients.ecs, deployment);
    const name = `ECS service ${deployment.service} in cluster ${deployment.cluster}`;
    const current = service.deployments?.find((d) => d.id === deployment.deploymentId);
    if (!current) throw new LifelineError('DeploymentFailed', `${name}: deployment ${deployment.deploymentId} was replaced (rolled back?)`);
    if (current.rolloutState === 'FAILED') {
      throw new LifelineError(
        'DeploymentFailed',
        `${name}: deployment ${deployment.deploymentId} failed: ${current.rolloutStateReason ?? 'no reason given'}`,
      );
    }
    // Without rollout states (some deployment types), done is: only this deployment left, all its tasks running.
    const done =
      current.rolloutState === 'COMPLETED' ||
      (current.rolloutState === undefined && service.deployments?.length === 1 && current.runningCount === current.desiredCount);
    if (!done) pending.push(name);
  }
  for (const name of restart.functions) {
    const { LastUpdateStatus, LastUpdateStatusReason } = await clients.lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: name }),
    );
    if (LastUpdateStatus === 'Failed') {
      throw new LifelineError(
        'DeploymentFailed',
        `Lambda function ${name}: configuration update failed: ${LastUpdateStatusReason ?? 'no reason given'}`,
      );
    }
    if (LastUpdateStatus === 'InProgress') pending.push(`Lambda function ${name}`);
  }
  if (pending.length > 0 && now.getTime() > Date.parse(restart.deadline)) {
    throw new LifelineError('DeploymentFailed', `not finished by ${restart.deadline}: ${pending.join(', ')}`);
  }
  return pending;
}

/** Sets each service's desired count (no new deployment: the tasks of its current one start or stop). */
export async function scaleServices(ecs: ECSClient, services: readonly (ServiceRef & { desiredCount: number })[]): Promise<void> {
  for (const { cluster, service, desiredCount } of services) {
    await ecs.send(new UpdateServiceCommand({ cluster, service, desiredCount }));
  }
}

async function listTasks(ecs: ECSClient, { cluster, service }: ServiceRef, desiredStatus: DesiredStatus): Promise<string[]> {
  const arns: string[] = [];
  // ListTasks filters by the service's name, not its ARN.
  const serviceName = service.slice(service.lastIndexOf('/') + 1);
  for await (const page of paginateListTasks({ client: ecs }, { cluster, serviceName, desiredStatus })) arns.push(...(page.taskArns ?? []));
  return arns;
}

/**
 * How many of a service's tasks are not stopped yet: those ECS still means to run, and those it is stopping, which
 * drain from their load balancer and get SIGTERM first, and so may still write until they reach STOPPED.
 */
export async function liveTasks(ecs: ECSClient, ref: ServiceRef): Promise<number> {
  const running = await listTasks(ecs, ref, 'RUNNING');
  const stopping = await listTasks(ecs, ref, 'STOPPED');
  let live = running.length;
  // DescribeTasks takes 100 at a time; stopped tasks stay listed for an hour after they stopped.
  for (let i = 0; i < stopping.length; i += 100) {
    const { tasks = [] } = await ecs.send(new DescribeTasksCommand({ cluster: ref.cluster, tasks: stopping.slice(i, i + 100) }));
    live += tasks.filter((task) => task.lastStatus !== 'STOPPED').length;
  }
  return live;
}
