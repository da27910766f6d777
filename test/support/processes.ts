import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Whether process `pid` runs: it exists and is no zombie waiting for a parent that will never reap it (Linux /proc). */
export function runs(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The running processes whose command line holds `text` (a staging directory's path, say). */
export function processesWith(text: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text) && runs(pid);
      } catch {
        return false;
      }
    });
}

/**
 * Those of `pids` that ended within 20 s. A process that is to end ends at once: one that does not end by then was
 * left running (the tests' stray processes would run for 1000 s, or wait for ever).
 */
export async function ended(pids: number[]): Promise<number[]> {
  const deadline = Date.now() + 20_000;
  while (pids.some(runs) && Date.now() < deadline) await sleep(50);
  return pids.filter((pid) => !runs(pid));
}
