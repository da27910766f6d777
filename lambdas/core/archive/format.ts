import type { Readable } from 'node:stream';
import { pgBinary, runPipeline, type Stage } from '../child-process.js';
import type { LifelineErrorName } from '../errors.js';

/**
 * zstd on every core. Level 2 is the cheapest level whose archives stay smaller than pg_dump -Fc's gzip on
 * text-heavy databases too (level 1 came out 3% larger on a table of source files); level 3 costs 1.7x the CPU.
 */
export const ZSTD_LEVEL = 2;

/** For tools that open no connection (zstd, pg_restore --list, pg_dump --version): no settings, no credentials. */
export const toolEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, LC_ALL: 'C.UTF-8' });

/** zstd compressing its stdin to its stdout, on every core. */
export function compressStage(): Stage {
  return { command: 'zstd', args: ['-q', '-c', `-${ZSTD_LEVEL}`, '-T0'], env: toolEnv(), failure: 'DumpFailed' };
}

/** zstd decompressing its stdin, to `target` or else to its stdout. */
export function decompressStage(failure: LifelineErrorName, target?: string): Stage {
  return { command: 'zstd', args: ['-d', '-q', ...(target ? ['-f', '-o', target] : ['-c'])], env: toolEnv(), failure };
}

function tocLines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '' && !line.startsWith(';'));
}

/** Matches a table's definition (`TABLE`) or its rows (`TABLE DATA`) in a table of contents, by OID. */
export function tableEntry(oid: number, kind: 'TABLE' | 'TABLE DATA'): RegExp {
  return new RegExp(`^\\d+; ${kind === 'TABLE' ? 1259 : 0} ${oid} ${kind} `);
}

/** Runs pg_restore without a connection on a staged archive and returns its output. */
function pgRestoreOutput(args: string[], archive: string): Promise<string> {
  return runPipeline({ stages: [pgRestoreStage([...args, archive], 'RestoreFailed')] });
}

function pgRestoreStage(args: string[], failure: LifelineErrorName): Stage {
  return { command: pgBinary('pg_restore'), args, env: toolEnv(), failure };
}

export interface ArchiveEntry {
  /** The entry's dump ID, by which other entries name it as a dependency. */
  id: number;
  /** Its line in `pg_restore --list`, as a use-list (-L) takes it. */
  line: string;
  /** The dump IDs of the entries it needs. */
  dependencies: number[];
}

/** The entries of `pg_restore --list --verbose` output, with each one's dependencies. */
function parseContents(listing: string): ArchiveEntry[] {
  const entries: ArchiveEntry[] = [];
  for (const line of listing.split('\n')) {
    const depends = /^;\s*depends on:([\d ]+)$/.exec(line);
    const entry = entries.at(-1);
    if (depends && entry) entry.dependencies = depends[1]!.trim().split(/ +/).map(Number);
    const id = /^(\d+); /.exec(line);
    if (id) entries.push({ id: Number(id[1]), line, dependencies: [] });
  }
  return entries;
}

/** The table of contents of a staged archive with each entry's dependencies (`pg_restore --list --verbose`). */
export async function archiveContents(archive: string): Promise<ArchiveEntry[]> {
  return parseContents(await pgRestoreOutput(['--list', '--verbose'], archive));
}

/**
 * The owner of the dumped database, from the DATABASE entry pg_dump (11 and later) writes into every archive,
 * `<id>; 1262 <oid> DATABASE - <name> <owner>`, the name read from the listing's header (`dbname: <name>`) since
 * either may hold spaces; null when the archive records none.
 */
export function databaseOwner(listing: string): string | null {
  const lines = listing.split('\n');
  const name = lines.map((line) => /^;\s+dbname: (.*)$/.exec(line)?.[1]).find((found) => found !== undefined);
  if (name === undefined) return null;
  const prefix = `DATABASE - ${name} `;
  for (const line of lines) {
    const entry = /^\d+; 1262 \d+ (.*)$/.exec(line)?.[1];
    if (entry?.startsWith(prefix) && entry.length > prefix.length) return entry.slice(prefix.length);
  }
  return null;
}

/** What the head of an archive says: its table of contents and the dumped database's owner. */
export interface ArchiveHead {
  entries: ArchiveEntry[];
  /** The dumped database's owner (databaseOwner); null when the archive records none. */
  databaseOwner: string | null;
}

/**
 * Reads the table of contents, with each entry's dependencies, at the head of a compressed archive, as a staged
 * archive's (archiveContents), reading only that head: a restore workflow's step learns what the archive holds
 * without downloading it. `signal` stops it.
 */
export async function readArchiveHead(compressed: Readable, signal?: AbortSignal): Promise<ArchiveHead> {
  const listing = await runPipeline({
    stages: [decompressStage('RestoreFailed'), pgRestoreStage(['--list', '--verbose'], 'RestoreFailed')],
    input: compressed,
    readsHead: true,
    signal,
  });
  return { entries: parseContents(listing), databaseOwner: databaseOwner(listing) };
}

/** The SQL that restoring the entries in `useList` (a file) from a staged archive would run, without running it. */
export async function archiveScript(archive: string, useList: string): Promise<string> {
  return pgRestoreOutput(['--file=-', `--use-list=${useList}`], archive);
}

/**
 * Reads the table of contents at the head of a compressed archive, stopping as soon as pg_restore has it:
 * a truncated or foreign object fails here, and only the head of the object is read.
 */
export async function readTableOfContents(compressed: Readable): Promise<string[]> {
  const toc = await runPipeline({
    stages: [decompressStage('VerificationFailed'), pgRestoreStage(['--list'], 'VerificationFailed')],
    input: compressed,
    readsHead: true,
  });
  return tocLines(toc);
}
