import type {
  CreateDBInstanceCommandInput,
  DBCluster,
  DBInstance,
  ModifyDBClusterCommandInput,
  ModifyDBInstanceCommandInput,
  RestoreDBClusterFromSnapshotCommandInput,
  RestoreDBClusterToPointInTimeCommandInput,
  RestoreDBInstanceFromDBSnapshotCommandInput,
  RestoreDBInstanceToPointInTimeCommandInput,
  Tag,
} from '@aws-sdk/client-rds';
import { DEPLOYMENT_TAG } from '../names.js';
import { MAX_RDS_IDENTIFIER_LENGTH } from './input.js';
import { PITR_EXECUTION_TAG, type ResolvedPoint } from './state.js';

/**
 * The requests that restore a source into a new identifier with the source's settings passed explicitly: RDS
 * falls back to defaults (security group, subnet group, parameter groups, single-AZ, no deletion protection, IAM
 * auth off, tags not copied) for whatever the request leaves out, and monitoring, Performance Insights, windows and
 * CA are set only by a modify once the restore is available.
 */

/** The source's own tags (never AWS's), this deployment's and this execution's. */
export function restoreTags(sourceTags: Tag[] | undefined, deployment: string, execution: string): Tag[] {
  const own = (sourceTags ?? []).filter(
    (tag) => tag.Key !== undefined && !tag.Key.startsWith('aws:') && tag.Key !== PITR_EXECUTION_TAG && tag.Key !== DEPLOYMENT_TAG,
  );
  return [...own, { Key: DEPLOYMENT_TAG, Value: deployment }, { Key: PITR_EXECUTION_TAG, Value: execution }];
}

/** Whether RDS's tag list marks a resource as this execution's. */
export function taggedBy(tags: Tag[] | undefined, execution: string): boolean {
  return (tags ?? []).some((tag) => tag.Key === PITR_EXECUTION_TAG && tag.Value === execution);
}

/** The named copied settings of a request, for the output: the fields it sets, never their values. */
export function copiedFields(request: object): string[] {
  return Object.entries(request)
    .filter(([, value]) => value !== undefined)
    .map(([key]) => key)
    .sort();
}

/** Drops undefined fields, so that a request says only what it sets. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

/** PostgreSQL on gp3 takes IOPS and throughput of its own from this size on. */
const GP3_PROVISIONED_FROM_GIB = 400;

/** An instance's settings that every instance restore takes. */
function instanceSettings(source: DBInstance, tags: Tag[]) {
  return defined({
    DBInstanceClass: source.DBInstanceClass,
    DBSubnetGroupName: source.DBSubnetGroup?.DBSubnetGroupName,
    VpcSecurityGroupIds: source.VpcSecurityGroups?.map((group) => group.VpcSecurityGroupId!).filter(Boolean),
    DBParameterGroupName: source.DBParameterGroups?.[0]?.DBParameterGroupName,
    OptionGroupName: source.OptionGroupMemberships?.[0]?.OptionGroupName,
    MultiAZ: source.MultiAZ,
    DeletionProtection: source.DeletionProtection,
    EnableIAMDatabaseAuthentication: source.IAMDatabaseAuthenticationEnabled,
    StorageType: source.StorageType,
    // gp3 below 400 GiB has fixed IOPS and throughput, which RDS refuses to be given (InvalidParameterCombination).
    Iops: source.StorageType === 'gp3' && (source.AllocatedStorage ?? 0) < GP3_PROVISIONED_FROM_GIB ? undefined : source.Iops,
    StorageThroughput:
      source.StorageType === 'gp3' && (source.AllocatedStorage ?? 0) >= GP3_PROVISIONED_FROM_GIB ? source.StorageThroughput : undefined,
    PubliclyAccessible: source.PubliclyAccessible,
    AutoMinorVersionUpgrade: source.AutoMinorVersionUpgrade,
    CopyTagsToSnapshot: source.CopyTagsToSnapshot,
    Port: source.Endpoint?.Port ?? source.DbInstancePort,
    EnableCloudwatchLogsExports: source.EnabledCloudwatchLogsExports?.length ? source.EnabledCloudwatchLogsExports : undefined,
    NetworkType: source.NetworkType,
    Tags: tags,
  });
}

export function instancePointInTimeRequest(
  source: DBInstance,
  target: string,
  point: Pick<ResolvedPoint, 'kind' | 'time'>,
  tags: Tag[],
): RestoreDBInstanceToPointInTimeCommandInput {
  return {
    SourceDBInstanceIdentifier: source.DBInstanceIdentifier,
    TargetDBInstanceIdentifier: target,
    ...(point.kind === 'latest' ? { UseLatestRestorableTime: true } : { RestoreTime: new Date(point.time!) }),
    ...instanceSettings(source, tags),
  };
}

export function instanceSnapshotRequest(
  source: DBInstance,
  target: string,
  snapshot: string,
  tags: Tag[],
): RestoreDBInstanceFromDBSnapshotCommandInput {
  return { DBInstanceIdentifier: target, DBSnapshotIdentifier: snapshot, ...instanceSettings(source, tags) };
}

/** A cluster's settings that every cluster restore takes; never monitoring or Performance Insights (InvalidParameterCombination). */
function clusterSettings(source: DBCluster, tags: Tag[]) {
  return defined({
    DBSubnetGroupName: source.DBSubnetGroup,
    VpcSecurityGroupIds: source.VpcSecurityGroups?.map((group) => group.VpcSecurityGroupId!).filter(Boolean),
    DBClusterParameterGroupName: source.DBClusterParameterGroup,
    DeletionProtection: source.DeletionProtection,
    EnableIAMDatabaseAuthentication: source.IAMDatabaseAuthenticationEnabled,
    CopyTagsToSnapshot: source.CopyTagsToSnapshot,
    Port: source.Port,
    StorageType: source.StorageType,
    KmsKeyId: source.StorageEncrypted ? source.KmsKeyId : undefined,
    EnableCloudwatchLogsExports: source.EnabledCloudwatchLogsExports?.length ? source.EnabledCloudwatchLogsExports : undefined,
    ServerlessV2ScalingConfiguration:
      source.ServerlessV2ScalingConfiguration?.MinCapacity !== undefined
        ? {
            MinCapacity: source.ServerlessV2ScalingConfiguration.MinCapacity,
            MaxCapacity: source.ServerlessV2ScalingConfiguration.MaxCapacity,
          }
        : undefined,
    NetworkType: source.NetworkType,
    Tags: tags,
  });
}

export function clusterPointInTimeRequest(
  source: DBCluster,
  target: string,
  point: Pick<ResolvedPoint, 'kind' | 'time'>,
  tags: Tag[],
  copyOnWrite = false,
): RestoreDBClusterToPointInTimeCommandInput {
  return {
    SourceDBClusterIdentifier: source.DBClusterIdentifier,
    DBClusterIdentifier: target,
    // A clone shares the source's storage until either writes; without DBClusterParameterGroupName (clusterSettings
    // names the source's) it would get the default group.
    RestoreType: copyOnWrite ? 'copy-on-write' : 'full-copy',
    ...(point.kind === 'latest' ? { UseLatestRestorableTime: true } : { RestoreToTime: new Date(point.time!) }),
    ...clusterSettings(source, tags),
  };
}

export function clusterSnapshotRequest(
  source: DBCluster,
  target: string,
  snapshot: string,
  tags: Tag[],
): RestoreDBClusterFromSnapshotCommandInput {
  return {
    DBClusterIdentifier: target,
    SnapshotIdentifier: snapshot,
    Engine: source.Engine,
    EngineVersion: source.EngineVersion,
    ...clusterSettings(source, tags),
  };
}

/** The settings a restore cannot take, applied once the instance is available, with its own managed master secret. */
export function instanceModifyRequest(source: DBInstance, target: string): ModifyDBInstanceCommandInput {
  const monitoring = source.MonitoringInterval
    ? { MonitoringInterval: source.MonitoringInterval, MonitoringRoleArn: source.MonitoringRoleArn }
    : {};
  const insights = source.PerformanceInsightsEnabled
    ? {
        EnablePerformanceInsights: true,
        PerformanceInsightsKMSKeyId: source.PerformanceInsightsKMSKeyId,
        PerformanceInsightsRetentionPeriod: source.PerformanceInsightsRetentionPeriod,
      }
    : {};
  return defined({
    DBInstanceIdentifier: target,
    ApplyImmediately: true,
    ManageMasterUserPassword: true,
    ...monitoring,
    ...insights,
    PreferredMaintenanceWindow: source.PreferredMaintenanceWindow,
    PreferredBackupWindow: source.PreferredBackupWindow,
    BackupRetentionPeriod: source.BackupRetentionPeriod,
    CACertificateIdentifier: source.CACertificateIdentifier,
  });
}

/** The writer instance's identifier: the cluster's, with `-writer`, within RDS's 63 characters. */
export function writerIdentifier(cluster: string): string {
  const suffix = '-writer';
  return `${cluster.slice(0, MAX_RDS_IDENTIFIER_LENGTH - suffix.length).replace(/-+$/, '')}${suffix}`;
}

/** The Aurora writer CreateWriter adds once the cluster is available, as the source's writer is set up. */
export function writerRequest(sourceWriter: DBInstance | undefined, cluster: string, tags: Tag[]): CreateDBInstanceCommandInput {
  const w = sourceWriter;
  return defined({
    DBInstanceIdentifier: writerIdentifier(cluster),
    DBClusterIdentifier: cluster,
    Engine: 'aurora-postgresql',
    DBInstanceClass: w?.DBInstanceClass ?? 'db.serverless',
    DBParameterGroupName: w?.DBParameterGroups?.[0]?.DBParameterGroupName,
    MonitoringInterval: w?.MonitoringInterval || undefined,
    MonitoringRoleArn: w?.MonitoringInterval ? w.MonitoringRoleArn : undefined,
    EnablePerformanceInsights: w?.PerformanceInsightsEnabled || undefined,
    PerformanceInsightsKMSKeyId: w?.PerformanceInsightsEnabled ? w.PerformanceInsightsKMSKeyId : undefined,
    PerformanceInsightsRetentionPeriod: w?.PerformanceInsightsEnabled ? w.PerformanceInsightsRetentionPeriod : undefined,
    CACertificateIdentifier: w?.CACertificateIdentifier,
    AutoMinorVersionUpgrade: w?.AutoMinorVersionUpgrade,
    PubliclyAccessible: w?.PubliclyAccessible,
    PreferredMaintenanceWindow: w?.PreferredMaintenanceWindow,
    PromotionTier: w?.PromotionTier,
    CopyTagsToSnapshot: w?.CopyTagsToSnapshot,
    Tags: tags,
  });
}

/** The cluster's settings a restore cannot take, with its own managed master secret. */
export function clusterModifyRequest(source: DBCluster, target: string): ModifyDBClusterCommandInput {
  return defined({
    DBClusterIdentifier: target,
    ApplyImmediately: true,
    ManageMasterUserPassword: true,
    PreferredMaintenanceWindow: source.PreferredMaintenanceWindow,
    PreferredBackupWindow: source.PreferredBackupWindow,
    BackupRetentionPeriod: source.BackupRetentionPeriod,
  });
}
