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

/**
 * Reads the table of contents at the head of a compressed archive (`pg_restore --list`), stopping as soon as
 * pg_restore has it: a truncated or foreign object fails here, and only the head of the object is read.
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
  const list = startChild({
    command: pgBinary('pg_restore'),
    args: ['--list'],
    env: toolEnv(),
    stdio: [unzstd.process.stdout!, 'pipe', 'pipe'],
    failure: 'VerificationFailed',
    redact: plain,
  });
  let toc = '';
  list.process.stdout!.setEncoding('utf8').on('data', (chunk: string) => (toc += chunk));
  // pg_restore stops reading after the TOC, so writes into the closed pipe are expected.
  unzstd.process.stdin!.on('error', () => undefined);
  compressed.on('error', () => undefined);
  compressed.pipe(unzstd.process.stdin!);
  try {
    await list.exited;
  } finally {
    compressed.destroy();
    unzstd.stop();
  }
  return toc.split('\n').filter((line) => line !== '' && !line.startsWith(';'));
}
