import { Aws, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { nagResource } from '../nag-findings.js';

const ec2Arn = (resource: string) => `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
const NETWORK_INTERFACES = ec2Arn('network-interface/*');

/** What Lambda needs to place a function in a VPC: it creates the function's network interfaces with the function's own role. */
export function vpcFunctionStatements(securityGroupId: string, subnetIds: readonly string[]): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      sid: 'CreateNetworkInterfaces',
      actions: ['ec2:CreateNetworkInterface'],
      resources: [
        NETWORK_INTERFACES,
        ec2Arn(`security-group/${securityGroupId}`),
        ...subnetIds.map((subnet) => ec2Arn(`subnet/${subnet}`)),
      ],
    }),
    new iam.PolicyStatement({
      sid: 'ManageNetworkInterfaces',
      actions: ['ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
      resources: [NETWORK_INTERFACES],
    }),
    new iam.PolicyStatement({
      sid: 'DescribeNetwork',
      actions: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'],
      resources: ['*'],
    }),
  ];
}

/**
 * Why cdk-nag's wildcard findings on those statements are accepted, on the role that holds them. A finding is
 * acknowledged once per role: `unscopedCalls` are the reasons for the role's other calls on `*`, said in the same one.
 */
export function acknowledgeVpcFunctionStatements(role: iam.Role, unscopedCalls: readonly string[] = []): void {
  const acknowledge = (resource: string, reason: string) =>
    Validations.of(role).acknowledge({ id: `AwsSolutions-IAM5[${nagResource(role, resource)}]`, reason });
  acknowledge(NETWORK_INTERFACES, 'Network interfaces get their ids when Lambda creates them; the subnets and security group are named.');
  acknowledge(
    '*',
    ['ec2:DescribeNetworkInterfaces and ec2:DescribeSubnets support no resource-level permissions.', ...unscopedCalls].join(' '),
  );
}
