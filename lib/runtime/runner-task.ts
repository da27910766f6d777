import { Aws, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { RUNNER_USER } from '../../lambdas/core/runner/environment.js';
import type { FargateSize } from '../config/schema.js';
import type { RuntimeImage } from './runtime-image.js';

/** An ECS cluster for runner tasks, `Cluster` in `scope`, with Container Insights. */
export function runnerCluster(scope: Construct): ecs.CfnCluster {
  // L1: the L2 cluster would create a VPC of its own, and each run names the database's network instead.
  return new ecs.CfnCluster(scope, 'Cluster', { clusterSettings: [{ name: 'containerInsights', value: 'enabled' }] });
}

/** Starting `taskDefinitions` (ARNs, a revision or a family's `:*`) on `cluster` only. */
export function runRunnerTaskStatement(sid: string, taskDefinitions: string, cluster: ecs.CfnCluster): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid,
    actions: ['ecs:RunTask'],
    resources: [taskDefinitions],
    conditions: { ArnEquals: { 'ecs:cluster': cluster.attrArn } },
  });
}

/** Passing a runner task's roles (its task and execution roles, by ARN or path), to ECS only, as RunTask does. */
export function passRunnerRolesStatement(sid: string, roleArns: readonly string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid,
    actions: ['iam:PassRole'],
    resources: [...roleArns],
    conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
  });
}

/** RunTask's PropagateTags tags the task as it is created, which ECS authorizes as TagResource on that task: `tasks`, then only. */
export function tagRunnerTaskStatement(sid: string, tasks: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid,
    actions: ['ecs:TagResource'],
    resources: [tasks],
    conditions: { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
  });
}

/** The managed rule through which Step Functions learns that an `ecs:runTask.sync` task stopped. */
export function ecsSyncRuleStatement(): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'EcsSyncRule',
    actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
    resources: [`arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:rule/StepFunctionsGetEventsForECSTaskRule`],
  });
}

export interface RunnerTaskProps {
  /** The task definition's family, which names its revisions. */
  readonly family: string;
  readonly size: FargateSize;
  /** Its policy is complete as written: the task definition may not add to it. */
  readonly taskRole: iam.Role;
  /** The runtime image, whose CLI the container runs. */
  readonly image: RuntimeImage;
  /** The container's construct id and name (the name is what a container override addresses). */
  readonly container: { readonly id: string; readonly name: string };
  /** The CLI's command line, `node` first (RUNNER_RESTORE_COMMAND, RUNNER_BACKUP_COMMAND). */
  readonly command: readonly string[];
  readonly environment: Record<string, string>;
  /** Why the environment holds no secret, for cdk-nag's AwsSolutions-ECS2. */
  readonly environmentHoldsNoSecret: string;
  readonly logging: ecs.LogDriver;
  readonly volumes?: ecs.Volume[];
  /** The execution role's IAM path, for a role passed by path; CDK's default role without. */
  readonly executionRolePath?: string;
}

/**
 * A runner's Fargate task definition, `TaskDefinition` in `scope`: one container of the runtime image's CLI, run as
 * RUNNER_USER (never root) with a read-only root filesystem, and the execution role CDK makes for pulling the image
 * and writing the logs.
 */
export function runnerTaskDefinition(
  scope: Construct,
  props: RunnerTaskProps,
): { taskDefinition: ecs.FargateTaskDefinition; container: ecs.ContainerDefinition } {
  // CDK grants it the image pull and the log writes, as it does the role it makes.
  const executionRole =
    props.executionRolePath === undefined
      ? undefined
      : new iam.Role(scope, 'ExecutionRole', {
          assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
          path: props.executionRolePath,
        });
  const taskDefinition = new ecs.FargateTaskDefinition(scope, 'TaskDefinition', {
    family: props.family,
    cpu: props.size.vcpus * 1024,
    memoryLimitMiB: props.size.memoryGiB * 1024,
    runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    taskRole: props.taskRole.withoutPolicyUpdates(),
    executionRole,
    volumes: props.volumes,
  });
  const [entryPoint, ...command] = props.command;
  const container = taskDefinition.addContainer(props.container.id, {
    containerName: props.container.name,
    image: ecs.ContainerImage.fromDockerImageAsset(props.image.asset),
    entryPoint: [entryPoint!],
    command,
    user: RUNNER_USER,
    readonlyRootFilesystem: true,
    environment: props.environment,
    logging: props.logging,
  });
  Validations.of(taskDefinition).acknowledge({ id: 'AwsSolutions-ECS2', reason: props.environmentHoldsNoSecret });
  // ECR's GetAuthorizationToken has no resource-level permission; CDK grants pulls from the asset repository only.
  Validations.of(executionRole ?? taskDefinition).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: 'ecr:GetAuthorizationToken supports no resource-level permissions; image pulls are granted on the asset repository only.',
  });
  return { taskDefinition, container };
}
