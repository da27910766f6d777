import { Aws, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { BackupTarget } from '../../lambdas/core/backup/target.js';
import { nagResource } from '../nag-findings.js';
import type { BackupVault } from '../vault/backup-vault.js';

/** What a backup runtime backs up: the deployment's target, less the vault's bucket. */
export type BackupRuntimeTarget = Omit<BackupTarget, 'bucket'>;

/**
 * What one database's backup runtime needs, a function or a Fargate task alike: its own secret (and that secret's
 * customer-managed key, through Secrets Manager only), RDS's description of its own instance or cluster only when
 * the config leaves the endpoint to RDS, and the vault under its own tier prefixes (no delete).
 */
function backupStatements(target: BackupRuntimeTarget, secretKmsKeyArn: string | undefined, vault: BackupVault): iam.PolicyStatement[] {
  const rdsArn = (resource: string) => `arn:${Aws.PARTITION}:rds:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
  const [describeAction, databaseArn] =
    'instanceIdentifier' in target.rds
      ? ['rds:DescribeDBInstances', rdsArn(`db:${target.rds.instanceIdentifier}`)]
      : ['rds:DescribeDBClusters', rdsArn(`cluster:${target.rds.clusterIdentifier}`)];
  return [
    new iam.PolicyStatement({
      sid: 'ReadOwnSecret',
      actions: ['secretsmanager:GetSecretValue'],
      resources: [target.secretArn],
    }),
    ...(secretKmsKeyArn === undefined
      ? []
      : [
          new iam.PolicyStatement({
            sid: 'DecryptOwnSecret',
            actions: ['kms:Decrypt'],
            resources: [secretKmsKeyArn],
            conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` } },
          }),
        ]),
    // What the config leaves out of the endpoint is looked up at run time, from this database only.
    ...(target.host !== undefined && target.databaseName !== undefined
      ? []
      : [new iam.PolicyStatement({ sid: 'DescribeOwnDatabase', actions: [describeAction], resources: [databaseArn] })]),
    ...vault.backupStatements(target.label),
  ];
}

export interface BackupRoleProps {
  /** The service that assumes it: Lambda for a function, ECS tasks for a Fargate task. */
  readonly assumedBy: string;
  readonly target: BackupRuntimeTarget;
  /** The customer-managed key of the secret, when there is one. */
  readonly secretKmsKeyArn?: string;
  readonly vault: BackupVault;
  /** What the runtime needs beside the database and the vault. */
  readonly statements: iam.PolicyStatement[];
}

/**
 * The role of one database's backup runtime: backupStatements() and the runtime's own `statements`, under the
 * runtime path, by which the vault's bucket policy denies it every way of removing a backup.
 */
export function backupRole(scope: Construct, id: string, props: BackupRoleProps): iam.Role {
  const { target, vault } = props;
  const role = new iam.Role(scope, id, {
    assumedBy: new iam.ServicePrincipal(props.assumedBy),
    description: `Lifeline backup of ${target.label}`,
    path: vault.runtimeRolePath,
    inlinePolicies: {
      backup: new iam.PolicyDocument({ statements: [...backupStatements(target, props.secretKmsKeyArn, vault), ...props.statements] }),
    },
  });
  for (const objects of vault.backupObjectArns(target.label)) {
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[${nagResource(role, objects)}]`,
      reason: "Backup keys carry a timestamp: writes are granted under this database's own tier prefix only.",
    });
  }
  return role;
}

/** Sending a backup request that could not run to the dead-letter queue, for Scheduler, Lambda or the backup task. */
export function deadLetterStatement(queue: sqs.IQueue): iam.PolicyStatement {
  return new iam.PolicyStatement({ sid: 'DeadLetter', actions: ['sqs:SendMessage'], resources: [queue.queueArn] });
}
