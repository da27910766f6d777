import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { DatabaseConfig } from '../config/schema.js';

/** A secret a restore runtime may read, with the customer-managed key that encrypts it, when there is one. */
export interface ReadableSecret {
  readonly secretArn: string;
  readonly secretKmsKeyArn?: string;
}

/**
 * What a restore runtime needs to connect to configured databases: GetSecretValue on exactly these secrets
 * (config ARNs are complete, suffix included, so no wildcard), Decrypt on their own keys through Secrets Manager
 * only, and the RDS Describe call for each database whose endpoint the config leaves to RDS.
 */
export function databaseStatements(secrets: readonly ReadableSecret[], databases: readonly DatabaseConfig[]): iam.PolicyStatement[] {
  const secretArns = [...new Set(secrets.map((secret) => secret.secretArn))].sort();
  const keyArns = [...new Set(secrets.flatMap((secret) => (secret.secretKmsKeyArn === undefined ? [] : [secret.secretKmsKeyArn])))].sort();
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
            sid: 'DecryptConfiguredSecrets',
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
