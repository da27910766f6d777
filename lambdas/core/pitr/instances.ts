import {
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  type DBCluster,
  type DBInstance,
  type RDSClient,
} from '@aws-sdk/client-rds';

/** What RDS holds under an identifier, or undefined when nothing is (DBInstanceNotFound, DBClusterNotFound). */

const notFound = (error: unknown) => /NotFound/.test((error as Error).name);

export async function findInstance(rds: RDSClient, identifier: string): Promise<DBInstance | undefined> {
  try {
    return (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }))).DBInstances?.[0];
  } catch (error) {
    if (notFound(error)) return undefined;
    throw error;
  }
}

export async function findCluster(rds: RDSClient, identifier: string): Promise<DBCluster | undefined> {
  try {
    return (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: identifier }))).DBClusters?.[0];
  } catch (error) {
    if (notFound(error)) return undefined;
    throw error;
  }
}

export const statusOf = (resource: DBInstance | DBCluster | undefined) =>
  resource === undefined ? undefined : 'DBInstanceStatus' in resource ? resource.DBInstanceStatus : (resource as DBCluster).Status;
