import type { Readable } from 'node:stream';
import { pgBinary, startChild, type RunningChild } from './child-process.js';
import type { LifelineErrorName } from './errors.js';

/**
 * zstd on every core. Level 2 is the cheapest level whose archives stay smaller than pg_dump -Fc's gzip on
 * text-heavy databases too (level 1 came out 3% larger on a table of source files); level 3 costs 1.7x the CPU.
 */
export const ZSTD_LEVEL = 2;

const plain = (text: string) => text;
/** For tools that open no connection (zstd, pg_restore --list, pg_dump --version): no settings, no credentials. */
export const toolEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, LC_ALL: 'C.UTF-8' });

/** Compresses `input` (pg_dump's stdout, passed as a file descriptor so the bytes bypass Node) with zstd. */
export function startCompressor(input: Readable): RunningChild {
  return startChild({
    command: 'zstd',
    args: ['-q', '-c', `-${ZSTD_LEVEL}`, '-T0'],
    env: toolEnv(),
    stdio: [input, 'pipe', 'pipe'],
    failure: 'DumpFailed',
    redact: plain,
  });
}

/** Decompresses a staged archive so that pg_restore can seek in it and restore in parallel. */
export async function decompressFile(source: string, target: string, signal?: AbortSignal): Promise<void> {
  await startChild({
    command: 'zstd',
    args: ['-d', '-q', '-f', source, '-o', target],
    env: toolEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
    failure: 'RestoreFailed',
    redact: plain,
    signal,
  }).exited;
}

function tocLines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '' && !line.startsWith(';'));
}

/** Matches a table's definition (`TABLE`) or its rows (`TABLE DATA`) in a table of contents, by OID. */
export function tableEntry(oid: number, kind: 'TABLE' | 'TABLE DATA'): RegExp {
  return new RegExp(`^\\d+; ${kind === 'TABLE' ? 1259 : 0} ${oid} ${kind} `);
}

/** Runs pg_restore without a connection on `input` (a path, or a stream on stdin) and returns its output. */
async function pgRestoreOutput(args: string[], input: string | Readable, failure: LifelineErrorName): Promise<string> {
  const run = startChild({
    command: pgBinary('pg_restore'),
    args: typeof input === 'string' ? [...args, input] : args,
    env: toolEnv(),
    stdio: [typeof input === 'string' ? 'ignore' : input, 'pipe', 'pipe'],
    failure,
    redact: plain,
  });
  // pg_restore owns that pipe now; our copy would keep its writer from ever seeing it close.
  if (typeof input !== 'string') input.destroy();
  let output = '';
  run.process.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  await run.exited;
  return output;
}

/** `pg_restore --list` of `input` (a path, or a stream on stdin): one line per archive entry. */
export async function archiveEntries(input: string | Readable): Promise<string[]> {
  return tocLines(await pgRestoreOutput(['--list'], input, 'VerificationFailed'));
}

export interface ArchiveEntry {
  /** The entry's dump ID, by which other entries name it as a dependency. */
  id: number;
  /** Its line in `pg_restore --list`, as a use-list (-L) takes it. */
  line: string;
  /** The dump IDs of the entries it needs. */
  dependencies: number[];
}

/** The table of contents of a staged archive with each entry's dependencies (`pg_restore --list --verbose`). */
export async function archiveContents(archive: string): Promise<ArchiveEntry[]> {
  const entries: ArchiveEntry[] = [];
  for (const line of (await pgRestoreOutput(['--list', '--verbose'], archive, 'RestoreFailed')).split('\n')) {
    const depends = /^;\s*depends on:([\d ]+)$/.exec(line);
    const entry = entries.at(-1);
    if (depends && entry) entry.dependencies = depends[1]!.trim().split(/ +/).map(Number);
    const id = /^(\d+); /.exec(line);
    if (id) entries.push({ id: Number(id[1]), line, dependencies: [] });
  }
  return entries;
}

/** The SQL that restoring the entries in `useList` (a file) from a staged archive would run, without running it. */
export async function archiveScript(archive: string, useList: string): Promise<string> {
  return pgRestoreOutput(['--file=-', `--use-list=${useList}`], archive, 'RestoreFailed');
}

/**
 * Reads the table of contents at the head of a compressed archive, stopping as soon as pg_restore has it:
 * a truncated or foreign object fails here, and only the head of the object is read.
 */
export async function readTableOfContents(compressed: Readable): Promise<string[]> {
  const unzstd = startChild({
    command: 'zstd',
    args: ['-d', '-q', '-c'],
    env: toolEnv(),
    stdio: ['pipe', 'pipe', 'pipe'],
    failure: 'VerificationFailed',
    redact: plain,
  });
  // pg_restore stops reading after the TOC, so writes into the closed pipe are expected.
  unzstd.process.stdin!.on('error', () => undefined);
  compressed.on('error', () => undefined);
  compressed.pipe(unzstd.process.stdin!);
  try {
    return await archiveEntries(unzstd.process.stdout!);
  } finally {
    compressed.destroy();
    unzstd.stop();
  }
}
