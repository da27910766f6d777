/** The image's Dockerfile (lambdas/Dockerfile) as data, and its bundles built here with its own commands: what the image runs, without Docker. */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** From the repository root, the working directory of the tests and benchmarks and the image's build context. */
export const DOCKERFILE = 'lambdas/Dockerfile';

export interface Instruction {
  keyword: string;
  /** Whitespace-separated words after the keyword. */
  words: string[];
}

/** The Dockerfile's instructions, continuation lines joined. */
export async function instructions(): Promise<Instruction[]> {
  const text = await readFile(DOCKERFILE, 'utf8');
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() !== '');
  return logical.map((line) => {
    const [keyword = '', ...words] = line.trim().split(/\s+/);
    return { keyword: keyword.toUpperCase(), words };
  });
}

/** Instructions of the Dockerfile's last stage (the image Lambda and the runner run). */
export async function finalStage(): Promise<Instruction[]> {
  const all = await instructions();
  return all.slice(all.map((i) => i.keyword).lastIndexOf('FROM'));
}

/** The environment the image's last stage sets (its ENV instructions), by name. */
export async function imageEnvironment(): Promise<Record<string, string>> {
  const settings = (await finalStage()).filter((i) => i.keyword === 'ENV').flatMap((i) => i.words);
  return Object.fromEntries(settings.map((word) => [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)]));
}

/** The Lambda base image's task root, where the last stage copies the bundles. */
const LAMBDA_TASK_ROOT = '/var/task';

/** The bundle stage's esbuild RUN for `entry`, and where its output lands in the final image. */
export async function bundleOf(entry: string): Promise<{ command: string; outfile: string; inImage: string | undefined }> {
  const all = await instructions();
  const stage = all.slice(0, all.map((i) => i.keyword).lastIndexOf('FROM'));
  const workdir = stage.find((i) => i.keyword === 'WORKDIR')!.words[0]!;
  const run = stage.find((i) => i.keyword === 'RUN' && i.words.includes('esbuild') && i.words.includes(entry));
  if (!run) throw new Error(`${DOCKERFILE} bundles no ${entry}`);
  const outfile = run.words.find((w) => w.startsWith('--outfile='))!.split('=')[1]!;
  const built = path.posix.join(workdir, outfile);
  const copy = (await finalStage()).find((i) => i.keyword === 'COPY' && i.words.includes('--from=bundle'))!;
  const [from = '', to = ''] = copy.words.filter((w) => !w.startsWith('--'));
  const root = to.replace('${LAMBDA_TASK_ROOT}', LAMBDA_TASK_ROOT);
  const inImage = built.startsWith(from) ? path.posix.join(root, path.posix.relative(from, built)) : undefined;
  return { command: run.words.join(' '), outfile, inImage };
}

/**
 * Builds the bundle of `entry` into `outfile` with the Dockerfile's own esbuild command, from the repository root;
 * an entry the Dockerfile does not bundle (a test's) with its command for the entry `like`.
 */
export async function buildBundle(entry: string, outfile: string, like = entry): Promise<void> {
  const bundle = await bundleOf(like);
  let stderr = '';
  const code = await new Promise<number | null>((resolve, reject) => {
    // The paths as quoted words of the shell command, whatever they hold.
    const quoted = (word: string) => `'${word.replaceAll("'", "'\\''")}'`;
    const command = bundle.command
      .replace(` ${like} `, () => ` ${quoted(entry)} `)
      .replace(`--outfile=${bundle.outfile}`, () => quoted(`--outfile=${outfile}`));
    const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`building ${entry} with ${DOCKERFILE}'s command exited with ${code}: ${stderr}`);
}
