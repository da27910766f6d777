import type { DBCluster, DBInstance } from '@aws-sdk/client-rds';
import { describe, expect, it } from 'vitest';
import {
  clusterPointInTimeRequest,
  instanceModifyRequest,
  instancePointInTimeRequest,
  instanceSnapshotRequest,
  restoreTags,
  writerIdentifier,
  writerRequest,
} from '../../../../lambdas/core/pitr/requests.js';
import { PITR_EXECUTION_TAG } from '../../../../lambdas/core/pitr/state.js';

const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:lifeline-pitr:run-1';
const SOURCE: DBInstance = {
  DBInstanceIdentifier: 'shop-production',
  DBInstanceClass: 'db.r6g.large',
  DBSubnetGroup: { DBSubnetGroupName: 'shop-private' },
  VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-1', Status: 'active' }],
  DBParameterGroups: [{ DBParameterGroupName: 'shop-pg16' }],
  OptionGroupMemberships: [{ OptionGroupName: 'shop-options' }],
  MultiAZ: true,
  DeletionProtection: true,
  IAMDatabaseAuthenticationEnabled: true,
  StorageType: 'gp3',
  AllocatedStorage: 500,
  Iops: 12000,
  StorageThroughput: 500,
  CopyTagsToSnapshot: true,
  Endpoint: { Address: 'shop.x.rds.amazonaws.com', Port: 5433 },
  MonitoringInterval: 15,
  MonitoringRoleArn: 'arn:aws:iam::123456789012:role/rds-monitoring',
  PerformanceInsightsEnabled: true,
  PerformanceInsightsKMSKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/pi',
  PerformanceInsightsRetentionPeriod: 731,
  PreferredMaintenanceWindow: 'sun:03:00-sun:04:00',
  PreferredBackupWindow: '01:00-01:30',
  BackupRetentionPeriod: 14,
  CACertificateIdentifier: 'rds-ca-ecc384-g1',
  TagList: [
    { Key: 'team', Value: 'shop' },
    { Key: 'aws:cloudformation:stack-name', Value: 'db' },
  ],
};

describe('the requests that restore a source with its settings passed explicitly', () => {
  const tags = restoreTags(SOURCE.TagList, 'lifeline', EXECUTION);

  it("tags with the source's own tags (never AWS's), the deployment and this execution", () => {
    expect(tags).toEqual([
      { Key: 'team', Value: 'shop' },
      { Key: 'lifeline', Value: 'lifeline' },
      { Key: PITR_EXECUTION_TAG, Value: EXECUTION },
    ]);
  });

  it('passes every setting RDS would otherwise reset to its default in the point-in-time restore', () => {
    const request = instancePointInTimeRequest(SOURCE, 'shop-pitr-1', { kind: 'time', time: '2026-11-23T09:41:00Z' }, tags);
    expect(request).toEqual({
      SourceDBInstanceIdentifier: 'shop-production',
      TargetDBInstanceIdentifier: 'shop-pitr-1',
      RestoreTime: new Date('2026-11-23T09:41:00Z'),
      DBInstanceClass: 'db.r6g.large',
      DBSubnetGroupName: 'shop-private',
      VpcSecurityGroupIds: ['sg-1'],
      DBParameterGroupName: 'shop-pg16',
      OptionGroupName: 'shop-options',
      MultiAZ: true,
      DeletionProtection: true,
      EnableIAMDatabaseAuthentication: true,
      StorageType: 'gp3',
      Iops: 12000,
      StorageThroughput: 500,
      CopyTagsToSnapshot: true,
      Port: 5433,
      Tags: tags,
    });
    expect(instancePointInTimeRequest(SOURCE, 'shop-pitr-1', { kind: 'latest', time: null }, tags)).toMatchObject({
      UseLatestRestorableTime: true,
    });
  });

  it('leaves out the fixed IOPS and throughput of gp3 storage below 400 GiB, which RDS refuses to be given', () => {
    const small = instancePointInTimeRequest(
      { ...SOURCE, AllocatedStorage: 100, Iops: 3000, StorageThroughput: 125 },
      't',
      { kind: 'latest', time: null },
      tags,
    );
    expect(small.Iops).toBeUndefined();
    expect(small.StorageThroughput).toBeUndefined();
    expect(small.StorageType).toBe('gp3');
  });

  it('passes the same settings to a snapshot restore', () => {
    expect(instanceSnapshotRequest(SOURCE, 'shop-pitr-2', 'rds:shop-2026-11-23', tags)).toMatchObject({
      DBInstanceIdentifier: 'shop-pitr-2',
      DBSnapshotIdentifier: 'rds:shop-2026-11-23',
      DBSubnetGroupName: 'shop-private',
      VpcSecurityGroupIds: ['sg-1'],
      MultiAZ: true,
    });
  });

  it('modifies what a restore cannot take once available, with a managed master secret', () => {
    expect(instanceModifyRequest(SOURCE, 'shop-pitr-1')).toEqual({
      DBInstanceIdentifier: 'shop-pitr-1',
      ApplyImmediately: true,
      ManageMasterUserPassword: true,
      MonitoringInterval: 15,
      MonitoringRoleArn: 'arn:aws:iam::123456789012:role/rds-monitoring',
      EnablePerformanceInsights: true,
      PerformanceInsightsKMSKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/pi',
      PerformanceInsightsRetentionPeriod: 731,
      PreferredMaintenanceWindow: 'sun:03:00-sun:04:00',
      PreferredBackupWindow: '01:00-01:30',
      BackupRetentionPeriod: 14,
      CACertificateIdentifier: 'rds-ca-ecc384-g1',
    });
  });

  it('never passes monitoring or Performance Insights to an Aurora cluster restore; its writer takes them', () => {
    const cluster: DBCluster = {
      DBClusterIdentifier: 'ledger',
      DBSubnetGroup: 'ledger-private',
      VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-2' }],
      DBClusterParameterGroup: 'ledger-cluster',
      StorageEncrypted: true,
      KmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/ledger',
      Port: 5432,
    };
    const request = clusterPointInTimeRequest(cluster, 'ledger-pitr-1', { kind: 'latest', time: null }, tags);
    expect(request).toMatchObject({
      SourceDBClusterIdentifier: 'ledger',
      DBClusterIdentifier: 'ledger-pitr-1',
      RestoreType: 'full-copy',
      UseLatestRestorableTime: true,
      DBSubnetGroupName: 'ledger-private',
      VpcSecurityGroupIds: ['sg-2'],
      DBClusterParameterGroupName: 'ledger-cluster',
      KmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/ledger',
    });
    expect(Object.keys(request).filter((key) => /Monitoring|PerformanceInsights/.test(key))).toEqual([]);
    expect(writerRequest({ ...SOURCE, DBInstanceClass: 'db.r6g.xlarge' }, 'ledger-pitr-1', tags)).toMatchObject({
      DBInstanceIdentifier: 'ledger-pitr-1-writer',
      DBClusterIdentifier: 'ledger-pitr-1',
      Engine: 'aurora-postgresql',
      DBInstanceClass: 'db.r6g.xlarge',
      DBParameterGroupName: 'shop-pg16',
      MonitoringInterval: 15,
      EnablePerformanceInsights: true,
      CACertificateIdentifier: 'rds-ca-ecc384-g1',
    });
  });

  it("keeps the writer's identifier within RDS's 63 characters", () => {
    const id = writerIdentifier(`a${'b'.repeat(62)}`);
    expect(id).toHaveLength(63);
    expect(id.endsWith('-writer')).toBe(true);
  });
});
