import {
  DescribeDBClustersCommand,
  DescribeDBInstanceAutomatedBackupsCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { PitrRequest } from '../../../../lambdas/core/pitr/state.js';
import { assertWithinWindow, resolveRestorePoint, restorableWindow } from '../../../../lambdas/core/pitr/window.js';

const rds = mockClient(RDSClient);
const client = new RDSClient({ region: 'us-east-1' });
const EARLIEST = new Date('2026-11-16T09:40:12Z');
const LATEST = new Date('2026-11-23T10:45:00Z');

function request(restorePoint: PitrRequest['restorePoint'], kind: 'instance' | 'cluster' = 'instance'): PitrRequest {
  return { source: { kind, identifier: 'shop-production' }, restorePoint } as PitrRequest;
}

beforeEach(() => {
  rds.reset();
  rds.on(DescribeDBInstancesCommand).resolves({
    DBInstances: [
      {
        DBInstanceIdentifier: 'shop-production',
        BackupRetentionPeriod: 7,
        LatestRestorableTime: LATEST,
        InstanceCreateTime: new Date('2025-01-01T00:00:00Z'),
        DbiResourceId: 'db-ABC',
      },
    ],
  });
  rds.on(DescribeDBInstanceAutomatedBackupsCommand).resolves({
    DBInstanceAutomatedBackups: [{ DbiResourceId: 'db-ABC', RestoreWindow: { EarliestTime: EARLIEST, LatestTime: LATEST } }],
  });
});

describe("a source's restorable window", () => {
  it("takes an instance's earliest from its automated backups' RestoreWindow and its latest from the instance", async () => {
    expect(await restorableWindow(client, request({ kind: 'latest' }).source)).toEqual({
      earliest: EARLIEST,
      latest: LATEST,
      estimated: false,
    });
  });

  it('estimates the earliest from the retention when RDS reports no RestoreWindow, and says so', async () => {
    rds.on(DescribeDBInstanceAutomatedBackupsCommand).resolves({ DBInstanceAutomatedBackups: [] });
    const window = await restorableWindow(client, request({ kind: 'latest' }).source);
    expect(window).toEqual({ earliest: new Date(LATEST.getTime() - 7 * 86_400_000), latest: LATEST, estimated: true });
  });

  it("reads an Aurora cluster's from the cluster", async () => {
    rds.on(DescribeDBClustersCommand).resolves({
      DBClusters: [
        {
          DBClusterIdentifier: 'shop-production',
          BackupRetentionPeriod: 1,
          EarliestRestorableTime: EARLIEST,
          LatestRestorableTime: LATEST,
        },
      ],
    });
    expect(await restorableWindow(client, request({ kind: 'latest' }, 'cluster').source)).toEqual({
      earliest: EARLIEST,
      latest: LATEST,
      estimated: false,
    });
  });

  it('refuses a time before or after it, naming the window; its bounds are inside', () => {
    const window = { earliest: EARLIEST, latest: LATEST, estimated: false };
    expect(() => assertWithinWindow(EARLIEST, window, 'shop')).not.toThrow();
    expect(() => assertWithinWindow(LATEST, window, 'shop')).not.toThrow();
    expect(() => assertWithinWindow(new Date('2026-11-16T09:40:11Z'), window, 'shop')).toThrow(
      "restorePoint: 2026-11-16T09:40:11.000Z is outside shop's restorable window, 2026-11-16T09:40:12.000Z to 2026-11-23T10:45:00.000Z; nothing was created",
    );
    expect(() => assertWithinWindow(new Date('2026-11-23T10:45:01Z'), window, 'shop')).toThrow(/OutsideRestorableWindow|outside/);
  });

  it('refuses an instance without automated backups with OutsideRestorableWindow', async () => {
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ DBInstanceIdentifier: 'shop-production', BackupRetentionPeriod: 0 }] });
    await expect(resolveRestorePoint(client, request({ kind: 'time', time: '2026-11-20T00:00:00Z' }))).rejects.toMatchObject({
      name: 'OutsideRestorableWindow',
    });
  });

  it('resolves the latest available snapshot of the requested type, of the source only', async () => {
    rds.on(DescribeDBSnapshotsCommand).resolves({
      DBSnapshots: [
        {
          DBSnapshotIdentifier: 'old',
          DBInstanceIdentifier: 'shop-production',
          Status: 'available',
          SnapshotCreateTime: new Date('2026-11-20T00:00:00Z'),
        },
        {
          DBSnapshotIdentifier: 'new',
          DBInstanceIdentifier: 'shop-production',
          Status: 'available',
          SnapshotCreateTime: new Date('2026-11-22T00:00:00Z'),
        },
        {
          DBSnapshotIdentifier: 'newest-creating',
          DBInstanceIdentifier: 'shop-production',
          Status: 'creating',
          SnapshotCreateTime: new Date('2026-11-23T00:00:00Z'),
        },
      ],
    });
    const point = await resolveRestorePoint(client, request({ kind: 'latest-snapshot', type: 'automated' }));
    expect(point).toMatchObject({ kind: 'snapshot', snapshot: 'new', time: '2026-11-22T00:00:00.000Z' });
    expect(rds.commandCalls(DescribeDBSnapshotsCommand)[0]!.args[0].input).toEqual({
      DBInstanceIdentifier: 'shop-production',
      SnapshotType: 'automated',
    });
  });

  it('refuses a named snapshot of another instance', async () => {
    rds.on(DescribeDBSnapshotsCommand).resolves({
      DBSnapshots: [{ DBSnapshotIdentifier: 'theirs', DBInstanceIdentifier: 'billing', Status: 'available' }],
    });
    await expect(resolveRestorePoint(client, request({ kind: 'snapshot', identifier: 'theirs' }))).rejects.toThrow(
      'restorePoint: shop-production has no snapshot theirs; nothing was created',
    );
  });
});
