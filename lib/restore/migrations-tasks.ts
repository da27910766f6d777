import { Aws, Duration, RemovalPolicy, SecretValue, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { migrationsFamily, migrationsRolePath, migrationsTargetSecretName } from '../../lambdas/core/names.js';
import { RELEASED_TARGET_SECRET, type MigrationsPlacement } from '../../lambdas/core/restore/migrations.js';
import type { LifelineConfig } from '../config/schema.js';
import { nagResource } from '../nag-findings.js';
import { ownKey } from '../own-key.js';
import type { WorkflowLogs } from '../workflows/workflow-logs.js';

type Application = LifelineConfig['applications'][number];
type MigratedApplication = Application & { migrations: NonNullable<Application['migrations']> };

/** The migrations container's name. */
const CONTAINER = 'migrations';

/** A private ECR image's account, region and repository; undefined for any other registry. */
function ecrRepository(image: string): { account: string; region: string; name: string } | undefined {
  const match = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com\/([^:@]+)/.exec(image);
  return match ? { account: match[1]!, region: match[2]!, name: match[3]! } : undefined;
}

export interface MigrationsTasksProps {
  readonly deployment: string;
  /** The applications of the restore group's databases; those with `migrations` get a task. */
  readonly applications: readonly Application[];
  readonly logs: WorkflowLogs;
}

/**
 * Each application's migrations (config `migrations`) as a Fargate task definition of its image and command, whose
 * DATABASE_URL is its migrations target secret (restore/migrations.ts), encrypted with a key of the group's own.
 * The task role has no policy: the migrations need the database, which the URL names, and nothing of AWS.
 */
export class MigrationsTasks extends Construct {
  /** By application name: where its migrations run, for the catalog. */
  readonly placements: ReadonlyMap<string, MigrationsPlacement>;
  private readonly secrets = new Map<string, secretsmanager.Secret>();
  private readonly key?: kms.Key;

  constructor(scope: Construct, id: string, props: MigrationsTasksProps) {
    super(scope, id);
    const migrated = props.applications.filter((app): app is MigratedApplication => app.migrations !== undefined);
    const placements = new Map<string, MigrationsPlacement>();
    if (migrated.length > 0) {
      const key = ownKey(this, 'Lifeline migrations target secrets: the restored database each migrations task runs on');
      this.key = key;
      const taskRole = new iam.Role(this, 'TaskRole', {
        assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
        description: 'Lifeline migrations tasks: no AWS access, the database only',
        path: migrationsRolePath(props.deployment),
      });
      for (const app of migrated) placements.set(app.name, this.task(app, key, taskRole, props));
    }
    this.placements = placements;
  }

  private task(app: MigratedApplication, key: kms.Key, taskRole: iam.Role, props: MigrationsTasksProps): MigrationsPlacement {
    const scope = new Construct(this, app.name);
    const secretName = migrationsTargetSecretName(props.deployment, app.name);
    const secret = new secretsmanager.Secret(scope, 'TargetSecret', {
      secretName,
      description: `Lifeline: the restored database the migrations of ${app.name} run on, while a restore holds it`,
      encryptionKey: key,
      secretStringValue: SecretValue.unsafePlainText(RELEASED_TARGET_SECRET),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        "Each restore writes it for its own migrations run and releases it; while held it holds the application's own password, which rotating the application's secret changes, and the next restore's version replaces.",
    });
    this.secrets.set(app.name, secret);

    const executionRole = new iam.Role(scope, 'ExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      path: migrationsRolePath(props.deployment),
    });
    const family = migrationsFamily(props.deployment, app.name);
    const taskDefinition = new ecs.FargateTaskDefinition(scope, 'TaskDefinition', {
      family,
      cpu: app.migrations.fargate.vcpus * 1024,
      memoryLimitMiB: app.migrations.fargate.memoryGiB * 1024,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      taskRole: taskRole.withoutPolicyUpdates(),
      executionRole,
      volumes: [{ name: 'tmp' }],
    });
    const container = taskDefinition.addContainer('Migrations', {
      containerName: CONTAINER,
      image: ecs.ContainerImage.fromRegistry(app.migrations.image),
      command: [...app.migrations.command],
      readonlyRootFilesystem: true,
      // npx and Prisma write their caches under HOME: the one writable place is /tmp.
      environment: { HOME: '/tmp' },
      secrets: { DATABASE_URL: ecs.Secret.fromSecretsManager(secret, 'DATABASE_URL') },
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'migrations', logGroup: props.logs.logGroup(scope, 'Logs') }),
      stopTimeout: Duration.seconds(30),
    });
    const repository = ecrRepository(app.migrations.image);
    if (repository) {
      executionRole.addToPolicy(
        new iam.PolicyStatement({
          sid: 'PullTheApplicationImage',
          actions: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'],
          resources: [`arn:${Aws.PARTITION}:ecr:${repository.region}:${repository.account}:repository/${repository.name}`],
        }),
      );
      executionRole.addToPolicy(
        new iam.PolicyStatement({ sid: 'EcrAuthorization', actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }),
      );
      Validations.of(executionRole).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'ecr:GetAuthorizationToken supports no resource-level permissions; image pulls are granted on the image repository only.',
      });
    }
    container.addMountPoints({ sourceVolume: 'tmp', containerPath: '/tmp', readOnly: false });
    Validations.of(taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason: 'Its one environment variable is HOME=/tmp; DATABASE_URL comes from the target secret as an ECS secret.',
    });
    return {
      taskDefinition: family,
      targetSecret: secretName,
      timeoutSeconds: app.migrations.timeoutMinutes * 60,
      command: [...app.migrations.command],
    };
  }

  /**
   * What a steps function needs to hold and release `applications`' target secrets (restore/migrations.ts), none
   * when no application of theirs has migrations here. `sid` tells apart the statements of several groups in one policy.
   */
  statements(applications: readonly string[], sid = ''): iam.PolicyStatement[] {
    const secrets = applications.flatMap((name) => {
      const secret = this.secrets.get(name);
      return secret ? [secret.secretArn] : [];
    });
    if (secrets.length === 0 || !this.key) return [];
    return [
      new iam.PolicyStatement({
        sid: `HoldMigrationsTargets${sid}`,
        actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret', 'secretsmanager:PutSecretValue'],
        resources: secrets,
      }),
      new iam.PolicyStatement({
        sid: `EncryptMigrationsTargets${sid}`,
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` } },
      }),
    ];
  }
}

/** Any execution of each of the `holders` workflows, which may hold a migrations target secret. */
const holderExecutions = (holders: readonly string[]) =>
  holders.map((name) => `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:execution:${name}:*`);

/**
 * Asking whether the execution of the `holders` workflows that holds a target secret still runs (restore/migrations.ts
 * holdTargetSecret): restores and point-in-time recoveries take turns. acknowledgeMigrationsHolders goes with it.
 */
export function migrationsHoldersStatement(holders: readonly string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'AskWhetherMigrationsHoldersRun',
    actions: ['states:DescribeExecution'],
    resources: holderExecutions(holders),
  });
}

/** cdk-nag's acknowledgment of migrationsHoldersStatement's executions in `role`. */
export function acknowledgeMigrationsHolders(role: iam.IRole, holders: readonly string[]): void {
  for (const resource of holderExecutions(holders)) {
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[${nagResource(role, resource)}]`,
      reason: "A migrations target secret names the execution holding it, any of this workflow's; DescribeExecution only reads its status.",
    });
  }
}
