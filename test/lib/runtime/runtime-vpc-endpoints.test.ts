import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../lib/config/load.js';
import { exampleConfig, exampleJson, synthesize } from '../../support/stacks.js';

/** The vault stack, which holds the endpoints of every network that asks for them. */
let vault: Template;
beforeAll(() => {
  vault = synthesize(exampleConfig()).vaultTemplate;
});

describe('VPC endpoints', () => {
  it("admit HTTPS from the VPC's CIDR blocks: with private DNS, every workload in the VPC reaches Secrets Manager through them", () => {
    const endpointGroup = { 'Fn::GetAtt': [Match.stringLikeRegexp('^EndpointsanalyticsSecurityGroup'), 'GroupId'] };
    const rules = (template: Template) =>
      Object.values(template.findResources('AWS::EC2::SecurityGroupIngress', { Properties: { GroupId: endpointGroup } })).map(
        (rule) => rule.Properties,
      );
    const https = { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, GroupId: expect.anything(), Description: expect.any(String) };
    expect(rules(vault)).toEqual([{ ...https, CidrIp: '10.1.0.0/16' }]);

    const json = exampleJson();
    json.networks[1].createEndpoints.vpcCidrs = ['10.1.0.0/16', '100.64.0.0/24'];
    const twoBlocks = synthesize(parseConfig(json)).vaultTemplate;
    expect(rules(twoBlocks)).toEqual([
      { ...https, CidrIp: '10.1.0.0/16' },
      { ...https, CidrIp: '100.64.0.0/24' },
    ]);
  });

  it("give a restore runner in a network without NAT what its Fargate task needs to start (ECR's API and registry, CloudWatch Logs) and to check an in-place approval (Step Functions)", () => {
    for (const service of ['ecr.api', 'ecr.dkr', 'logs', 'states']) {
      vault.hasResourceProperties('AWS::EC2::VPCEndpoint', {
        VpcId: 'vpc-1a1b2c3d4e5f67890',
        VpcEndpointType: 'Interface',
        ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, `.${service}`]] },
        SubnetIds: ['subnet-2a1b2c3d4e5f67890'],
        PrivateDnsEnabled: true,
        SecurityGroupIds: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^EndpointsanalyticsSecurityGroup'), 'GroupId'] }],
      });
    }
  });

  it('are created only where the config asks: an S3 gateway and private interfaces (Secrets Manager, ECR, Logs, Step Functions)', () => {
    vault.resourceCountIs('AWS::EC2::VPCEndpoint', 6);
    vault.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcId: 'vpc-1a1b2c3d4e5f67890',
      VpcEndpointType: 'Gateway',
      ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.s3']] },
      RouteTableIds: ['rtb-0a1b2c3d4e5f67890'],
    });
    vault.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcId: 'vpc-1a1b2c3d4e5f67890',
      VpcEndpointType: 'Interface',
      ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.secretsmanager']] },
      SubnetIds: ['subnet-2a1b2c3d4e5f67890'],
      PrivateDnsEnabled: true,
      SecurityGroupIds: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^EndpointsanalyticsSecurityGroup'), 'GroupId'] }],
    });
    vault.hasResourceProperties('AWS::EC2::SecurityGroup', {
      VpcId: 'vpc-1a1b2c3d4e5f67890',
      SecurityGroupIngress: Match.absent(),
      SecurityGroupEgress: [
        { IpProtocol: 'icmp', FromPort: 252, ToPort: 86, CidrIp: '255.255.255.255/32', Description: 'Disallow all traffic' },
      ],
    });
  });
});
