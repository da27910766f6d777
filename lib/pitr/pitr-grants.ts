import { Aws, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';
import { PITR_EXECUTION_TAG, pitrWorkflowName } from '../../lambdas/core/pitr/state.js';
import { asidePattern } from '../../lambdas/core/pitr/rename.js';
import { nagResource } from '../nag-findings.js';

/** What the PITR steps may restore from: the configured databases' RDS instances and Aurora clusters. */
export interface PitrSources {
  readonly instances: readonly string[];
  readonly clusters: readonly string[];
  /** The IAM roles RDS Enhanced Monitoring publishes with on those sources, which a restore's modify passes on. */
  readonly monitoringRoleArns: readonly string[];
  /** Whether the rename strategy may rename the source instances aside and back (the config's pitr.renameSources). */
  readonly renameSources?: boolean;
}

const rdsArn = (resource: string) => `arn:${Aws.PARTITION}:rds:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;

/** Every identifier a PITR creates contains `-pitr-` (input.ts refuses a target without it); the Aurora writer too. */
const TARGET_INSTANCES = rdsArn('db:*-pitr-*');
const TARGET_CLUSTERS = rdsArn('cluster:*-pitr-*');

const RESTORE_INSTANCE = ['rds:RestoreDBInstanceToPointInTime', 'rds:RestoreDBInstanceFromDBSnapshot'];
const RESTORE_CLUSTER = ['rds:RestoreDBClusterToPointInTime', 'rds:RestoreDBClusterFromSnapshot'];

/**
 * The RDS side of the PITR steps function's role: read anything (Describe* has no resource-level form for its list
 * calls), restore from the configured sources only, create only `*-pitr-*` identifiers and only tagged with one of
 * this deployment's PITR executions, and modify or delete only such identifiers that carry that tag. The sources are
 * never modifiable: no statement names them for Modify* or Delete*.
 */
export function pitrRdsStatements(deployment: string, sources: PitrSources): iam.PolicyStatement[] {
  const executions = `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:execution:${pitrWorkflowName(deployment)}:*`;
  const tagged = (key: 'aws:RequestTag' | 'aws:ResourceTag') => ({ StringLike: { [`${key}/${PITR_EXECUTION_TAG}`]: executions } });
  const sourceInstances = sources.instances.map((id) => rdsArn(`db:${id}`));
  const sourceClusters = sources.clusters.map((id) => rdsArn(`cluster:${id}`));
  const statements = [
    new iam.PolicyStatement({
      sid: 'DescribeRds',
      actions: [
        'rds:DescribeDBInstances',
        'rds:DescribeDBClusters',
        'rds:DescribeDBInstanceAutomatedBackups',
        'rds:DescribeDBSnapshots',
        'rds:DescribeDBClusterSnapshots',
      ],
      resources: ['*'],
    }),
    ...(sourceInstances.length === 0
      ? []
      : [
          new iam.PolicyStatement({
            sid: 'RestoreFromConfiguredInstances',
            actions: RESTORE_INSTANCE,
            resources: [...sourceInstances, rdsArn('snapshot:*')],
          }),
        ]),
    ...(sourceClusters.length === 0
      ? []
      : [
          new iam.PolicyStatement({
            sid: 'RestoreFromConfiguredClusters',
            actions: RESTORE_CLUSTER,
            resources: [...sourceClusters, rdsArn('cluster-snapshot:*')],
          }),
        ]),
    // The groups a restore places its target in, as the source's: naming them creates nothing by itself.
    new iam.PolicyStatement({
      sid: 'PlaceTargetsAsTheirSources',
      actions: [...RESTORE_INSTANCE, ...RESTORE_CLUSTER, 'rds:CreateDBInstance'],
      resources: [rdsArn('subgrp:*'), rdsArn('og:*'), rdsArn('pg:*'), rdsArn('cluster-pg:*')],
    }),
    new iam.PolicyStatement({
      sid: 'CreateTaggedTargets',
      actions: [...RESTORE_INSTANCE, ...RESTORE_CLUSTER, 'rds:CreateDBInstance', 'rds:AddTagsToResource'],
      resources: [TARGET_INSTANCES, TARGET_CLUSTERS],
      conditions: tagged('aws:RequestTag'),
    }),
    new iam.PolicyStatement({
      sid: 'ModifyAndDeleteOwnTargets',
      actions: ['rds:ModifyDBInstance', 'rds:ModifyDBCluster', 'rds:DeleteDBInstance', 'rds:DeleteDBCluster'],
      resources: [TARGET_INSTANCES, TARGET_CLUSTERS],
      conditions: tagged('aws:ResourceTag'),
    }),
    // A final snapshot when the input asks for one, named after what is deleted.
    new iam.PolicyStatement({
      sid: 'FinalSnapshotsOfOwnTargets',
      actions: ['rds:CreateDBSnapshot', 'rds:CreateDBClusterSnapshot', 'rds:AddTagsToResource'],
      resources: [rdsArn('snapshot:*-pitr-*-final-*'), rdsArn('cluster-snapshot:*-pitr-*-final-*')],
    }),
    // ManageMasterUserPassword: RDS creates the restored database's own secret, named rds!..., as the caller.
    new iam.PolicyStatement({
      sid: 'ManagedMasterSecrets',
      actions: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource'],
      resources: [`arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:rds!*`],
    }),
    // Restoring an encrypted source: RDS uses its key on the caller's behalf, only through RDS.
    new iam.PolicyStatement({
      sid: 'UseSourceKeysThroughRds',
      actions: ['kms:CreateGrant', 'kms:DescribeKey'],
      resources: [`arn:${Aws.PARTITION}:kms:${Aws.REGION}:${Aws.ACCOUNT_ID}:key/*`],
      conditions: { StringEquals: { 'kms:ViaService': `rds.${Aws.REGION}.amazonaws.com` } },
    }),
  ];
  if (sources.renameSources && sources.instances.length > 0) {
    // Renaming is a ModifyDBInstance of the instance under its current name: the source's, then its aside name's.
    statements.push(
      new iam.PolicyStatement({
        sid: 'RenameConfiguredSources',
        actions: ['rds:ModifyDBInstance'],
        resources: [...sourceInstances, ...sources.instances.map((id) => rdsArn(`db:${asidePattern(id.toLowerCase())}`))],
      }),
    );
  }
  if (sources.monitoringRoleArns.length > 0) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'PassTheMonitoringRole',
        actions: ['iam:PassRole'],
        resources: [...new Set(sources.monitoringRoleArns)].sort(),
        conditions: { StringEquals: { 'iam:PassedToService': 'monitoring.rds.amazonaws.com' } },
      }),
    );
  }
  return statements;
}

/** cdk-nag's acknowledgment of each wildcard in pitrRdsStatements, with its reason, on the role that holds them. */
export function acknowledgePitrRdsStatements(role: IConstruct, sources: PitrSources): void {
  const reasons: Record<string, string> = {
    '*': 'RDS Describe* calls that list (automated backups, snapshots by type) take no resource-level permissions; read-only.',
    [rdsArn('snapshot:*')]:
      'A snapshot restore names the snapshot; the steps restore only snapshots of the configured source (window.ts findSnapshot).',
    [rdsArn('cluster-snapshot:*')]:
      'A cluster snapshot restore names the snapshot; the steps restore only snapshots of the configured source.',
    [rdsArn('subgrp:*')]: "A restore places its target in the source's subnet group; naming a group creates nothing by itself.",
    [rdsArn('og:*')]: "A restore gives its target the source's option group; naming it creates nothing by itself.",
    [rdsArn('pg:*')]: "A restore gives its target the source's parameter group; naming it creates nothing by itself.",
    [rdsArn('cluster-pg:*')]:
      "An Aurora restore gives its target the source's cluster parameter group; naming it creates nothing by itself.",
    [TARGET_INSTANCES]:
      "Only identifiers containing -pitr- (the input refuses others), created with and acting on this deployment's PITR execution tag only.",
    [TARGET_CLUSTERS]:
      "Only identifiers containing -pitr- (the input refuses others), created with and acting on this deployment's PITR execution tag only.",
    [rdsArn('snapshot:*-pitr-*-final-*')]: 'The final snapshots of what a PITR deletes, named after it.',
    [rdsArn('cluster-snapshot:*-pitr-*-final-*')]: 'The final snapshots of what a PITR deletes, named after it.',
    [`arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:rds!*`]:
      'ManageMasterUserPassword: RDS creates the restored database its own secret, under a name of its choosing (rds!...).',
    [`arn:${Aws.PARTITION}:kms:${Aws.REGION}:${Aws.ACCOUNT_ID}:key/*`]:
      "Only through RDS (kms:ViaService): the sources' keys are not in the config, and RDS uses them to restore an encrypted source.",
  };
  if (sources.renameSources) {
    for (const id of sources.instances) {
      reasons[rdsArn(`db:${asidePattern(id.toLowerCase())}`)] =
        `The rename strategy puts source ${id} aside under this name, stamped with the execution's start, and back.`;
    }
  }
  for (const [resource, reason] of Object.entries(reasons)) {
    Validations.of(role).acknowledge({ id: `AwsSolutions-IAM5[${nagResource(role, resource)}]`, reason });
  }
}
