import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { onTestFinished, TestRunner } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface StartedCli {
  process: ChildProcess;
  finished: Promise<CliRun>;
}

/** Starts the `lifeline` CLI from source as a separate process, as an operator would, without waiting for it. */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): StartedCli {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/lifeline.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const finished = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  // A test that ends (timed out, failed) with the CLI still running stops it: left running, it would hold its
  // sessions, locks and files in the shared cluster for the tests that follow. (A hook waits for the CLI it runs.)
  if (TestRunner.getCurrentTest()) {
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
  }
  return { process: child, finished };
}

/** Runs the `lifeline` CLI from source as a separate process, as an operator would. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return startCli(args, env).finished;
}
