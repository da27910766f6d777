import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { runPipeline, startPipeline, type Stage } from '../../../lambdas/core/child-process.js';
import { LifelineError } from '../../../lambdas/core/errors.js';
import { ended } from '../../support/processes.js';

const env = { PATH: process.env.PATH };

/** A shell one-liner as a stage, reported under `failure`. */
function sh(script: string, failure: Stage['failure'] = 'DumpFailed', redact?: Stage['redact']): Stage {
  return { command: 'sh', args: ['-c', script], env, failure, redact };
}

async function rejection(promise: Promise<unknown>): Promise<LifelineError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return error as LifelineError;
}

describe('a pipeline of child processes', () => {
  it('hands each stage its predecessor’s stdout, so 64 MiB pass from one to the next and only the last one’s output reaches Node', async () => {
    const run = startPipeline({ stages: [sh('head -c 67108864 /dev/zero'), sh('wc -c')] });
    let received = '';
    run.output.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
    await run.done;
    expect(received.trim()).toBe('67108864');
  });

  it('feeds a Node stream to the first stage and returns the last stage’s output as text', async () => {
    const input = Readable.from(['one\n', 'two\n', 'three\n']);
    await expect(runPipeline({ stages: [sh('cat'), sh('wc -l')], input })).resolves.toMatch(/^\s*3\s*$/);
  });

  it('fails with the failing stage’s error name, exit status and stderr, although the stage after it exited 0', async () => {
    const error = await rejection(
      runPipeline({ stages: [sh('echo "no such table" >&2; exit 3', 'DumpFailed'), sh('cat', 'RestoreFailed')] }),
    );
    expect(error.name).toBe('DumpFailed');
    expect(error.message).toBe('sh exited with code 3: no such table');
  });

  it('reports the stage that failed first, not the one upstream that its failure broke, and stops that one', async () => {
    // `yes` would run for ever; the reader's failure must stop it and be the one reported.
    const error = await rejection(
      runPipeline({ stages: [sh('exec yes', 'DumpFailed'), sh('head -c 1000 >/dev/null; echo "disk full" >&2; exit 4', 'RestoreFailed')] }),
    );
    expect(error.name).toBe('RestoreFailed');
    expect(error.message).toBe('sh exited with code 4: disk full');
  });

  it('redacts stderr with the stage’s own function and keeps only its tail', async () => {
    const error = await rejection(
      runPipeline({
        stages: [
          sh('head -c 10000 /dev/zero | tr "\\0" x >&2; echo " password=hunter2" >&2; exit 1', 'DumpFailed', (t) =>
            t.replace('hunter2', '[redacted]'),
          ),
        ],
      }),
    );
    expect(error.message).toContain('password=[redacted]');
    expect(error.message).not.toContain('hunter2');
    expect(error.message.length).toBeLessThan(4200);
  });

  it('names a program that cannot start, and how to point at it', async () => {
    const error = await rejection(runPipeline({ stages: [{ command: '/nonexistent/pg_dump', args: [], env, failure: 'DumpFailed' }] }));
    expect(error.name).toBe('DumpFailed');
    expect(error.message).toMatch(/^pg_dump could not start: .*ENOENT.*\(not installed\? set PG_BIN_DIR or PATH\)$/);
  });

  it('fails with the input’s own error when the stream feeding it breaks, and stops the stages', async () => {
    const input = new Readable({
      read() {
        this.push('a partial archive\n');
        this.destroy(new Error('connection reset by the storage server'));
      },
    });
    const error = await rejection(runPipeline({ stages: [sh('cat >/dev/null; exec sleep 30')], input }));
    expect(error.message).toBe('connection reset by the storage server');
  });

  it('with readsHead, succeeds once the last stage has what it needs, whatever the stages before it then do', async () => {
    // head exits after 5 bytes; cat upstream then fails writing into the closed pipe, which does not count.
    const input = Readable.from(Buffer.alloc(8 * 1024 * 1024, 'x'));
    await expect(runPipeline({ stages: [sh('cat'), sh('head -c 5')], input, readsHead: true })).resolves.toBe('xxxxx');
  });

  it('with readsHead, still reports an earlier stage’s failure when the last stage fails too', async () => {
    const error = await rejection(
      runPipeline({
        stages: [sh('echo "corrupt frame" >&2; exit 1', 'VerificationFailed'), sh('cat >/dev/null; exit 2', 'RestoreFailed')],
        readsHead: true,
      }),
    );
    expect(error.name).toBe('VerificationFailed');
    expect(error.message).toBe('sh exited with code 1: corrupt frame');
  });

  it('stops every stage when its signal fires, and when asked to', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const aborted = runPipeline({ stages: [sh('exec sleep 30'), sh('exec sleep 30')], signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    expect((await rejection(aborted)).message).toBe('sh was killed by SIGTERM');

    const run = startPipeline({ stages: [sh('exec sleep 30')] });
    run.stop();
    expect((await rejection(run.done)).message).toBe('sh was killed by SIGTERM');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('gives each stage only the environment it is given', async () => {
    process.env.LIFELINE_TEST_SECRET = 'must-not-leak';
    try {
      const output = await runPipeline({
        stages: [{ command: 'env', args: [], env: { PATH: process.env.PATH, ONLY: 'this' }, failure: 'DumpFailed' }],
      });
      expect(output.trim().split('\n').sort()).toEqual([`PATH=${process.env.PATH}`, 'ONLY=this'].sort());
    } finally {
      delete process.env.LIFELINE_TEST_SECRET;
    }
  });

  it('stops what a stage started with it: pg_restore -j’s workers are in its process group', async () => {
    await withScratch(async (dir) => {
      const pids = join(dir, 'pids');
      const run = startPipeline({
        stages: [sh(`sleep 1000 >/dev/null 2>&1 & echo "$$ $!" > ${pids}.tmp && mv ${pids}.tmp ${pids}; wait`)],
      });
      const [stage, worker] = await processIds(pids);
      run.stop();
      expect((await rejection(run.done)).message).toBe('sh was killed by SIGTERM');
      expect(await ended([stage, worker])).toEqual([stage, worker]);
    });
  });

  it('ends a stage and its workers when the process that started them is killed (SIGKILL), as a crash would', async () => {
    await withScratch(async (dir) => {
      const pids = join(dir, 'pids');
      const parent = spawn(process.execPath, ['--import', 'tsx', 'test/support/pipeline-as-child.ts', pids], { stdio: 'ignore' });
      try {
        const [stage, worker] = await processIds(pids);
        parent.kill('SIGKILL');
        expect(await ended([stage, worker])).toEqual([stage, worker]);
      } finally {
        parent.kill('SIGKILL');
      }
    });
  });
});

async function withScratch(use: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeline-groups-'));
  try {
    await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The process ids a stage wrote into `file` (`<stage> <worker>`), once it has written them. */
async function processIds(file: string): Promise<[number, number]> {
  while (!existsSync(file)) await sleep(20);
  const [stage, worker] = (await readFile(file, 'utf8')).trim().split(' ').map(Number);
  return [stage!, worker!];
}
