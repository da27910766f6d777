import { Aws } from 'aws-cdk-lib';
import { CfnSecurityGroup, CfnVPCEndpoint } from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';

export interface BackupVpcEndpointsProps {
  readonly vpcId: string;
  /** Subnets for the Secrets Manager endpoint's interfaces, at most one per availability zone. */
  readonly subnetIds: readonly string[];
  /** Route tables of those subnets, which get the S3 gateway route. */
  readonly routeTableIds: readonly string[];
}

/**
 * What a VPC without NAT needs for backups: an S3 gateway endpoint and a Secrets Manager interface endpoint
 * with private DNS. Do not use in a VPC that already has either.
 */
export class BackupVpcEndpoints extends Construct {
  /** Backup functions' security groups get an ingress rule on this one. */
  readonly securityGroupId: string;

  constructor(scope: Construct, id: string, props: BackupVpcEndpointsProps) {
    super(scope, id);
    new CfnVPCEndpoint(this, 'S3', {
      vpcId: props.vpcId,
      serviceName: `com.amazonaws.${Aws.REGION}.s3`,
      vpcEndpointType: 'Gateway',
      routeTableIds: [...props.routeTableIds],
    });
    const group = new CfnSecurityGroup(this, 'SecurityGroup', {
      vpcId: props.vpcId,
      groupDescription: 'Secrets Manager endpoint for Lifeline backups',
      // An endpoint only answers; this rule matches no traffic, so nothing goes out.
      securityGroupEgress: [
        { ipProtocol: 'icmp', fromPort: 252, toPort: 86, cidrIp: '255.255.255.255/32', description: 'Disallow all traffic' },
      ],
    });
    this.securityGroupId = group.attrGroupId;
    new CfnVPCEndpoint(this, 'SecretsManager', {
      vpcId: props.vpcId,
      serviceName: `com.amazonaws.${Aws.REGION}.secretsmanager`,
      vpcEndpointType: 'Interface',
      subnetIds: [...props.subnetIds],
      securityGroupIds: [group.attrGroupId],
      privateDnsEnabled: true,
    });
  }
}
