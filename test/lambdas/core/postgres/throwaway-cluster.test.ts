import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient } from '../../../../lambdas/core/postgres/connection.js';
import { serverBinDir, startThrowawayCluster, type ThrowawayCluster } from '../../../../lambdas/core/postgres/throwaway-cluster.js';
import { ended, processesWith, runs } from '../../../support/processes.js';

const MODULE = fileURLToPath(new URL('../../../../lambdas/core/postgres/throwaway-cluster.ts', import.meta.url));

/** The server's postmaster, from its pid file. */
const postmasterOf = (dir: string) => Number(readFileSync(path.join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);

/** The TCP ports process `pid` listens on (IPv4 and IPv6), from the socket inodes it holds and the kernel's tables. */
function tcpPortsListenedBy(pid: number): number[] {
  const inodes = new Set(
    readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      return match ? [match[1]!] : [];
    }),
  );
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((table) =>
    readFileSync(table, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields[3] === '0A' && inodes.has(fields[9]!)) // 0A: LISTEN
      .map((fields) => parseInt(fields[1]!.split(':')[1]!, 16)),
  );
}

let parent: string;

beforeAll(async () => {
  parent = await mkdtemp(path.join(os.tmpdir(), 'lifeline-throwaway-test-'));
  // As root the server runs as the postgres user, who must reach its directory in here.
  await chmod(parent, 0o755);
});

afterAll(() => rm(parent, { recursive: true, force: true }));

describe('a throwaway cluster (startThrowawayCluster)', () => {
  it('socket only: answers on its socket, in a directory only its user reaches, and listens on no TCP port', async () => {
    const clusters: ThrowawayCluster[] = [];
    try {
      const socketOnly = await startThrowawayCluster({ listen: 'socket', parent, auth: 'trust' });
      clusters.push(socketOnly);
      const loopback = await startThrowawayCluster({ listen: 'loopback', parent, tls: false });
      clusters.push(loopback);

      const client = await connectClient(socketOnly.connection('postgres'));
      try {
        const { rows } = await client.query<{ major: string }>("SELECT current_setting('server_version_num')::int / 10000 AS major");
        expect(Number(rows[0]!.major)).toBe(socketOnly.major);
      } finally {
        await client.end();
      }
      expect(socketOnly.host).toBe(socketOnly.dir);
      expect(statSync(socketOnly.dir).mode & 0o777).toBe(0o700);
      expect(tcpPortsListenedBy(postmasterOf(socketOnly.dir))).toEqual([]);
      // The same look finds a loopback cluster's port.
      expect(tcpPortsListenedBy(postmasterOf(loopback.dir))).toEqual([loopback.port]);
      // Its log's last lines, for an error's message: the log goes with its directory.
      expect(await loopback.serverLog()).toMatch(/database system is ready to accept connections/);
    } finally {
      for (const cluster of clusters) await cluster.stop();
    }
    expect(await readdir(parent)).toEqual([]);
  });

  it('stop() stops the server, removes its directory and says so; a second stop() changes nothing', async () => {
    const cluster = await startThrowawayCluster({ listen: 'socket', parent, auth: 'trust' });
    const postmaster = postmasterOf(cluster.dir);
    expect(await cluster.stop()).toBe(`server stopped, ${cluster.dir} removed`);
    expect(await cluster.stop()).toBe(`server stopped, ${cluster.dir} removed`);
    expect(runs(postmaster)).toBe(false);
    expect(await readdir(parent)).toEqual([]);
    expect(processesWith(cluster.dir)).toEqual([]);
  });

  it('fails with the error name it was given and leaves nothing when the server cannot be made', async () => {
    const error = await startThrowawayCluster({ listen: 'socket', parent, binDir: parent, errorName: 'RestoreFailed' }).catch(
      (caught: unknown) => caught as Error,
    );
    expect(error).toMatchObject({ name: 'RestoreFailed', message: expect.stringMatching(/^the throwaway PostgreSQL's postgres failed: /) });
    expect(await readdir(parent)).toEqual([]);
    expect(processesWith(parent)).toEqual([]);
  });

  it.each(['socket', 'loopback'] as const)('%s: a SIGKILLed owner leaves no server running and no directory', async (listen) => {
    // The owner is another process, as a vitest worker, a demo or a runner is; it prints its cluster and waits.
    const script = [
      `const { startThrowawayCluster } = await import(${JSON.stringify(MODULE)});`,
      `const cluster = await startThrowawayCluster({ listen: '${listen}', parent: ${JSON.stringify(parent)} });`,
      'console.log(cluster.dir);',
      'setInterval(() => undefined, 1000);',
    ].join('\n');
    const owner = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const dir = await new Promise<string>((resolve, reject) => {
      let out = '';
      owner.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(out.trim());
      });
      owner.once('exit', (code) => reject(new Error(`the owner exited (${code}) before starting its cluster`)));
    });
    const postmaster = postmasterOf(dir);
    expect(runs(postmaster)).toBe(true);

    owner.kill('SIGKILL');
    // Bounds, not timings: the guard stops the server and removes the directory as soon as the owner is gone.
    expect(await ended([postmaster])).toEqual([postmaster]);
    for (let waited = 0; existsSync(dir) && waited < 60_000; waited += 100) await sleep(100);
    expect(existsSync(dir)).toBe(false);
    const left = processesWith(dir); // the guard, finishing
    expect(await ended(left)).toEqual(left);
  });
});

describe('the server binaries (serverBinDir)', () => {
  it("reads the CLI's and tests' variable by default, and the runner image's only when told to", () => {
    const newest = serverBinDir({ env: {} });
    expect(newest).toMatch(/\/usr\/lib\/postgresql\/\d+\/bin$/);
    expect(serverBinDir({ env: { LIFELINE_PG_SERVER_BIN: newest } })).toBe(newest);
    expect(serverBinDir({ env: { PG_SERVER_BIN_DIR: '/nowhere' } })).toBe(newest);
    expect(() => serverBinDir({ env: { LIFELINE_PG_SERVER_BIN: '/nowhere' } })).toThrow(
      /^LIFELINE_PG_SERVER_BIN: \/nowhere holds no initdb; .*apt-get install postgresql/,
    );
  });
});
