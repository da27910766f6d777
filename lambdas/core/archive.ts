import type { Readable } from 'node:stream';
import { pgBinary, startChild, type RunningChild } from './child-process.js';

/** zstd level 3 on every core beats pg_dump's single-threaded gzip on both speed and size. */
export const ZSTD_LEVEL = 3;

const plain = (text: string) => text;
/** Archive tools need no connection settings, and no credentials. */
const toolEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, LC_ALL: 'C.UTF-8' });

/** Compresses `input` (pg_dump's stdout, passed as a file descriptor so the bytes bypass Node) with zstd. */
export function startCompressor(input: Readable, level = ZSTD_LEVEL): RunningChild {
  return startChild({
    command: 'zstd',
    args: ['-q', '-c', `-${level}`, '-T0'],
    env: toolEnv(),
    stdio: [input, 'pipe', 'pipe'],
    failure: 'DumpFailed',
    redact: plain,
  });
}

/** Decompresses a staged archive so that pg_restore can seek in it and restore in parallel. */
export async function decompressFile(source: string, target: string): Promise<void> {
  await startChild({
    command: 'zstd',
    args: ['-d', '-q', '-f', source, '-o', target],
    env: toolEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
    failure: 'RestoreFailed',
    redact: plain,
  }).exited;
}

function tocLines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '' && !line.startsWith(';'));
}

/** `pg_restore --list` of `input` (a path, or a stream on stdin): one line per archive entry. */
async function listEntries(input: string | Readable): Promise<string[]> {
  const list = startChild({
    command: pgBinary('pg_restore'),
    args: typeof input === 'string' ? ['--list', input] : ['--list'],
    env: toolEnv(),
    stdio: [typeof input === 'string' ? 'ignore' : input, 'pipe', 'pipe'],
    failure: 'VerificationFailed',
    redact: plain,
  });
  let toc = '';
  list.process.stdout!.setEncoding('utf8').on('data', (chunk: string) => (toc += chunk));
  await list.exited;
  return tocLines(toc);
}

/** The entries of a staged, uncompressed archive. */
export function archiveEntries(archivePath: string): Promise<string[]> {
  return listEntries(archivePath);
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
    return await listEntries(unzstd.process.stdout!);
  } finally {
    compressed.destroy();
    unzstd.stop();
  }
}
