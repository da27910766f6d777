import { Aws } from 'aws-cdk-lib';
import { CfnSecurityGroup, CfnSecurityGroupIngress, CfnVPCEndpoint } from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';

/** Construct id and service of each interface endpoint (Secrets Manager's id predates the others). */
const INTERFACE_ENDPOINTS = [
  ['SecretsManager', 'secretsmanager'],
  ['EcrApi', 'ecr.api'],
  ['EcrRegistry', 'ecr.dkr'],
  ['Logs', 'logs'],
  // A restore runner asks Step Functions whether the execution of an in-place job approved it; the network steps
  // function whether the execution that marked a target still runs.
  ['StepFunctions', 'states'],
] as const;

export interface RuntimeVpcEndpointsProps {
  readonly vpcId: string;
  /** Subnets for the interface endpoints' network interfaces, at most one per availability zone. */
  readonly subnetIds: readonly string[];
  /** Route tables of those subnets, which get the S3 gateway route. */
  readonly routeTableIds: readonly string[];
  /** The VPC's CIDR blocks, admitted to the interface endpoints. */
  readonly vpcCidrs: readonly string[];
}

/**
 * What a VPC without NAT needs for the runtime: an S3 gateway endpoint and, with private DNS, interface endpoints for
 * Secrets Manager (functions and runners read database secrets), for what a restore runner's Fargate task needs to
 * start at all: ECR's API and registry (its image) and CloudWatch Logs (its log driver), and for Step Functions (a
 * runner reads the execution that approved an in-place restore; a restore's steps ask whether a mark's execution runs). Private DNS makes each the
 * VPC's endpoint of its service for every workload in it, so they admit HTTPS from the whole VPC. Do not use in a
 * VPC that already has any of these endpoints.
 */
export class RuntimeVpcEndpoints extends Construct {
  /** The runtime's security groups (RuntimeNetwork) get an ingress rule on this one. */
  readonly securityGroupId: string;

  constructor(scope: Construct, id: string, props: RuntimeVpcEndpointsProps) {
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
    // Separate rules, like the runtime's own on this group: CloudFormation must not mix them with inline ones.
    props.vpcCidrs.forEach((cidr, i) => {
      new CfnSecurityGroupIngress(this, `VpcIngress${i}`, {
        groupId: group.attrGroupId,
        cidrIp: cidr,
        ipProtocol: 'tcp',
        fromPort: 443,
        toPort: 443,
        description: 'Secrets Manager from the VPC (the endpoint answers its private DNS name)',
      });
    });
    for (const [id, service] of INTERFACE_ENDPOINTS) {
      new CfnVPCEndpoint(this, id, {
        vpcId: props.vpcId,
        serviceName: `com.amazonaws.${Aws.REGION}.${service}`,
        vpcEndpointType: 'Interface',
        subnetIds: [...props.subnetIds],
        securityGroupIds: [group.attrGroupId],
        privateDnsEnabled: true,
      });
    }
  }
}
