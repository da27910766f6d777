import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { join } from 'node:path';
import { LifelineError, type LifelineErrorName } from './errors.js';

const STDERR_TAIL_BYTES = 4096;

/** PostgreSQL client binaries: PG_BIN_DIR in the Lambda image, else whatever PATH finds. */
export function pgBinary(name: 'pg_dump' | 'pg_restore'): string {
  const dir = process.env.PG_BIN_DIR;
  return dir ? join(dir, name) : name;
}

export interface ChildSpec {
  command: string;
  args: string[];
  /** Built from scratch for the child: it never inherits process.env (the function's AWS credentials, PG*). */
  env: NodeJS.ProcessEnv;
  stdio: StdioOptions;
  /** The error name a failure is reported under. */
  failure: LifelineErrorName;
  /** Applied to stderr before it is put into an error message. */
  redact: (text: string) => string;
  /** Stops the child when it fires (an interrupted restore). */
  signal?: AbortSignal;
}

export interface RunningChild {
  process: ChildProcess;
  /** Resolves on exit code 0; rejects with the failure name, the exit status and stderr's tail. */
  exited: Promise<void>;
  /** Stops the child if it is still running (after another part of a pipeline failed). */
  stop(): void;
}

/** Starts a child whose stderr tail (bounded, redacted) explains its failure. */
export function startChild(spec: ChildSpec): RunningChild {
  const name = spec.command.split('/').pop() ?? spec.command;
  const child = spawn(spec.command, spec.args, { env: spec.env, stdio: spec.stdio });
  let tail = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-STDERR_TAIL_BYTES);
  });
  let running = true;
  const stop = () => {
    if (running) child.kill('SIGTERM');
  };
  spec.signal?.addEventListener('abort', stop, { once: true });
  if (spec.signal?.aborted) stop();
  child.once('close', () => spec.signal?.removeEventListener('abort', stop));
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      running = false;
      const hint = error.code === 'ENOENT' ? ' (not installed? set PG_BIN_DIR or PATH)' : '';
      reject(new LifelineError(spec.failure, `${name} could not start: ${error.message}${hint}`));
    });
    child.once('close', (code, signal) => {
      running = false;
      if (code === 0) return resolve();
      const status = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const detail = spec.redact(tail.trim());
      reject(new LifelineError(spec.failure, `${name} ${status}${detail ? `: ${detail}` : ''}`));
    });
  });
  // A caller may never await a child whose pipeline failed elsewhere; its rejection is reported by then.
  exited.catch(() => undefined);
  return {
    process: child,
    exited,
    stop,
  };
}
