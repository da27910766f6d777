import {
  DescribeDBClusterSnapshotsCommand,
  DescribeDBClustersCommand,
  DescribeDBInstanceAutomatedBackupsCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  type DBCluster,
  type DBInstance,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { LifelineError } from '../errors.js';
import type { PitrRequest, ResolvedPoint } from './state.js';

const DAY_MS = 86_400_000;

/** The moments a source can be restored to: earliest and latest restorable time (null where RDS says nothing). */
export interface RestorableWindow {
  earliest: Date | null;
  latest: Date | null;
  /** Whether `earliest` was derived (creation time, retention) rather than reported by RDS. */
  estimated: boolean;
}

export async function describeSourceInstance(rds: RDSClient, identifier: string): Promise<DBInstance> {
  const { DBInstances } = await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }));
  const instance = DBInstances?.[0];
  if (!instance) throw new LifelineError('InvalidConfig', `RDS instance ${identifier} was not found`);
  return instance;
}

export async function describeSourceCluster(rds: RDSClient, identifier: string): Promise<DBCluster> {
  const { DBClusters } = await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: identifier }));
  const cluster = DBClusters?.[0];
  if (!cluster) throw new LifelineError('InvalidConfig', `Aurora cluster ${identifier} was not found`);
  return cluster;
}

/**
 * The source's restorable window. An instance reports its latest restorable time, and its automated backups their
 * RestoreWindow's earliest; without one, the earliest is estimated as the later of the instance's creation and its
 * backup retention before the latest. A cluster reports both.
 */
export async function restorableWindow(rds: RDSClient, source: PitrRequest['source']): Promise<RestorableWindow> {
  if (source.kind === 'cluster') {
    const cluster = await describeSourceCluster(rds, source.identifier);
    if (!cluster.BackupRetentionPeriod) {
      throw new LifelineError(
        'OutsideRestorableWindow',
        `Aurora cluster ${source.identifier} keeps no backups: it has no restorable window`,
      );
    }
    return { earliest: cluster.EarliestRestorableTime ?? null, latest: cluster.LatestRestorableTime ?? null, estimated: false };
  }
  const instance = await describeSourceInstance(rds, source.identifier);
  if (!instance.BackupRetentionPeriod) {
    throw new LifelineError(
      'OutsideRestorableWindow',
      `RDS instance ${source.identifier} has automated backups off (BackupRetentionPeriod 0): it has no restorable window; restore a snapshot`,
    );
  }
  const latest = instance.LatestRestorableTime ?? null;
  const { DBInstanceAutomatedBackups } = await rds.send(
    new DescribeDBInstanceAutomatedBackupsCommand({ DBInstanceIdentifier: source.identifier }),
  );
  const reported = (DBInstanceAutomatedBackups ?? [])
    .filter((backup) => backup.DbiResourceId === undefined || backup.DbiResourceId === instance.DbiResourceId)
    .map((backup) => backup.RestoreWindow?.EarliestTime)
    .filter((time): time is Date => time instanceof Date);
  if (reported.length > 0) return { earliest: new Date(Math.min(...reported.map(Number))), latest, estimated: false };
  const retained = latest ? new Date(latest.getTime() - instance.BackupRetentionPeriod * DAY_MS) : null;
  const created = instance.InstanceCreateTime ?? null;
  const earliest = created && retained ? (created > retained ? created : retained) : (created ?? retained);
  return { earliest, latest, estimated: true };
}

const iso = (time: Date | null) => (time ? time.toISOString() : 'unknown');

/** "2026-11-16T09:40:12.000Z to 2026-11-23T10:45:00.000Z" */
export function describeWindow(window: RestorableWindow): string {
  return `${iso(window.earliest)}${window.estimated ? ' (estimated)' : ''} to ${iso(window.latest)}`;
}

/** OutsideRestorableWindow naming the window, when `time` is not within it. */
export function assertWithinWindow(time: Date, window: RestorableWindow, source: string): void {
  const before = window.earliest !== null && time < window.earliest;
  const after = window.latest !== null ? time > window.latest : true;
  if (before || after) {
    const unknown = window.latest === null ? ' (RDS reports no latest restorable time: are automated backups on?)' : '';
    throw new LifelineError(
      'OutsideRestorableWindow',
      `restorePoint: ${time.toISOString()} is outside ${source}'s restorable window, ${describeWindow(window)}${unknown}; nothing was created`,
    );
  }
}

interface SnapshotFound {
  identifier: string;
  createdAt: Date | undefined;
}

/** The snapshot the request names, or the newest available automated or manual one, of the source only. */
export async function findSnapshot(rds: RDSClient, request: PitrRequest): Promise<SnapshotFound> {
  const { source, restorePoint } = request;
  if (restorePoint.kind !== 'snapshot' && restorePoint.kind !== 'latest-snapshot') {
    throw new LifelineError('InvalidInput', 'restorePoint: not a snapshot');
  }
  const named = restorePoint.kind === 'snapshot' ? restorePoint.identifier : undefined;
  const type = restorePoint.kind === 'latest-snapshot' ? restorePoint.type : undefined;
  let found: (SnapshotFound & { status?: string; of?: string })[];
  try {
    if (source.kind === 'cluster') {
      const { DBClusterSnapshots } = await rds.send(
        new DescribeDBClusterSnapshotsCommand(
          named ? { DBClusterSnapshotIdentifier: named } : { DBClusterIdentifier: source.identifier, SnapshotType: type },
        ),
      );
      found = (DBClusterSnapshots ?? []).map((s) => ({
        identifier: s.DBClusterSnapshotIdentifier ?? '',
        createdAt: s.SnapshotCreateTime,
        status: s.Status,
        of: s.DBClusterIdentifier,
      }));
    } else {
      const { DBSnapshots } = await rds.send(
        new DescribeDBSnapshotsCommand(
          named ? { DBSnapshotIdentifier: named } : { DBInstanceIdentifier: source.identifier, SnapshotType: type },
        ),
      );
      found = (DBSnapshots ?? []).map((s) => ({
        identifier: s.DBSnapshotIdentifier ?? '',
        createdAt: s.SnapshotCreateTime,
        status: s.Status,
        of: s.DBInstanceIdentifier,
      }));
    }
  } catch (error) {
    if (/SnapshotNotFound/.test((error as Error).name)) found = [];
    else throw error;
  }
  const usable = found.filter((s) => s.of === source.identifier && s.status === 'available');
  const what = named ? `snapshot ${named}` : `an available ${type} snapshot`;
  if (usable.length === 0) {
    throw new LifelineError('InvalidInput', `restorePoint: ${source.identifier} has no ${what}; nothing was created`);
  }
  usable.sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0));
  return usable[0]!;
}

/**
 * The restore point, checked against the source before anything is created: a time within the restorable window,
 * the latest restorable time (which must exist), or an available snapshot of the source.
 */
export async function resolveRestorePoint(rds: RDSClient, request: PitrRequest): Promise<Omit<ResolvedPoint, 'timing'>> {
  const { restorePoint, source } = request;
  const what = `${source.kind === 'cluster' ? 'Aurora cluster' : 'RDS instance'} ${source.identifier}`;
  if (restorePoint.kind === 'snapshot' || restorePoint.kind === 'latest-snapshot') {
    const snapshot = await findSnapshot(rds, request);
    return {
      kind: 'snapshot',
      time: snapshot.createdAt?.toISOString() ?? null,
      snapshot: snapshot.identifier,
      window: { earliest: null, latest: null },
    };
  }
  const window = await restorableWindow(rds, source);
  const named = { earliest: window.earliest?.toISOString() ?? null, latest: window.latest?.toISOString() ?? null };
  if (restorePoint.kind === 'latest') {
    if (!window.latest) {
      throw new LifelineError('OutsideRestorableWindow', `restorePoint: ${what} reports no latest restorable time; nothing was created`);
    }
    return { kind: 'latest', time: window.latest.toISOString(), snapshot: null, window: named };
  }
  const time = new Date(restorePoint.time);
  assertWithinWindow(time, window, what);
  return { kind: 'time', time: time.toISOString(), snapshot: null, window: named };
}
