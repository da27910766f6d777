import { ModifyDBInstanceCommand, type DBInstance, type RDSClient } from '@aws-sdk/client-rds';
import type { StepDeadline } from '../deadline.js';
import { LifelineError } from '../errors.js';
import { MAX_RDS_IDENTIFIER_LENGTH } from './input.js';
import { findInstance } from './instances.js';
import { taggedBy } from './requests.js';
import type { PitrRequest, PitrState, RenameProgress } from './state.js';
import { classifyStatus } from './status.js';

/**
 * The endpoint-preserving strategy: once approved, the source instance is renamed aside and the restore takes its
 * identifier, and so its endpoint (ModifyDBInstance NewDBInstanceIdentifier, ApplyImmediately). RDS frees the old
 * name at once, but the renamed instance is unavailable until its new DNS name resolves (about 10 minutes). Each
 * look observes the three identifiers and sends at most one rename, so a retried or repeated look renames nothing
 * twice; it renames only the restore this execution tagged, and the source only when it is the very instance
 * restored from (its DbiResourceId), aside and back.
 */

export interface RenameDeps {
  rds: RDSClient;
  deadline?: StepDeadline;
  now?: () => Date;
}

const ASIDE_SUFFIX = '-pitr-aside-';

/** `shop-production-pitr-aside-20261123105037`: where the source waits, stamped with the execution's start (UTC). */
export function asideIdentifier(source: string, startedAt: Date): string {
  const stamp = startedAt.toISOString().slice(0, 19).replace(/[-T:]/g, '');
  const stem = source.slice(0, MAX_RDS_IDENTIFIER_LENGTH - ASIDE_SUFFIX.length - stamp.length).replace(/-+$/, '');
  return `${stem}${ASIDE_SUFFIX}${stamp}`;
}

/** The IAM pattern of every aside identifier of `source` (lib/pitr/pitr-grants.ts). */
export function asidePattern(source: string): string {
  return asideIdentifier(source, new Date(0)).replace(/\d{14}$/, '*');
}

interface Seen {
  atSource: DBInstance | undefined;
  atAside: DBInstance | undefined;
  atTarget: DBInstance | undefined;
}

async function look(rds: RDSClient, progress: RenameProgress): Promise<Seen> {
  const [atSource, atAside, atTarget] = await Promise.all([
    findInstance(rds, progress.source),
    findInstance(rds, progress.aside),
    findInstance(rds, progress.target),
  ]);
  return { atSource, atAside, atTarget };
}

const statusText = (identifier: string, instance: DBInstance | undefined) =>
  `${identifier} ${instance ? (instance.DBInstanceStatus ?? 'unknown') : 'absent'}`;
const seenText = (p: RenameProgress, seen: Seen) =>
  [statusText(p.source, seen.atSource), statusText(p.aside, seen.atAside), statusText(p.target, seen.atTarget)].join(', ');
const available = (instance: DBInstance | undefined) => instance !== undefined && classifyStatus(instance.DBInstanceStatus) === 'available';

/** The progress a first look starts from. */
function started(state: PitrState, now: Date): RenameProgress {
  const { request } = state;
  return {
    source: request.source.identifier,
    aside: asideIdentifier(request.source.identifier, new Date(request.execution.startedAt)),
    target: request.target.identifier,
    phase: 'waiting',
    seen: '',
    renamed: [],
    polls: 0,
    startedAt: now.toISOString(),
    finishedAt: null,
  };
}

/** The progress after one more look that saw `seen`, ended in `phase` and sent `renamed` so far. */
function looked(progress: RenameProgress, seen: Seen, phase: RenameProgress['phase'], renamed: string[], now: Date): RenameProgress {
  return {
    ...progress,
    phase,
    renamed,
    polls: progress.polls + 1,
    seen: seenText(progress, seen),
    finishedAt: phase === 'done' ? now.toISOString() : null,
  };
}

async function rename(from: string, to: string, deps: RenameDeps): Promise<string> {
  deps.deadline?.assertBefore(`renaming ${from} to ${to}`);
  await deps.rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: from, NewDBInstanceIdentifier: to, ApplyImmediately: true }));
  return `${from} -> ${to}`;
}

function checked(state: PitrState): { request: PitrRequest; sourceResourceId: string } {
  const { request, restore } = state;
  if (request.strategy !== 'rename' || request.source.kind !== 'instance' || !restore?.sourceResourceId) {
    throw new LifelineError('InvalidInput', 'state: only an RDS instance restored with strategy "rename" is renamed');
  }
  return { request, sourceResourceId: restore.sourceResourceId };
}

/**
 * One look forward: the source renamed aside once it is available, then the restore renamed to the source's
 * identifier once the source's new name is available; done when the restore answers, available, under the source's
 * identifier. PitrRenameRefused when an identifier holds what this execution may not rename; PitrTimedOut past the
 * request's bound of looks.
 */
export async function renameIn(state: PitrState, deps: RenameDeps): Promise<RenameProgress> {
  const { request, sourceResourceId } = checked(state);
  const now = (deps.now ?? (() => new Date()))();
  const progress = state.rename ?? started(state, now);
  const execution = request.execution.id;
  const seen = await look(deps.rds, progress);
  const { atSource, atAside, atTarget } = seen;
  const refuse = (why: string) =>
    new LifelineError('PitrRenameRefused', `${why}: nothing was renamed by this look (${seenText(progress, seen)})`);
  const renamed = [...progress.renamed];
  let phase: RenameProgress['phase'] = 'waiting';
  if (atSource && taggedBy(atSource.TagList, execution)) {
    if (available(atSource)) phase = 'done';
  } else if (atSource) {
    if (atSource.DbiResourceId !== sourceResourceId) {
      throw refuse(`${progress.source} is not the instance this execution restored from (DbiResourceId ${atSource.DbiResourceId})`);
    }
    if (atAside) throw refuse(`${progress.aside} exists already`);
    if (available(atSource)) renamed.push(await rename(progress.source, progress.aside, deps));
  } else if (atAside) {
    if (atAside.DbiResourceId !== sourceResourceId) throw refuse(`${progress.aside} is not the source this execution renamed aside`);
    if (!atTarget || !taggedBy(atTarget.TagList, execution)) throw refuse(`${progress.target} is gone or not this execution's`);
    if (available(atAside) && available(atTarget)) renamed.push(await rename(progress.target, progress.source, deps));
  }
  // Else neither name answers: a rename RDS has taken is not visible yet.
  const next = looked(progress, seen, phase, renamed, now);
  if (phase === 'waiting' && next.polls >= request.maxPolls) {
    throw new LifelineError(
      'PitrTimedOut',
      `the rename of ${progress.target} to ${progress.source} did not finish after ${next.polls} looks ${request.pollSeconds} s apart (${next.seen}); it is renamed back`,
    );
  }
  return next;
}

/**
 * One look back, after a failed rename or for a stopped execution: the restore renamed back to its own identifier
 * once available, then the source back to its identifier once available; done when the source answers, available,
 * under its own identifier. Never renames what is not this execution's restore or its source. PitrRenameUnresolved
 * when an identifier holds something else, or past the request's bound of looks: a human must put them back.
 */
export async function renameBack(state: PitrState, deps: RenameDeps): Promise<RenameProgress> {
  const { request, sourceResourceId } = checked(state);
  const now = (deps.now ?? (() => new Date()))();
  const progress = state.renameBack ?? { ...(state.rename ?? started(state, now)), renamed: [], polls: 0, startedAt: now.toISOString() };
  const execution = request.execution.id;
  const seen = await look(deps.rds, progress);
  const { atSource, atAside } = seen;
  const unresolved = (why: string) =>
    new LifelineError(
      'PitrRenameUnresolved',
      `${why} (${seenText(progress, seen)}); rename the source back to ${progress.source} by hand: aws rds modify-db-instance --db-instance-identifier <its current identifier> --new-db-instance-identifier ${progress.source} --apply-immediately`,
    );
  const renamed = [...progress.renamed];
  let phase: RenameProgress['phase'] = 'waiting';
  if (atSource && taggedBy(atSource.TagList, execution)) {
    if (available(atSource)) renamed.push(await rename(progress.source, progress.target, deps));
  } else if (atAside) {
    if (atAside.DbiResourceId !== sourceResourceId) throw unresolved(`${progress.aside} is not the source this execution renamed aside`);
    if (atSource) throw unresolved(`${progress.source} holds another instance while the source is ${progress.aside}`);
    if (available(atAside)) renamed.push(await rename(progress.aside, progress.source, deps));
  } else if (atSource) {
    // Nothing of this execution's holds either name: the source is back (available), or was never renamed by it.
    if (atSource.DbiResourceId !== sourceResourceId || available(atSource)) phase = 'done';
  }
  const next = looked(progress, seen, phase, renamed, now);
  if (phase === 'waiting' && next.polls >= request.maxPolls)
    throw unresolved(`the source was not back under its identifier after ${next.polls} looks`);
  return next;
}
