import { mkdtemp, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ownerLabel, ownerState, parseOwnerLabel, thisProcess, type OwnerState, type ProcessOwner } from '../process-owner.js';

/**
 * Where a restore stages its archive: a directory of its own in the staging directory, named for the process that
 * made it, `lifeline-restore-<owner>-XXXXXX` (process-owner.ts): a run killed midway leaves it behind (the archive's
 * table of contents; in place, the archive decompressed, as large as the database's data), and another run or `lifeline cleanup` tells by the name alone whether
 * its maker still runs.
 */

const PREFIX = 'lifeline-restore-';

/** A new staging directory of this process in `stagingDir`. */
export function makeStagingDirectory(stagingDir: string): Promise<string> {
  return mkdtemp(join(stagingDir, `${PREFIX}${ownerLabel(thisProcess())}-`));
}

export interface LeftStaging {
  path: string;
  /** The process that made it; undefined for a name of an older lifeline, which does not say. */
  owner: ProcessOwner | undefined;
  state: OwnerState | undefined;
}

/** The restores' staging directories in `stagingDir`, with the process that made each and whether it still runs. */
export async function stagingDirectories(stagingDir: string): Promise<LeftStaging[]> {
  const entries = await readdir(stagingDir, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isDirectory() && entry.name.startsWith(PREFIX))
    .map((entry) => {
      const label = /^(.+)-[A-Za-z0-9]{6}$/.exec(entry.name.slice(PREFIX.length))?.[1];
      const owner = label === undefined ? undefined : parseOwnerLabel(label);
      return { path: join(stagingDir, entry.name), owner, state: owner && ownerState(owner) };
    })
    .sort((a, b) => a.path.localeCompare(b.path));
}
