import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { CutoverSettings } from '../../lambdas/core/cutover/state.js';
import type { DatabaseConfig } from '../config/schema.js';
import { databaseStatements } from '../workflows/database-grants.js';

const regional = (service: string, resource: string) => `arn:${Aws.PARTITION}:${service}:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
/** The last part of a name or ARN that ECS takes either way (`production`, or `arn:...:cluster/production`). */
const ecsName = (nameOrArn: string) => nameOrArn.split('/').at(-1)!;

/** An ECS service's ARN (the long format, with its cluster), from the config's cluster and service. */
export function ecsServiceArn(cluster: string, service: string): string {
  return regional('ecs', `service/${ecsName(cluster)}/${ecsName(service)}`);
}

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
 * connection secrets, read the secrets of their databases (the servers a new database is on), restart the
 * configured ECS services and Lambda functions, and set and restore the configured freeze parameters.
 *
 * No iam:PassRole: UpdateService passes no role when it forces a new deployment, nor when rollback returns a
 * service to its recorded task definition, whose roles were passed when it was registered.
 */
export function cutoverStatements(settings: CutoverSettings, databases: readonly DatabaseConfig[]): iam.PolicyStatement[] {
  const { applications } = settings;
  const sorted = (values: string[]) => [...new Set(values)].sort();
  const connectionSecrets = sorted(applications.map((app) => app.connectionSecretArn));
  const services = sorted(applications.flatMap((app) => app.ecsServices.map((s) => ecsServiceArn(s.cluster, s.service))));
  const functions = sorted(applications.flatMap((app) => app.lambdaFunctions.map(lambdaFunctionArn)));
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
    // The databases' own secrets, read only; their servers are not described (a new database's server comes from its secret).
    ...databaseStatements(databases, []),
    ...statement('RestartServices', ['ecs:DescribeServices', 'ecs:UpdateService'], services),
    ...statement('RestartFunctions', ['lambda:GetFunctionConfiguration', 'lambda:UpdateFunctionConfiguration'], functions),
    ...statement('FreezeParameters', ['ssm:GetParameter', 'ssm:PutParameter', 'ssm:DeleteParameter'], parameters),
  ];
}
