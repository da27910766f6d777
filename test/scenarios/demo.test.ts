import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DemoSummary } from '../../lambdas/core/operator/local-demo.js';
import { runCli, startCli, type StartedCli } from '../support/cli.js';
import { processesWith } from '../support/processes.js';

/**
 * `lifeline demo` (`npm run demo`) end to end, as a newcomer runs it: its own PostgreSQL, S3, sample application,
 * backup, accident, restore and cutover workflows, in a temp directory of its own (TMPDIR), which must be empty again
 * afterwards, with nothing listening where it ran and no process of it left.
 */

let scratch: string;

beforeEach(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'lifeline-demo-test-'));
  // The server runs as the `postgres` user when this runs as root: it must reach its directory in here.
  await chmod(scratch, 0o755);
});

afterEach(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** What is left in the scratch directory, but tsx's compile cache (tsx-<uid>), which the CLI's loader keeps in every TMPDIR. */
async function leftIn(directory: string): Promise<string[]> {
  return (await readdir(directory)).filter((name) => !/^tsx-\d+$/.test(name));
}

/** Whether something accepts connections at host:port. */
function listening(hostPort: string): Promise<boolean> {
  const [host, port] = hostPort.split(':') as [string, string];
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), host);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** The processes whose command line names the scratch directory (the server's data directory, the application's start). */
function processesIn(directory: string): string[] {
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(directory));
}

/** The sample application's processes started for `port` (their command lines do not name the scratch directory). */
const sampleApplicationOn = (port: string) => processesWith(`--port\u0000${port}\u0000`);

/** Waits until `done` holds, within a generous bound (a bound, not a timing: what is to end ends at once). */
async function eventually(done: () => Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 60_000; !(await done()) && Date.now() < deadline;) await sleep(200);
}

interface Midway {
  demo: StartedCli;
  /** Resolves once the demo has printed what `pattern` matches (on standard error). */
  printed: (pattern: RegExp) => Promise<RegExpExecArray>;
  /** Where PostgreSQL, S3 and the sample application listen. */
  listeners: { postgres: string; s3: string; application: string };
}

/** Starts the demo and waits for the sample application to answer (then the database and S3 are up too). */
async function demoOnceTheApplicationAnswers(): Promise<Midway> {
  const demo = startCli(['demo', '--yes'], { TMPDIR: scratch });
  let stderr = '';
  const waiting = new Set<() => void>();
  demo.process.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const check of waiting) check();
  });
  const printed = (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(stderr);
        if (!match) return;
        waiting.delete(check);
        resolve(match);
      };
      waiting.add(check);
      check();
      void demo.finished.then((run) => reject(new Error(`the demo ended (${run.code}) before printing ${pattern}: ${run.stderr}`)));
    });
  const application = (await printed(/shop-api answers on (\S+):/))[1]!;
  return {
    demo,
    printed,
    listeners: {
      postgres: (await printed(/PostgreSQL on (\S+),/))[1]!,
      s3: new URL((await printed(/S3 on (\S+),/))[1]!).host,
      application: new URL(application).host,
    },
  };
}

/** Nothing of the demo is left: no directory, no process (PostgreSQL, the sample application, a guard), nothing listening. */
async function expectNothingLeft({ listeners }: Midway): Promise<void> {
  const port = listeners.application.split(':')[1]!;
  const left = async () => ({
    directories: await leftIn(scratch),
    processes: [...processesIn(scratch), ...sampleApplicationOn(port).map(String)],
    listening: (await Promise.all(Object.values(listeners).map(async (at) => ((await listening(at)) ? [at] : [])))).flat(),
  });
  await eventually(async () => Object.values(await left()).every((found) => found.length === 0));
  expect(await left()).toEqual({ directories: [], processes: [], listening: [] });
}

describe('lifeline demo', () => {
  it('recovers the sample application from the accident, prints the summary, exits 0 and leaves nothing behind', async () => {
    const run = await runCli(['demo', '--yes', '--json'], { TMPDIR: scratch });
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout) as DemoSummary;
    expect(summary).toMatchObject({
      rpo: { lostOrders: 30 },
      restored: { database: 'shop_restored', tables: 3, backupKey: expect.stringMatching(/^(daily|weekly|monthly)\/shop\/.*\.dump$/) },
      changed: { application: 'shop-api', from: 'shop', to: 'shop_restored', ordersServed: 120 },
    });
    expect(summary.rpo.seconds).toBeGreaterThan(0);
    expect(summary.rto.seconds).toBeGreaterThan(0);
    expect(summary.text).toMatch(/^RPO .*\nRTO .*\nRestored .*\nChanged .*$/);
    // The real workflows ran: the restore, its approval, and the hand-over to the cutover.
    for (const state of ['RunRestore', 'ValidateRestore', 'WaitForApproval', 'VerifyApproval', 'HandOver', 'Done']) {
      expect(run.stderr).toContain(`> ${state}\n`);
    }
    expect(await leftIn(scratch)).toEqual([]);
    for (const at of [summary.ran.postgres, summary.ran.s3.replace('http://', ''), new URL(summary.ran.application).host]) {
      expect(await listening(at), at).toBe(false);
    }
    expect(processesIn(scratch)).toEqual([]);
  }, 300_000);

  it('ends a failed step with what to do, naming the package to install when there are no PostgreSQL server binaries', async () => {
    const run = await runCli(['demo', '--yes'], { TMPDIR: scratch, LIFELINE_PG_SERVER_BIN: scratch });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('lifeline: InvalidConfig: Starting PostgreSQL failed: LIFELINE_PG_SERVER_BIN: ');
    expect(run.stderr).toContain('apt-get install postgresql');
    expect(run.stderr).toMatch(/\nWhat to do: install the PostgreSQL server package/);
    expect(await leftIn(scratch)).toEqual([]);
  });

  it('leaves nothing behind when it is killed (SIGKILL) once its application answers', async () => {
    const midway = await demoOnceTheApplicationAnswers();
    // What it started is there to be left behind.
    expect(await leftIn(scratch)).toEqual(expect.arrayContaining([expect.stringMatching(/^lifeline-demo-/)]));
    expect(sampleApplicationOn(midway.listeners.application.split(':')[1]!)).not.toEqual([]);
    midway.demo.process.kill('SIGKILL');
    expect((await midway.demo.finished).code).toBeNull();
    await expectNothingLeft(midway);
  }, 300_000);

  it('leaves nothing behind on a second Ctrl-C, which quits at once while it cleans up', async () => {
    const midway = await demoOnceTheApplicationAnswers();
    midway.demo.process.kill('SIGINT');
    await midway.printed(/send it again to quit at once/);
    midway.demo.process.kill('SIGINT');
    const run = await midway.demo.finished;
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).not.toContain('Interrupted: the demo was stopped');
    await expectNothingLeft(midway);
  }, 300_000);

  it('stops cleanly on Ctrl-C midway, removing everything it started', async () => {
    const demo = startCli(['demo', '--yes'], { TMPDIR: scratch });
    let stderr = '';
    await new Promise<void>((resolve) => {
      demo.process.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('3/5')) resolve();
      });
    });
    const postgres = /PostgreSQL on (\S+),/.exec(stderr)![1]!;
    const application = new URL(/shop-api answers on (\S+):/.exec(stderr)![1]!).host;
    demo.process.kill('SIGINT');
    const run = await demo.finished;
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toContain('Interrupted');
    expect(await leftIn(scratch)).toEqual([]);
    expect(await listening(postgres)).toBe(false);
    expect(await listening(application)).toBe(false);
    expect(processesIn(scratch)).toEqual([]);
  }, 300_000);
});
