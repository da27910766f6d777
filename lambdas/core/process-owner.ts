import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { hostname } from 'node:os';

/**
 * Which process on which machine made something that outlives a crash (a restore's staging directory, a local
 * execution and the database it marks), and whether that process still runs: what a run killed midway left is
 * told from what a run still going holds by this alone.
 */
export interface ProcessOwner {
  /** The first 8 hex digits of the SHA-256 of the machine's host name. */
  host: string;
  pid: number;
  /** When the process started, in clock ticks since boot (/proc/<pid>/stat); 0 where there is no /proc. */
  start: number;
}

/** A process's start time, or undefined when it does not run (a zombie does not). */
function startOf(pid: number | 'self'): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name, in parentheses, may hold spaces: the fields are counted after it (state is the 3rd, starttime the 22nd).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return Number(fields[19]);
}

const hostLabel = (name: string) => createHash('sha256').update(name).digest('hex').slice(0, 8);

let self: ProcessOwner | undefined;

/** This process. */
export function thisProcess(): ProcessOwner {
  self ??= { host: hostLabel(hostname()), pid: process.pid, start: startOf('self') ?? 0 };
  return self;
}

/** The owner as a label of hex digits and dashes, `<host>-<pid>-<start>`, fit for file and execution names. */
export function ownerLabel(owner: ProcessOwner): string {
  return `${owner.host}-${owner.pid.toString(16)}-${owner.start.toString(16)}`;
}

/** The pattern of ownerLabel, for the names that embed one. */
export const OWNER_LABEL = '[0-9a-f]{8}-[0-9a-f]{1,8}-[0-9a-f]{1,16}';

/** The owner a label names (ownerLabel's inverse), or undefined when it is none. */
export function parseOwnerLabel(label: string): ProcessOwner | undefined {
  const match = /^([0-9a-f]{8})-([0-9a-f]{1,8})-([0-9a-f]{1,16})$/.exec(label);
  if (!match) return undefined;
  return { host: match[1]!, pid: parseInt(match[2]!, 16), start: parseInt(match[3]!, 16) };
}

/** Whether the owner still runs: `elsewhere` when it ran on another machine, which this one cannot tell. */
export type OwnerState = 'runs' | 'ended' | 'elsewhere';

export function ownerState(owner: ProcessOwner): OwnerState {
  if (owner.host !== thisProcess().host) return 'elsewhere';
  if (owner.start !== 0) {
    // Another process that took the number since has another start time.
    return startOf(owner.pid) === owner.start ? 'runs' : 'ended';
  }
  // No /proc: whether a process has the number, whichever it is (a number taken again counts as running).
  try {
    process.kill(owner.pid, 0);
    return 'runs';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? 'runs' : 'ended';
  }
}

/** The owner in words, for what cleanup reports. */
export function describeOwner(owner: ProcessOwner, state: OwnerState): string {
  if (state === 'elsewhere') return `process ${owner.pid} of another machine (host ${owner.host}), which this one cannot see`;
  return `process ${owner.pid} of this machine, which ${state === 'runs' ? 'still runs' : 'no longer runs'}`;
}

/**
 * Runs `script` (/bin/sh, with `args` as $1...; `name` is its $0) once this process has ended, however it ends: exit
 * handlers do not run on SIGKILL, nor on a second Ctrl-C, which exits at once (vitest also ends its workers with a
 * signal). A detached shell waits on a pipe only this process holds, whose end the kernel closes when this process
 * exits; detached, it is in a process group of its own, out of Ctrl-C's reach. Returns what dismisses it, once what
 * it would clean up has been cleaned up in order.
 */
export function whenThisProcessEnds(name: string, script: string, args: string[]): () => Promise<void> {
  const guard = spawn('/bin/sh', ['-c', `read -r _ <&3; ${script}`, name, ...args], {
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    detached: true,
  });
  guard.on('error', () => undefined);
  const exited = new Promise<void>((resolve) => guard.once('close', () => resolve()));
  guard.unref();
  const pipe = guard.stdio[3] as Socket | null;
  pipe?.unref();
  let dismissed: Promise<void> | undefined;
  return () =>
    (dismissed ??= (async () => {
      // Held again while it ends: an unreferenced child alone would let this process exit before it is reaped.
      guard.ref();
      if (guard.exitCode === null && guard.signalCode === null) guard.kill('SIGKILL');
      pipe?.destroy();
      await exited;
    })());
}
