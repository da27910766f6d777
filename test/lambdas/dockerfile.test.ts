import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNNER_RESTORE_COMMAND, RUNNER_STAGING_DIR, RUNNER_USER } from '../../lambdas/core/runner/environment.js';
import { startPostgres, type PostgresCluster } from '../support/postgres.js';
import { buildBundle, bundleOf, DOCKERFILE, finalStage, imageEnvironment, type Instruction } from '../support/dockerfile.js';
import { imageUserDir, type ImageUserDir } from '../support/image-user.js';
import { sharedS3 } from '../support/shared.js';

/** ENV variables whose value is an absolute path: files the image's code relies on. */
async function envPaths(): Promise<Map<string, string>> {
  return new Map(Object.entries(await imageEnvironment()).filter(([, value]) => value.startsWith('/')));
}

interface FileCreation {
  instruction: string;
  /** The mode the file gets; undefined when it comes from the build context without --chmod. */
  mode?: number;
  owner?: string;
}

/** The ADD or COPY that puts a file at `target`, with the mode and owner it gives it. */
function creationOf(stage: Instruction[], target: string): FileCreation | undefined {
  for (const { keyword, words } of stage.filter((i) => i.keyword === 'ADD' || i.keyword === 'COPY')) {
    const flags = words.filter((w) => w.startsWith('--'));
    const [destination = '', ...sources] = words.filter((w) => !w.startsWith('--')).reverse();
    const lands = destination.endsWith('/') ? sources.map((s) => destination + path.basename(s)) : [destination];
    if (!lands.includes(target)) continue;
    const flag = (name: string) => flags.find((f) => f.startsWith(`--${name}=`))?.split('=')[1];
    const chmod = flag('chmod');
    // Docker's documented rule: a file ADDed from a URL gets mode 0600 unless --chmod says otherwise.
    const fromUrl = sources.some((s) => /^https?:\/\//.test(s));
    return {
      instruction: [keyword, ...words].join(' '),
      mode: chmod !== undefined ? parseInt(chmod, 8) : fromUrl ? 0o600 : undefined,
      owner: flag('chown')?.split(':')[0],
    };
  }
  return undefined;
}

/** Lambda runs the image as an unprivileged user that owns none of its files; USER, if set, must read them too. */
function readableBy(file: FileCreation, user: string): boolean {
  if (user === 'root' || user === '0') return true;
  if (file.mode === undefined) return false; // whatever the build context had: unknown
  return file.owner === user ? (file.mode & 0o400) !== 0 : (file.mode & 0o004) !== 0;
}

/** How the image creates the CA bundle that PGSSLROOTCERT names. */
async function caBundleCreation(): Promise<FileCreation> {
  const stage = await finalStage();
  const creation = creationOf(stage, (await envPaths()).get('PGSSLROOTCERT') ?? '');
  if (!creation) throw new Error(`${DOCKERFILE} sets no PGSSLROOTCERT, or does not create the file it names`);
  return creation;
}

describe('the image', () => {
  it('creates every file its environment points at readable by the user Lambda runs it as', async () => {
    const stage = await finalStage();
    const users = ['an unprivileged Lambda user', ...stage.filter((i) => i.keyword === 'USER').map((i) => i.words[0]!.split(':')[0]!)];
    const checked: string[] = [];
    for (const [name, file] of await envPaths()) {
      const creation = creationOf(stage, file);
      if (!creation) continue; // comes with the base image or a package, as /usr/bin does
      checked.push(name);
      for (const user of users) {
        expect(readableBy(creation, user), `${name}: ${creation.instruction} is not readable by ${user} (give --chmod)`).toBe(true);
      }
    }
    expect(checked).toContain('PGSSLROOTCERT');
  });
});

/** Runs a backup (`script`, a bundle in `dir`) as `nobody`, the way Lambda runs the image: as a user that owns none of its files. */
function backUpAsNobody(
  dir: ImageUserDir,
  script: string,
  request: object,
  env: NodeJS.ProcessEnv,
): Promise<{ key?: string; error?: { name: string; message: string } }> {
  return new Promise((resolve, reject) => {
    const child = spawn('runuser', ['-u', 'nobody', '--', dir.node, script], {
      cwd: '/', // one nobody may enter, unlike the checkout
      env: { PATH: process.env.PATH, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', () => {
      try {
        resolve(JSON.parse(stdout.trim().split('\n').at(-1)!));
      } catch {
        reject(new Error(`no outcome from the backup:\n${stdout}\n${stderr}`));
      }
    });
    child.stdin.end(JSON.stringify(request));
  });
}

describe("a backup run as an unprivileged user, with the image's CA bundle", () => {
  const s3 = sharedS3();
  let cluster: PostgresCluster;
  let dir: ImageUserDir;
  let script: string;
  let bundle: string;
  let request: object;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    cluster = await startPostgres({ tls: { hostname: 'localhost' } });
    const database = await cluster.createDatabase('nobody');
    await cluster.query(database, 'CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 10);');
    // The backup bundled as the handler is, and the CA bundle where the image has it, below directories anyone may enter.
    dir = await imageUserDir();
    script = path.join(dir.path, 'back-up-as-child.mjs');
    await buildBundle('test/support/back-up-as-child.ts', script, 'lambdas/backup/handler.ts');
    await mkdir(path.join(dir.path, 'etc/pki/rds'), { recursive: true, mode: 0o755 });
    bundle = path.join(dir.path, 'etc/pki/rds/global-bundle.pem');
    const bucket = await s3.createBucket('nobody');
    // A loopback host would default to prefer, which verifies nothing: ask for what RDS hosts get.
    const databaseUrl = `postgres://${cluster.user}:${cluster.password}@localhost:${cluster.port}/${database}?sslmode=verify-full`;
    request = { databaseUrl, bucket };
    env = {
      PGSSLROOTCERT: bundle, // as the image sets it
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY,
      AWS_REGION: 'us-east-1',
    };
  });
  afterAll(async () => {
    await cluster?.stop();
    await dir?.remove();
  });

  async function placeBundle(mode: number) {
    await copyFile(cluster.caFile!, bundle);
    await chmod(bundle, mode);
  }

  it('verifies the server (pg and pg_dump) with the CA bundle as the Dockerfile creates it', async () => {
    await placeBundle((await caBundleCreation()).mode!);
    const outcome = await backUpAsNobody(dir, script, request, env);
    expect(outcome.error).toBeUndefined();
    expect(outcome.key).toMatch(/^monthly\/orders\//);
  });

  it('fails naming the bundle when it is root-only, as ADD of a URL leaves it, instead of connecting unverified', async () => {
    await placeBundle(0o600);
    const outcome = await backUpAsNobody(dir, script, request, env);
    expect(outcome).toEqual({ error: { name: 'InvalidInput', message: `sslrootcert: cannot read the CA bundle ${bundle} (EACCES)` } });
  });
});

function runNode(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the runner in the image', () => {
  it('bundles the CLI at the path RUNNER_RESTORE_COMMAND runs', async () => {
    const { inImage } = await bundleOf('bin/lifeline.ts');
    expect(RUNNER_RESTORE_COMMAND.slice(0, 2)).toEqual(['node', inImage]);
  });

  it("creates the staging directory RUNNER_USER's, mode 0700, for Fargate to give the volume", async () => {
    const [uid, gid] = RUNNER_USER.split(':');
    const creations = (await finalStage())
      .filter((i) => i.keyword === 'RUN' && i.words.includes(RUNNER_STAGING_DIR))
      .map((i) => i.words.join(' '));
    expect(creations).toEqual([`install -d -o ${uid} -g ${gid} -m 0700 ${RUNNER_STAGING_DIR}`]);
  });

  it('builds, with the Dockerfile’s own command, a CLI that runs without node_modules or the local workflow engine', async () => {
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'lifeline-bundle-'));
    try {
      const bundle = path.join(scratch, 'lifeline.mjs');
      await buildBundle('bin/lifeline.ts', bundle);
      expect(await readFile(bundle, 'utf8')).not.toMatch(/aws-local-stepfunctions|asl-validator/);

      const runner = await runNode([bundle, 'runner', 'restore'], scratch, {
        VAULT_BUCKET: 'vault',
        LIFELINE_STAGING_DIR: scratch,
        LIFELINE_RESTORE_JOB: '{}',
      });
      expect(runner.code).toBe(10);
      expect(runner.stderr).toMatch(/^lifeline: InvalidInput: invalid LIFELINE_RESTORE_JOB: /);

      const local = await runNode([bundle, 'run', 'restore', '--local', '--input', 'in.json', '--settings', 'local.json'], scratch, {});
      expect(local.code).toBe(1);
      expect(local.stderr).toMatch(/lifeline: InvalidConfig: run --local needs the local engine, which this build leaves out/);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
});
