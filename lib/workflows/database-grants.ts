import { Arn, ArnFormat, Aws, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { DatabaseConfig } from '../config/schema.js';
import { nagResource } from '../nag-findings.js';

const DECRYPT_SID = 'DecryptConfiguredSecrets';

/** A secret a workflow's runtime may read, with the customer-managed key that encrypts it, when there is one. */
export interface ReadableSecret {
  readonly secretArn: string;
  readonly secretKmsKeyArn?: string;
}

/**
 * What a workflow's runtime (the restore runner, the restore and cutover steps) needs to connect to configured
 * databases: GetSecretValue on exactly these secrets (config ARNs are complete, suffix included, so no wildcard),
 * Decrypt through Secrets Manager only, on the keys of the accounts and regions their keys are in, and the RDS
 * Describe call for each database whose endpoint the config leaves to RDS. Secrets Manager decrypts only for a secret the role may read: listing each secret's own key as
 * well would add nothing but length, and a restore group's 50 databases with keys of their own would take a role
 * past IAM's 10,240 characters.
 */
export function databaseStatements(secrets: readonly ReadableSecret[], databases: readonly DatabaseConfig[]): iam.PolicyStatement[] {
  const secretArns = [...new Set(secrets.map((secret) => secret.secretArn))].sort();
  const keyArns = [
    ...new Set(
      secrets.flatMap((secret) => {
        if (secret.secretKmsKeyArn === undefined) return [];
        const { partition, region, account } = Arn.split(secret.secretKmsKeyArn, ArnFormat.SLASH_RESOURCE_NAME);
        return [`arn:${partition}:kms:${region}:${account}:key/*`];
      }),
    ),
  ].sort();
  const rdsArn = (resource: string) => `arn:${Aws.PARTITION}:rds:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
  const described = databases.filter((db) => db.host === undefined || db.databaseName === undefined);
  const instances = described.flatMap((db) => ('instanceIdentifier' in db.rds ? [rdsArn(`db:${db.rds.instanceIdentifier}`)] : []));
  const clusters = described.flatMap((db) => ('clusterIdentifier' in db.rds ? [rdsArn(`cluster:${db.rds.clusterIdentifier}`)] : []));
  return [
    ...(secretArns.length === 0
      ? []
      : [new iam.PolicyStatement({ sid: 'ReadConfiguredSecrets', actions: ['secretsmanager:GetSecretValue'], resources: secretArns })]),
    ...(keyArns.length === 0
      ? []
      : [
          new iam.PolicyStatement({
            sid: DECRYPT_SID,
            actions: ['kms:Decrypt'],
            resources: keyArns,
            conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` } },
          }),
        ]),
    ...(instances.length === 0
      ? []
      : [new iam.PolicyStatement({ sid: 'DescribeConfiguredInstances', actions: ['rds:DescribeDBInstances'], resources: instances })]),
    ...(clusters.length === 0
      ? []
      : [new iam.PolicyStatement({ sid: 'DescribeConfiguredClusters', actions: ['rds:DescribeDBClusters'], resources: clusters })]),
  ];
}

/** cdk-nag's acknowledgment of the key patterns in `statements` (databaseStatements'), on the role that holds them. */
export function acknowledgeDatabaseStatements(role: iam.IRole, statements: readonly iam.PolicyStatement[]): void {
  for (const statement of statements.filter((s) => s.sid === DECRYPT_SID)) {
    for (const keys of statement.resources) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[${nagResource(role, keys)}]`,
        reason: 'Decrypt only through Secrets Manager, which decrypts only the secrets this role may read (ReadConfiguredSecrets).',
      });
    }
  }
}
