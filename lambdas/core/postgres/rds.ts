import { DescribeDBClustersCommand, DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { LifelineError } from '../errors.js';

/** The backup runtimes' RDS client: it fails fast where the subnets have no route to the RDS API, rather than hang. */
export function createRdsClient(): RDSClient {
  return new RDSClient({ requestHandler: { connectionTimeout: 5_000, requestTimeout: 15_000 } });
}

/** An RDS instance or an Aurora cluster, by identifier. */
export type RdsResource = { instanceIdentifier: string } | { clusterIdentifier: string };

/** What RDS reports of where a database listens; a field is missing while RDS has none (e.g. still creating). */
export interface RdsEndpoint {
  host?: string;
  port?: number;
  /** The database created with the instance or cluster, when one was named. */
  database?: string;
}

export function describeRdsResource(resource: RdsResource): string {
  return 'instanceIdentifier' in resource ? `instance "${resource.instanceIdentifier}"` : `cluster "${resource.clusterIdentifier}"`;
}

/** The writer endpoint of a cluster, or the endpoint of an instance. */
export async function describeRdsEndpoint(client: RDSClient, resource: RdsResource): Promise<RdsEndpoint> {
  try {
    if ('instanceIdentifier' in resource) {
      const { DBInstances = [] } = await client.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: resource.instanceIdentifier }));
      const instance = DBInstances[0];
      return { host: instance?.Endpoint?.Address, port: instance?.Endpoint?.Port, database: instance?.DBName };
    }
    const { DBClusters = [] } = await client.send(new DescribeDBClustersCommand({ DBClusterIdentifier: resource.clusterIdentifier }));
    const cluster = DBClusters[0];
    return { host: cluster?.Endpoint, port: cluster?.Port, database: cluster?.DatabaseName };
  } catch (error) {
    const { name, message } = error as Error;
    throw new LifelineError('DatabaseUnreachable', `describing RDS ${describeRdsResource(resource)} failed: ${name}: ${message}`);
  }
}
