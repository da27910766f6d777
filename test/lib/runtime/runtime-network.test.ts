import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, it } from 'vitest';
import { exampleConfig, synthesize } from '../../support/stacks.js';

/** The backups stack, whose security group in each network reaches that network's databases. */
let backups: Template;
beforeAll(() => {
  backups = synthesize(exampleConfig()).backupsTemplates[0]!;
});

const importOf = (exportName: RegExp) => ({ 'Fn::ImportValue': Match.stringLikeRegexp(exportName.source) });
const getAtt = (logicalIdPrefix: string, attribute: string) => ({
  'Fn::GetAtt': [Match.stringLikeRegexp(`^${logicalIdPrefix}`), attribute],
});

describe("the network rules of the backups' security group", () => {
  it("let the backup security group out only to HTTPS and to each database's group on its port", () => {
    backups.hasResourceProperties('AWS::EC2::SecurityGroup', {
      VpcId: 'vpc-0a1b2c3d4e5f67890',
      GroupDescription: 'Lifeline backup functions',
      SecurityGroupIngress: Match.absent(),
      SecurityGroupEgress: [
        { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, CidrIp: '0.0.0.0/0', Description: 'S3 and Secrets Manager APIs' },
        { IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, DestinationSecurityGroupId: 'sg-0a1b2c3d4e5f67890', Description: 'PostgreSQL' },
        { IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, DestinationSecurityGroupId: 'sg-2a1b2c3d4e5f67890', Description: 'PostgreSQL' },
      ],
    });
    backups.hasResourceProperties('AWS::EC2::SecurityGroup', {
      VpcId: 'vpc-1a1b2c3d4e5f67890',
      SecurityGroupEgress: [
        Match.objectLike({ FromPort: 443, CidrIp: '0.0.0.0/0' }),
        { IpProtocol: 'tcp', FromPort: 5433, ToPort: 5433, DestinationSecurityGroupId: 'sg-1a1b2c3d4e5f67890', Description: 'PostgreSQL' },
      ],
    });
  });

  it("open each database's security group to the backup security group on the database port", () => {
    backups.resourceCountIs('AWS::EC2::SecurityGroupIngress', 4);
    for (const [groupId, port, network] of [
      ['sg-0a1b2c3d4e5f67890', 5432, 'production'],
      ['sg-2a1b2c3d4e5f67890', 5432, 'production'],
      ['sg-1a1b2c3d4e5f67890', 5433, 'analytics'],
    ] as const) {
      backups.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
        GroupId: groupId,
        SourceSecurityGroupId: getAtt(`Network${network}SecurityGroup`, 'GroupId'),
        IpProtocol: 'tcp',
        FromPort: port,
        ToPort: port,
      });
    }
  });

  it('open the Secrets Manager endpoint Lifeline created to the backup security group', () => {
    backups.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: importOf(/^lifeline-vault:ExportsOutputFnGetAttEndpointsanalyticsSecurityGroup/),
      SourceSecurityGroupId: getAtt('NetworkanalyticsSecurityGroup', 'GroupId'),
      IpProtocol: 'tcp',
      FromPort: 443,
      ToPort: 443,
    });
  });
});
