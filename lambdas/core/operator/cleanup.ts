import { rm } from 'node:fs/promises';
import { connectClient, redact, type ConnectionSettings } from '../postgres/connection.js';
import { dropIfMarked, MAINTENANCE_DATABASE, markedDatabases, markStanding, type ExecutionStatusLookup } from '../postgres/databases.js';
import { describeOwner, parseOwnerLabel, type OwnerState } from '../process-owner.js';
import { stagingDirectories } from '../restore/staging.js';
import { isLocalExecution, localExecutionStatus } from '../workflows/local-executions.js';

/**
 * What a restore run killed midway (SIGKILL, a crash, a closed laptop) leaves, removed where its run has ended:
 * `lifeline cleanup`, and the next `lifeline run restore --local`, which starts with it. A run's pg_restore and zstd
 * end with its process (child-process.ts); what outlives it is its staging directory (restore/staging.ts), removed
 * once the process that made it no longer runs, and the database its execution created and still marks, dropped
 * once that execution has ended, which a local execution does with its process (workflows/local-executions.ts).
 * A database marked by an execution in AWS is its Cleanup's, or its compensation's when it was stopped: kept here.
 * Nothing that does not bear such a name or mark is touched.
 */

/** A server whose databases are checked, by an admin's connection. */
export interface CleanupServer {
  /** How the report names it: host:port. */
  label: string;
  settings: ConnectionSettings;
}

/** A thing cleanup removed or kept, and why. */
export interface CleanupItem {
  /** `staging directory <path>`, `database <name> on <host:port>`, `server <host:port>`. */
  what: string;
  why: string;
}

export interface CleanupReport {
  removed: CleanupItem[];
  kept: CleanupItem[];
}

export interface CleanupOptions {
  /** Where restores staged their archives (the runner's LIFELINE_STAGING_DIR, a run's --staging-dir, the temp directory). */
  stagingDir: string;
  servers: readonly CleanupServer[];
  /** Whether a local execution still runs (default: local-executions.ts, by its process). */
  executions?: ExecutionStatusLookup;
}

const ownerOf = (execution: string) => parseOwnerLabel(/:([0-9a-f-]+)-[0-9a-f]{8}$/.exec(execution)?.[1] ?? '');

function runWords(state: OwnerState | undefined): string {
  return state === 'runs' ? 'its restore still runs' : 'whether its restore still runs cannot be told here';
}

async function cleanStaging(stagingDir: string, report: CleanupReport): Promise<void> {
  let directories;
  try {
    directories = await stagingDirectories(stagingDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    report.kept.push({ what: `staging directory ${stagingDir}`, why: `could not be read: ${(error as Error).message}` });
    return;
  }
  for (const { path, owner, state } of directories) {
    const what = `staging directory ${path}`;
    if (!owner) {
      report.kept.push({
        what,
        why: 'its name does not say which process made it (an older lifeline made it): remove it by hand once no restore runs here',
      });
    } else if (state !== 'ended') {
      report.kept.push({ what, why: `${runWords(state)}: ${describeOwner(owner, state!)}` });
    } else {
      await rm(path, { recursive: true, force: true });
      report.removed.push({ what, why: `the restore that staged it died: ${describeOwner(owner, state)}` });
    }
  }
}

async function cleanServer(server: CleanupServer, lookup: ExecutionStatusLookup, report: CleanupReport): Promise<void> {
  let client;
  try {
    client = await connectClient({ ...server.settings, database: MAINTENANCE_DATABASE });
  } catch (error) {
    report.kept.push({
      what: `server ${server.label}`,
      why: `its databases could not be checked: ${redact((error as Error).message, server.settings)}`,
    });
    return;
  }
  try {
    for (const { name, markedBy } of await markedDatabases(client)) {
      const what = `database ${name} on ${server.label}`;
      if (!isLocalExecution(markedBy)) {
        report.kept.push({
          what,
          why: `execution ${markedBy} marked it: in AWS, that execution's Cleanup drops it, or the compensation of a stopped execution; this drops only what local runs left`,
        });
        continue;
      }
      const mark = await markStanding(markedBy, lookup);
      if (mark.holds) {
        report.kept.push({ what, why: `the local execution that marked it, ${markedBy}${mark.status}, may still run` });
        continue;
      }
      const owner = ownerOf(markedBy);
      // Dropped only if it still bears that mark, checked under its name's lock.
      const before = await dropIfMarked(client, name, markedBy);
      if (before?.markedBy === markedBy) {
        const died = owner ? `: ${describeOwner(owner, 'ended')}` : '';
        report.removed.push({
          what,
          why: `the local execution that created it, ${markedBy}${mark.status}, died before its Cleanup${died}`,
        });
      }
    }
  } catch (error) {
    report.kept.push({
      what: `server ${server.label}`,
      why: `checking its databases failed: ${redact((error as Error).message, server.settings)}`,
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Removes what dead restore runs left in `stagingDir` and on `servers`; says what it removed, and what it kept and why. */
export async function cleanUpAfterDeadRuns(options: CleanupOptions): Promise<CleanupReport> {
  const report: CleanupReport = { removed: [], kept: [] };
  await cleanStaging(options.stagingDir, report);
  const lookup = options.executions ?? localExecutionStatus;
  for (const server of options.servers) await cleanServer(server, lookup, report);
  return report;
}

/** The report as lines for a person. */
export function describeCleanup(report: CleanupReport): string[] {
  return [
    ...report.removed.map((item) => `removed ${item.what}: ${item.why}`),
    ...report.kept.map((item) => `kept ${item.what}: ${item.why}`),
  ];
}
