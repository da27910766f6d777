import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import { CfnSecurityGroup, CfnSecurityGroupIngress, SecurityGroup } from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';

export interface DatabaseEndpoint {
  /** The database's security group. */
  readonly securityGroupId: string;
  readonly port: number;
}

export interface RuntimeNetworkProps {
  readonly vpcId: string;
  readonly databases: readonly DatabaseEndpoint[];
  /** The Secrets Manager endpoint's security group, when Lifeline created the VPC endpoints. */
  readonly endpointSecurityGroupId?: string;
  /** Who uses the group, in its and its rules' descriptions. */
  readonly usedBy: { group: string; rules: string };
}

/**
 * A runtime's security group in one VPC: out to the databases' security groups on their ports and to HTTPS (S3
 * and Secrets Manager, through NAT or VPC endpoints), and an ingress rule on each database's security group that
 * lets it in. The backups stack's group also serves the restore group beside it: a group of its own would add a
 * rule to every database's security group per backups stack, and their quota is 60.
 */
export class RuntimeNetwork extends Construct {
  readonly securityGroup: ec2.ISecurityGroup;

  constructor(scope: Construct, id: string, props: RuntimeNetworkProps) {
    super(scope, id);
    const { usedBy } = props;
    const targets = [...new Map(props.databases.map((db) => [`${db.securityGroupId}:${db.port}`, db])).values()];
    // Rules inline in the group: one resource, however many databases.
    const group = new CfnSecurityGroup(this, 'SecurityGroup', {
      vpcId: props.vpcId,
      groupDescription: usedBy.group,
      securityGroupEgress: [
        { ipProtocol: 'tcp', fromPort: 443, toPort: 443, cidrIp: '0.0.0.0/0', description: 'S3 and Secrets Manager APIs' },
        ...targets.map((db) => ({
          ipProtocol: 'tcp',
          fromPort: db.port,
          toPort: db.port,
          destinationSecurityGroupId: db.securityGroupId,
          description: 'PostgreSQL',
        })),
      ],
    });
    this.securityGroup = SecurityGroup.fromSecurityGroupId(this, 'Imported', group.attrGroupId, { mutable: false });

    targets.forEach((db, i) => {
      new CfnSecurityGroupIngress(this, `DatabaseIngress${i}`, {
        groupId: db.securityGroupId,
        sourceSecurityGroupId: group.attrGroupId,
        ipProtocol: 'tcp',
        fromPort: db.port,
        toPort: db.port,
        description: `PostgreSQL from ${usedBy.rules}`,
      });
    });
    // The endpoint also admits the VPC's CIDR blocks; this rule keeps the runtime working should that list miss one.
    if (props.endpointSecurityGroupId !== undefined) {
      new CfnSecurityGroupIngress(this, 'EndpointIngress', {
        groupId: props.endpointSecurityGroupId,
        sourceSecurityGroupId: group.attrGroupId,
        ipProtocol: 'tcp',
        fromPort: 443,
        toPort: 443,
        description: `Secrets Manager from ${usedBy.rules}`,
      });
    }
  }
}
