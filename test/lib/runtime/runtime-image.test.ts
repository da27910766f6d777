import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { dockerImages, exampleConfig, synthesize, type Synthesized } from '../../support/stacks.js';

let synth: Synthesized;
beforeAll(() => {
  synth = synthesize(exampleConfig());
});

describe('the runtime images', () => {
  const images = () => [...dockerImages(synth.assembly, 'lifeline-vault').values()];

  it("are one per pg_dump version in use, built for x86-64 from the repository's Dockerfile", () => {
    const described = images().map(({ dockerFile, dockerBuildArgs, platform }) => ({ dockerFile, dockerBuildArgs, platform }));
    // shop runs 16, warehouse 17, staging 14 (dumped by 15).
    expect(described).toEqual(
      [15, 16, 17].map((major) => ({
        dockerFile: 'lambdas/Dockerfile',
        dockerBuildArgs: { POSTGRES_MAJOR: String(major) },
        platform: 'linux/amd64',
      })),
    );
  });

  it('are built from a context holding only what the image needs', () => {
    for (const { directory } of images()) {
      expect(readdirSync(directory).sort()).toEqual([
        'bin',
        'lambdas',
        'package-lock.json',
        'package.json',
        'state-machines',
        'tsconfig.json',
      ]);
      // The definitions, whose timeouts the steps' deadlines come from; not their input schemas.
      const definitions = readdirSync(join(directory, 'state-machines'));
      expect(definitions.filter((name) => !name.endsWith('.asl.json'))).toEqual([]);
      expect(definitions).toEqual(expect.arrayContaining(['cutover.asl.json', 'restore.asl.json']));
      // The runner's CLI, and nothing else of bin/ (the CDK app and its config are no part of the image).
      expect(readdirSync(join(directory, 'bin')).sort()).toEqual(['cli', 'commands', 'lifeline.ts']);
      expect(existsSync(join(directory, 'lambdas/Dockerfile'))).toBe(true);
      expect(existsSync(join(directory, 'lambdas/backup/handler.ts'))).toBe(true);
    }
  });

  it('come from a Dockerfile that bundles the handler and installs that pg_dump, server and zstd on the Lambda Node.js image', () => {
    const dockerfile = readFileSync(new URL('../../../lambdas/Dockerfile', import.meta.url), 'utf8');
    expect(dockerfile).toMatch(/^FROM \S+node:22\S* AS bundle$/m);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).toMatch(/npx esbuild lambdas\/backup\/handler\.ts --bundle --platform=node --target=node22 --format=esm/);
    expect(dockerfile).toMatch(/^FROM public\.ecr\.aws\/lambda\/nodejs:22$/m);
    expect(dockerfile).toMatch(/^ARG POSTGRES_MAJOR$/m);
    // The server too: a restore drill restores into a throwaway cluster of the backup's major inside its task.
    expect(dockerfile).toMatch(/dnf install -y "postgresql\$\{POSTGRES_MAJOR\}" "postgresql\$\{POSTGRES_MAJOR\}-server" zstd/);
    expect(dockerfile).toMatch(/\/usr\/bin\/postgres --version \| grep -q " \$\{POSTGRES_MAJOR\}\\\."/);
    expect(dockerfile).toMatch(/PG_SERVER_BIN_DIR=\/usr\/bin/);
    expect(dockerfile).toMatch(/pg_dump --version \| grep -q " \$\{POSTGRES_MAJOR\}\\\."/);
    expect(dockerfile).toMatch(/PG_BIN_DIR=\/usr\/bin/);
    expect(dockerfile).toMatch(/^COPY --from=bundle \/build\/dist\/ \$\{LAMBDA_TASK_ROOT\}\/$/m);
    expect(dockerfile).toMatch(/^CMD \["handler\.handler"\]$/m);
  });
});
