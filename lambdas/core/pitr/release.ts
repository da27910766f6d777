import {
  DeleteDBClusterCommand,
  DeleteDBInstanceCommand,
  ModifyDBClusterCommand,
  ModifyDBInstanceCommand,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { LifelineError } from '../errors.js';
import { findCluster, findInstance } from './instances.js';
import { taggedBy, writerIdentifier } from './requests.js';
import type { PitrState } from './state.js';
import { requiresSkipFinalSnapshot } from './status.js';

/**
 * Deleting what a PITR execution created, for its Cleanup and for the compensation of one that never reached it.
 */

/** What releaseRestore deleted and kept, in sentences; actionNeeded: a person must finish it. */
export interface Released {
  deleted: string[];
  kept: string[];
  notes: string[];
  actionNeeded: boolean;
}

export interface ReleaseDeps {
  rds: RDSClient;
  now?: () => Date;
}

/**
 * Deletes what this execution created, in order: deletion protection off first, the Aurora writer before its
 * cluster, a final snapshot when the input asked for one (never for a failed or incompatible-* instance, which RDS
 * deletes only with SkipFinalSnapshot). Only resources carrying this execution's tag are touched, and never the
 * source; one found by its name when StartRestore never reported it is deleted too. A restore handed over to cutover
 * is kept: an application may use it.
 */
export async function releaseRestore(state: PitrState, deps: ReleaseDeps): Promise<Released> {
  const { request } = state;
  const out: Released = { deleted: [], kept: [], notes: [], actionNeeded: false };
  const target = request.target.identifier;
  const execution = request.execution.id;
  if (state.handOver) {
    out.kept.push(target);
    out.notes.push(`Kept ${target}: it was handed over to the cutover of ${state.handOver.application}.`);
    return out;
  }
  // ResolveRestorePoint failed or never ran: nothing was created.
  if (!state.point) return out;
  const unsettled = renameUnsettled(state);
  if (unsettled) {
    out.kept.push(target);
    out.notes.push(unsettled.note);
    out.actionNeeded = unsettled.actionNeeded;
    return out;
  }
  const stamp = (deps.now ?? (() => new Date()))().toISOString().slice(0, 19).replace(/[-T:]/g, '');
  const snapshotName = (identifier: string) => `${identifier}-final-${stamp}`;
  const instanceIds = request.source.kind === 'instance' ? [target] : [state.restore?.writer ?? writerIdentifier(target)];
  for (const identifier of instanceIds) {
    try {
      const instance = await findInstance(deps.rds, identifier);
      if (!instance) continue;
      if (identifier === request.source.identifier || !taggedBy(instance.TagList, execution)) {
        out.kept.push(identifier);
        out.notes.push(`Kept ${identifier}: it does not carry this execution's tag.`);
        continue;
      }
      if (instance.DBInstanceStatus === 'deleting') {
        out.deleted.push(identifier);
        continue;
      }
      if (instance.DeletionProtection) {
        await deps.rds.send(
          new ModifyDBInstanceCommand({ DBInstanceIdentifier: identifier, DeletionProtection: false, ApplyImmediately: true }),
        );
      }
      const member = request.source.kind === 'cluster';
      const skip = member || !request.finalSnapshot || requiresSkipFinalSnapshot(instance.DBInstanceStatus);
      await deps.rds.send(
        new DeleteDBInstanceCommand({
          DBInstanceIdentifier: identifier,
          ...(member
            ? {}
            : skip
              ? { SkipFinalSnapshot: true }
              : { SkipFinalSnapshot: false, FinalDBSnapshotIdentifier: snapshotName(identifier) }),
          ...(member ? {} : { DeleteAutomatedBackups: true }),
        }),
      );
      out.deleted.push(identifier);
      if (!member && !skip) out.notes.push(`Its final snapshot is ${snapshotName(identifier)}.`);
    } catch (error) {
      out.kept.push(identifier);
      out.actionNeeded = true;
      out.notes.push(`Could not delete ${identifier}: ${(error as Error).name}: ${(error as Error).message}; delete it by hand.`);
    }
  }
  if (request.source.kind === 'cluster') {
    try {
      const cluster = await findCluster(deps.rds, target);
      if (cluster) {
        if (target === request.source.identifier || !taggedBy(cluster.TagList, execution)) {
          out.kept.push(target);
          out.notes.push(`Kept ${target}: it does not carry this execution's tag.`);
        } else if (cluster.Status !== 'deleting') {
          if (cluster.DeletionProtection) {
            await deps.rds.send(
              new ModifyDBClusterCommand({ DBClusterIdentifier: target, DeletionProtection: false, ApplyImmediately: true }),
            );
          }
          const skip = !request.finalSnapshot || requiresSkipFinalSnapshot(cluster.Status);
          await deps.rds.send(
            new DeleteDBClusterCommand({
              DBClusterIdentifier: target,
              ...(skip ? { SkipFinalSnapshot: true } : { SkipFinalSnapshot: false, FinalDBSnapshotIdentifier: snapshotName(target) }),
            }),
          );
          out.deleted.push(target);
        } else out.deleted.push(target);
      }
    } catch (error) {
      // RDS deletes a cluster only once its instances are gone: Cleanup runs again (pitr.asl.json retries this name).
      if ((error as Error).name === 'InvalidDBClusterStateFault' && out.deleted.length > 0) {
        throw new LifelineError('PitrCleanupPending', `${target} cannot be deleted until its writer is gone: ${(error as Error).message}`);
      }
      out.kept.push(target);
      out.actionNeeded = true;
      out.notes.push(
        `Could not delete ${target}: ${(error as Error).name}: ${(error as Error).message}; delete it by hand once its instances are gone.`,
      );
    }
  }
  if (out.deleted.length > 0) out.notes.unshift(`Deleted ${out.deleted.join(', ')}, which this execution had restored.`);
  return out;
}

/**
 * Why nothing may be deleted after the rename strategy renamed something, or undefined: the restore holds the
 * source's identifier (the rename finished), or the renames were not all undone.
 */
function renameUnsettled({ rename, renameBack, request }: PitrState): { note: string; actionNeeded: boolean } | undefined {
  if (!rename || rename.renamed.length === 0 || renameBack?.phase === 'done') return undefined;
  if (rename.phase === 'done' && !renameBack) {
    return {
      actionNeeded: false,
      note: `Kept ${request.target.identifier}: it holds ${rename.source}'s identifier now (the rename finished), and the source is ${rename.aside}.`,
    };
  }
  return {
    actionNeeded: true,
    note: `Kept everything, deleted nothing: the renames (${rename.renamed.join(', ')}) were not all undone (${renameBack?.seen ?? rename.seen}); put ${rename.source} back under its identifier by hand, then delete ${request.target.identifier}.`,
  };
}
