import { DescribeServicesCommand, UpdateServiceCommand, type ECSClient, type Service } from '@aws-sdk/client-ecs';
import { GetFunctionConfigurationCommand, UpdateFunctionConfigurationCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { LifelineError } from '../errors.js';
import { CUTOVER_MARKER_VARIABLE, type CutoverApplication, type Recorded, type Restarted, type Side } from './state.js';

/**
 * The application's workloads, restarted so they read the connection secret again: ECS services by a forced
 * new deployment (watched until its rollout completes or fails), Lambda functions by a configuration change
 * (new execution environments start and read the secret).
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

/** Each service's task definition and desired count, and each function's revision: what rollback goes back to. */
export async function recordWorkloads(
  application: CutoverApplication,
  clients: { ecs: ECSClient; lambda: LambdaClient },
): Promise<Pick<Recorded, 'services' | 'functions'>> {
  const services: Recorded['services'] = [];
  for (const ref of application.ecsServices) {
    const service = await describeService(clients.ecs, ref);
    services.push({ ...ref, taskDefinition: service.taskDefinition!, desiredCount: service.desiredCount ?? 0 });
  }
  const functions: Recorded['functions'] = [];
  for (const name of application.lambdaFunctions) {
    const { RevisionId } = await clients.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    functions.push({ name, revisionId: RevisionId ?? '' });
  }
  return { services, functions };
}

/** The deployment an UpdateService started: the PRIMARY one. */
function primaryDeployment(service: Service | undefined, ref: ServiceRef): string {
  const id = service?.deployments?.find((d) => d.status === 'PRIMARY')?.id;
  if (!id) throw new LifelineError('DeploymentFailed', `ECS service ${ref.service} in cluster ${ref.cluster} reported no new deployment`);
  return id;
}

/**
 * Starts the restarts. Going back (`old`), services return to the recorded task definition and desired count,
 * so rollback needs nothing but the record.
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
    const back = side === 'old' ? { taskDefinition: service.taskDefinition, desiredCount: service.desiredCount } : {};
    const { service: updated } = await clients.ecs.send(new UpdateServiceCommand({ ...ref, ...back, forceNewDeployment: true }));
    deployments.push({ ...ref, deploymentId: primaryDeployment(updated, ref) });
  }
  for (const { name } of recorded.functions) {
    const { Environment, RevisionId } = await clients.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    // UpdateFunctionConfiguration replaces all variables: keep the others. RevisionId refuses a concurrent edit.
    const Variables = { ...Environment?.Variables, [CUTOVER_MARKER_VARIABLE]: at.toISOString() };
    await clients.lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, Environment: { Variables }, RevisionId }));
  }
  return { deployments, functions: recorded.functions.map((f) => f.name) };
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
