import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline as pipeStreams } from 'node:stream/promises';
import { LifelineError, type LifelineErrorName } from './errors.js';
import { whenThisProcessEnds } from './process-owner.js';

const STDERR_TAIL_BYTES = 4096;

/** PostgreSQL client binaries: PG_BIN_DIR in the Lambda image, else whatever PATH finds. */
export function pgBinary(name: 'pg_dump' | 'pg_restore'): string {
  const dir = process.env.PG_BIN_DIR;
  return dir ? join(dir, name) : name;
}

/** One program of a pipeline. */
export interface Stage {
  command: string;
  args: string[];
  /** Built from scratch for the child: it never inherits process.env (the function's AWS credentials, PG*). */
  env: NodeJS.ProcessEnv;
  /** The error name a failure of this program is reported under. */
  failure: LifelineErrorName;
  /** Applied to stderr before it is put into an error message (connection details, for the PostgreSQL tools). */
  redact?: (text: string) => string;
}

export interface PipelineSpec {
  /** Each stage's stdout is handed to the next stage's stdin as a file descriptor: no bytes pass through Node. */
  stages: [Stage, ...Stage[]];
  /** Written to the first stage's stdin; without it the first stage reads nothing. */
  input?: Readable;
  /**
   * The last stage may finish before reading all its input (pg_restore --list reads only the table of contents
   * at an archive's head). Once it succeeds, the stages before it and the input are stopped, and that is no failure.
   */
  readsHead?: boolean;
  /** Stops every stage when it fires. */
  signal?: AbortSignal;
}

export interface Pipeline {
  /** The last stage's stdout. */
  output: Readable;
  /**
   * Resolves when every stage has exited 0 and the input was fully written. Otherwise the other stages are
   * stopped and it rejects with the failure that came first (a stage's, named by its `failure`, with its exit
   * status and redacted stderr tail; or the input's own error), since the later ones are its consequences; a
   * stage that failed only because its reader ended is never preferred to the reader's own failure.
   */
  done: Promise<void>;
  /** Stops every stage still running and the input (another part of the work failed, or it was interrupted). */
  stop(): void;
}

interface Failure {
  error: Error;
  /**
   * It is most likely a consequence of another failure: it happened after the pipeline was stopped, or the
   * stage lost its reader (stdio pipes are socket pairs: writing to a reader that exited is EPIPE or ECONNRESET).
   */
  consequence: boolean;
}

const LOST_READER = /Broken pipe|Connection reset by peer/;

/**
 * Makes the process group `group` (a stage and whatever it forks: pg_restore's workers) end with this process,
 * however this process ends, SIGKILL included (whenThisProcessEnds): the group gets SIGTERM. Returns what dismisses
 * it once the stage has ended by itself (then the group is gone, and its number may be taken again).
 */
function endWithThisProcess(group: number): () => void {
  const dismiss = whenThisProcessEnds('lifeline-guard', 'kill -s TERM -- "-$1" 2>/dev/null', [String(group)]);
  return () => void dismiss();
}

/** SIGTERM to the process group `group`; false when it has no process left. */
function signalGroup(group: number | undefined): boolean {
  if (group === undefined) return false;
  try {
    process.kill(-group, 'SIGTERM');
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to a stage's process group: the stage and every process it started (pg_restore -j's workers). */
function stopGroup(child: ChildProcess): void {
  // The stage alone if the group has ended, in case the stage left it.
  if (!signalGroup(child.pid)) child.kill('SIGTERM');
}

function stageFailure(stage: Stage, message: string): LifelineError {
  const name = stage.command.split('/').pop() ?? stage.command;
  return new LifelineError(stage.failure, `${name} ${message}`);
}

/** Starts `a | b | ...`, with each stage's bounded, redacted stderr tail kept to explain its failure. */
export function startPipeline(spec: PipelineSpec): Pipeline {
  const failures: Failure[] = [];
  const kills: (() => void)[] = [];
  let stopped = false;
  let finished = false; // the last stage succeeded: what the stages before it do from here on does not count
  // With readsHead, a failure before the last stage may be that stage's doing (it closed its input early): it
  // counts only if the last stage fails too.
  let deferred: Failure[] = [];
  let lastFailed = false;
  const fail = (error: Error, beforeLast: boolean, lostReader = false, killed = false) => {
    if (finished) return;
    const failure = { error, consequence: stopped || lostReader };
    if (spec.readsHead && beforeLast) {
      // Its exit may be heard of after the last stage's failure that it caused: it still comes first, unless
      // it only ended because the failure stopped it.
      if (lastFailed) return void failures.unshift({ error, consequence: killed || lostReader });
      return void deferred.push(failure);
    }
    if (!beforeLast) lastFailed = true;
    failures.push(...deferred, failure);
    deferred = [];
    // A stage that lost its reader needs no stopping of the rest: its reader has ended, which ends the pipeline.
    if (!lostReader) stop();
  };
  const stop = () => {
    stopped = true;
    for (const kill of kills) kill();
    spec.input?.destroy();
  };

  let upstream: Readable | 'pipe' | 'ignore' = spec.input ? 'pipe' : 'ignore';
  let firstStdin: Writable | null = null;
  let output: Readable | null = null;
  const exits: Promise<void>[] = [];
  for (const [index, stage] of spec.stages.entries()) {
    // A process group of its own, stopped as one (stopGroup) and ended with this process (endWithThisProcess).
    const child: ChildProcess = spawn(stage.command, stage.args, { env: stage.env, stdio: [upstream, 'pipe', 'pipe'], detached: true });
    const dismissGuard = child.pid === undefined ? () => undefined : endWithThisProcess(child.pid);
    // What the stage started ends with it: a worker left behind would also hold the stage's pipes open.
    child.once('exit', () => {
      signalGroup(child.pid);
      dismissGuard();
    });
    // The child holds that pipe now; our copy would keep its writer from ever seeing it close.
    if (typeof upstream !== 'string') upstream.destroy();
    if (index === 0) firstStdin = child.stdin;
    output = child.stdout;
    upstream = output ?? 'ignore';
    let tail = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      tail = (tail + chunk).slice(-STDERR_TAIL_BYTES);
    });
    let running = true;
    kills.push(() => {
      if (running) stopGroup(child);
    });
    const isLast = index === spec.stages.length - 1;
    exits.push(
      new Promise<void>((resolve) => {
        const exit = (failure?: LifelineError, lostReader = false, killed = false) => {
          if (!running) return;
          running = false;
          dismissGuard();
          if (failure) fail(failure, !isLast, lostReader, killed);
          else if (isLast && spec.readsHead) {
            finished = true;
            stop();
          }
          resolve();
        };
        child.once('error', (error: NodeJS.ErrnoException) => {
          const hint = error.code === 'ENOENT' ? ' (not installed? set PG_BIN_DIR or PATH)' : '';
          exit(stageFailure(stage, `could not start: ${error.message}${hint}`));
        });
        child.once('close', (code, signal) => {
          if (code === 0) return exit();
          const detail = (stage.redact ?? ((text: string) => text))(tail.trim());
          const status = signal ? `was killed by ${signal}` : `exited with code ${code}`;
          exit(
            stageFailure(stage, `${status}${detail ? `: ${detail}` : ''}`),
            signal === 'SIGPIPE' || LOST_READER.test(tail),
            signal !== null,
          );
        });
      }),
    );
  }
  if (!output) throw new Error('a pipeline stage was started without a stdout pipe');

  if (spec.input && firstStdin) {
    exits.push(
      pipeStreams(spec.input, firstStdin).catch((error: NodeJS.ErrnoException) => {
        // A stage that stops reading explains itself by its exit (or, with readsHead, needed no more).
        if (error.code !== 'EPIPE') fail(error, true);
      }),
    );
  }
  spec.signal?.addEventListener('abort', stop, { once: true });
  if (spec.signal?.aborted) stop();

  const done = Promise.all(exits).then(() => {
    spec.signal?.removeEventListener('abort', stop);
    const cause = failures.find((failure) => !failure.consequence) ?? failures[0];
    if (cause) throw cause.error;
  });
  // A caller may never await a pipeline that failed elsewhere in its work; its failure is reported there.
  done.catch(() => undefined);
  return { output, done, stop };
}

/** Runs a pipeline to its end and returns what its last stage wrote to stdout. */
export async function runPipeline(spec: PipelineSpec): Promise<string> {
  const run = startPipeline(spec);
  let text = '';
  run.output.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  await run.done;
  return text;
}
