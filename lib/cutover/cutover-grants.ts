import { Aws, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { CutoverSettings } from '../../lambdas/core/cutover/state.js';
import { pitrWorkflowName, restoreWorkflowName } from '../../lambdas/core/names.js';
import type { DatabaseConfig } from '../config/schema.js';
import { nagResource } from '../nag-findings.js';
import { databaseStatements } from '../workflows/database-grants.js';
import type { CutoverLockTable } from './cutover-lock-table.js';

const regional = (service: string, resource: string) => `arn:${Aws.PARTITION}:${service}:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
/** The last part of a name or ARN that ECS takes either way (`production`, or `arn:...:cluster/production`). */
const ecsName = (nameOrArn: string) => nameOrArn.split('/').at(-1)!;

/** An ECS service's ARN (the long format, with its cluster), from the config's cluster and service. */
export function ecsServiceArn(cluster: string, service: string): string {
  return regional('ecs', `service/${ecsName(cluster)}/${ecsName(service)}`);
}

/** An ECS cluster's ARN, from its name or ARN. */
export function ecsClusterArn(cluster: string): string {
  return regional('ecs', `cluster/${ecsName(cluster)}`);
}

/** The clusters of the services a `scale-to-zero` freeze stops, whose tasks the Freeze step watches drain. */
const drainedClusters = (settings: CutoverSettings) =>
  [
    ...new Set(
      settings.applications.flatMap((app) => (app.freeze.mode === 'scale-to-zero' ? app.ecsServices.map((s) => ecsName(s.cluster)) : [])),
    ),
  ].sort();

/** A Lambda function's unqualified ARN, from its name or ARN. */
export function lambdaFunctionArn(nameOrArn: string): string {
  return nameOrArn.startsWith('arn:') ? nameOrArn : regional('lambda', `function:${nameOrArn}`);
}

/** An SSM parameter's ARN: a name's leading "/" is not repeated after `parameter`. */
export function ssmParameterArn(name: string): string {
  return regional('ssm', `parameter/${name.replace(/^\//, '')}`);
}

/**
 * What the cutover steps may do, each on the configured resources only: switch and revert the applications'
 * connection secrets, describe the RDS instances and clusters of their databases configured without a host (the
 * servers a new database is on; no admin secret is read), restart the
 * configured ECS services and Lambda functions (and scale them to zero and back, watching their clusters' tasks stop,
 * for a scale-to-zero freeze), point the configured functions' alias at their own versions, and set and restore the
 * configured freeze parameters.
 *
 * No iam:PassRole: UpdateService passes no role when it forces a new deployment, nor when rollback returns a
 * service to its recorded task definition, whose roles were passed when it was registered.
 */
export function cutoverStatements(
  settings: CutoverSettings,
  databases: readonly DatabaseConfig[],
  deployment: string,
): iam.PolicyStatement[] {
  const { applications } = settings;
  const sorted = (values: string[]) => [...new Set(values)].sort();
  const connectionSecrets = sorted(applications.map((app) => app.connectionSecretArn));
  const services = sorted(applications.flatMap((app) => app.ecsServices.map((s) => ecsServiceArn(s.cluster, s.service))));
  const functions = sorted(applications.flatMap((app) => app.lambdaFunctions.map(lambdaFunctionArn)));
  // The functions an applicationVersion points through their alias: each function's ARN and its alias's, no wildcard.
  const aliased = sorted(
    applications.flatMap(({ lambdaFunctions, lambdaAlias }) =>
      lambdaAlias === undefined ? [] : lambdaFunctions.flatMap((fn) => [lambdaFunctionArn(fn), `${lambdaFunctionArn(fn)}:${lambdaAlias}`]),
    ),
  );
  const parameters = sorted(
    applications.flatMap((app) => (app.freeze.mode === 'parameter' ? [ssmParameterArn(app.freeze.parameterName)] : [])),
  );
  const statement = (sid: string, actions: string[], resources: string[]) =>
    resources.length === 0 ? [] : [new iam.PolicyStatement({ sid, actions, resources })];
  return [
    ...statement(
      'SwitchConnectionSecrets',
      [
        'secretsmanager:GetSecretValue',
        'secretsmanager:DescribeSecret',
        'secretsmanager:PutSecretValue',
        'secretsmanager:UpdateSecretVersionStage',
      ],
      connectionSecrets,
    ),
    // No database's admin secret: a new database's server is the config's host, or RDS's endpoint of the database.
    ...databaseStatements(
      [],
      databases.filter((db) => db.host === undefined),
    ),
    // ValidateInput takes an input's approval only when the restore or PITR execution that handed over holds it (origin.ts).
    ...statement(
      'ReadHandingOverExecutions',
      ['states:DescribeExecution', 'states:GetExecutionHistory'],
      handingOverExecutions(deployment),
    ),
    ...statement('RestartServices', ['ecs:DescribeServices', 'ecs:UpdateService'], services),
    // An input's applicationVersion names a revision of the service's own family (workloads.ts checks it): only names are
    // listed, ListTaskDefinitions takes no resource, and DescribeTaskDefinition (which would read any family's contents) is not granted.
    ...(services.length === 0
      ? []
      : [new iam.PolicyStatement({ sid: 'ListTaskDefinitionRevisions', actions: ['ecs:ListTaskDefinitions'], resources: ['*'] })]),
    // ECS scopes task reads by cluster, no finer: ListTasks only by the ecs:cluster condition, DescribeTasks by the task's ARN.
    ...drainedClusters(settings).flatMap((cluster, index) => [
      new iam.PolicyStatement({
        sid: `ListDrainingTasks${index}`,
        actions: ['ecs:ListTasks'],
        resources: ['*'],
        conditions: { ArnEquals: { 'ecs:cluster': ecsClusterArn(cluster) } },
      }),
      new iam.PolicyStatement({
        sid: `DescribeDrainingTasks${index}`,
        actions: ['ecs:DescribeTasks'],
        resources: [regional('ecs', `task/${cluster}/*`)],
        conditions: { ArnEquals: { 'ecs:cluster': ecsClusterArn(cluster) } },
      }),
    ]),
    ...statement('RestartFunctions', ['lambda:GetFunctionConfiguration', 'lambda:UpdateFunctionConfiguration'], functions),
    // Versions are listed by number and ARN only (no code or configuration is read); the alias moves among them.
    ...statement('SwitchFunctionVersions', ['lambda:GetAlias', 'lambda:UpdateAlias', 'lambda:ListVersionsByFunction'], aliased),
    ...statement('FreezeParameters', ['ssm:GetParameter', 'ssm:PutParameter', 'ssm:DeleteParameter'], parameters),
  ];
}

/** The executions whose hand-over the cutover reads (origin.ts): this deployment's restore and PITR workflows'. */
function handingOverExecutions(deployment: string): string[] {
  return [restoreWorkflowName(deployment), pitrWorkflowName(deployment)].map((machine) => regional('states', `execution:${machine}:*`));
}

/** cdk-nag's acknowledgment of the hand-over reads in `cutoverStatements`, on the role that holds them. */
export function acknowledgeHandOverReads(role: iam.IRole, deployment: string): void {
  for (const executions of handingOverExecutions(deployment)) {
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[${nagResource(role, executions)}]`,
      reason:
        'Execution names are chosen when an execution starts; DescribeExecution and GetExecutionHistory read only the restore and PITR executions that may hand over, to take an approval only from the one that handed over.',
    });
  }
}

/** Why `cutoverStatements`' calls on `*` are accepted: said in the steps function's one acknowledgment of `*`. */
export function unscopedCutoverCalls(settings: CutoverSettings): string[] {
  if (!settings.applications.some((app) => app.ecsServices.length > 0)) return [];
  return [
    'ecs:ListTaskDefinitions takes no resource: it lists names only, of the family of the service whose applicationVersion a cutover deploys; ecs:ListTasks takes none but the ecs:cluster condition, which limits it to the clusters of the services a scale-to-zero freeze stops.',
  ];
}

/** cdk-nag's acknowledgment of the task reads in `cutoverStatements`, on the role that holds them. */
export function acknowledgeEcsReads(role: iam.IRole, settings: CutoverSettings): void {
  const clusters = drainedClusters(settings);
  for (const cluster of clusters) {
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[${nagResource(role, regional('ecs', `task/${cluster}/*`))}]`,
      reason:
        "Task ids are ECS's own; DescribeTasks reads the tasks of the clusters of the services a scale-to-zero freeze stops, to wait until they have stopped.",
    });
  }
}

/**
 * Releasing or keeping a lock as cutover.asl.json's ReleaseLock and KeepLock do, for the compensation of an execution
 * that never reached them: DeleteItem or PutItem on the lock table (conditional on the holder, in the code), through
 * DynamoDB on the table's key.
 */
export function releaseLockStatements({ table, key }: CutoverLockTable): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({ sid: 'SettleLocks', actions: ['dynamodb:DeleteItem', 'dynamodb:PutItem'], resources: [table.tableArn] }),
    new iam.PolicyStatement({
      sid: 'DecryptLocks',
      actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
      resources: [key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` } },
    }),
  ];
}
