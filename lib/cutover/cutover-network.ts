import { CfnSecurityGroupEgress, type ISecurityGroup } from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import { LifelineError } from '../../lambdas/core/errors.js';
import type { DatabaseConfig, LifelineConfig, NetworkConfig } from '../config/schema.js';
import { RuntimeNetwork } from '../runtime/runtime-network.js';

/**
 * The one network the cutover steps run in: that of the applications' databases, from which their health URLs
 * must be reachable too. Applications whose databases lie in different networks fail the synth.
 */
export function applicationsNetwork(config: LifelineConfig): NetworkConfig {
  const networkOf = (app: LifelineConfig['applications'][number]) => config.databases.find((db) => db.name === app.database)!.network;
  const names = [...new Set(config.applications.map(networkOf))];
  if (names.length > 1) {
    const listed = names.map((name) => {
      const apps = config.applications.filter((app) => networkOf(app) === name).map((app) => app.name);
      return `"${name}" (${apps.join(', ')})`;
    });
    throw new LifelineError(
      'InvalidConfig',
      `applications: the cutover workflow supports one network per deployment for now, and these applications' databases are in ${listed.length} networks: ${listed.join(', ')}; configure only the applications of one network`,
    );
  }
  return config.networks.find((network) => network.name === names[0])!;
}

/** A health URL's port: the one it names, else its scheme's. */
export function healthCheckPort(url: string): number {
  const parsed = new URL(url);
  return parsed.port === '' ? (parsed.protocol === 'https:' ? 443 : 80) : Number(parsed.port);
}

export interface CutoverNetworkProps {
  readonly vpcId: string;
  /** The applications' databases: the old side of a switch, and the servers the new side is on. */
  readonly databases: readonly DatabaseConfig[];
  readonly healthCheckUrls: readonly string[];
  /** The Secrets Manager endpoint's security group, when Lifeline created the VPC endpoints. */
  readonly endpointSecurityGroupId?: string;
}

/**
 * The cutover steps' security group: out to the databases (with an ingress rule on each database's group) and to
 * HTTPS, like the backups' (RuntimeNetwork), and to each other port a health URL names.
 */
export class CutoverNetwork extends Construct {
  readonly securityGroup: ISecurityGroup;

  constructor(scope: Construct, id: string, props: CutoverNetworkProps) {
    super(scope, id);
    const network = new RuntimeNetwork(this, 'Network', {
      vpcId: props.vpcId,
      databases: props.databases,
      endpointSecurityGroupId: props.endpointSecurityGroupId,
      usedBy: { group: 'Lifeline cutover steps', rules: 'Lifeline cutovers' },
    });
    this.securityGroup = network.securityGroup;
    // HTTPS is open already; a health URL's host is the application's, known by name only, so any address.
    const ports = [...new Set(props.healthCheckUrls.map(healthCheckPort))].filter((port) => port !== 443).sort((a, b) => a - b);
    for (const port of ports) {
      new CfnSecurityGroupEgress(this, `HealthCheck${port}`, {
        groupId: this.securityGroup.securityGroupId,
        ipProtocol: 'tcp',
        fromPort: port,
        toPort: port,
        cidrIp: '0.0.0.0/0',
        description: `Application health checks on port ${port}`,
      });
    }
  }
}
