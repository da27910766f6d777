/**
 * The layout's rules, checked on every source file's imports: one-way layers (core below lib below bin), no cycle,
 * and maps (lambdas/core/README.md, lib/README.md) that name each folder there is, and no folder there is not.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const SOURCES = ['bin', 'lib', 'lambdas'];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

/** Each file's relative imports, static and dynamic, as repository paths of .ts files. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of SOURCES.flatMap(sourceFiles)) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)\.js'/g)].map((match) => match[1]!);
    graph.set(
      file,
      specifiers.map((specifier) => normalize(join(dirname(file), `${specifier}.ts`))),
    );
  }
  return graph;
}

/** The first import cycle found, as the files around it, or undefined. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string): string[] | undefined => {
    if (state.get(file) === 'done') return undefined;
    if (state.get(file) === 'open') return [...path.slice(path.indexOf(file)), file];
    state.set(file, 'open');
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(file, 'done');
    return undefined;
  };
  for (const file of graph.keys()) {
    const cycle = visit(file);
    if (cycle) return cycle;
  }
  return undefined;
}

const folders = (dir: string) =>
  readdirSync(join(ROOT, dir), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();

/** The folders a README's map names: each list item that starts with `` `name/` ``. */
const mappedFolders = (readme: string) =>
  [...readFileSync(join(ROOT, readme), 'utf8').matchAll(/^\s*[-|]\s*`([a-z-]+)\/`/gm)].map((match) => match[1]!).sort();

describe('the layout', () => {
  const graph = importGraph();

  it('imports one way: core and the handlers never import lib/ or bin/, lib/ never imports bin/', () => {
    const upward = [...graph].flatMap(([file, imports]) =>
      imports
        .filter(
          (target) =>
            (file.startsWith('lambdas/') && /^(lib|bin)\//.test(target)) || (file.startsWith('lib/') && target.startsWith('bin/')),
        )
        .map((target) => `${file} -> ${target}`),
    );
    expect(upward).toEqual([]);
  });

  it("bundles no lib/ into the image: the CLI's modules import core only (the image's build context leaves lib/ out)", () => {
    const cli = [...graph].filter(([file]) => file.startsWith('bin/') && !['bin/app.ts', 'bin/generate-schemas.ts'].includes(file));
    expect(
      cli.flatMap(([file, imports]) => imports.filter((target) => target.startsWith('lib/')).map((target) => `${file} -> ${target}`)),
    ).toEqual([]);
  });

  it('has no import cycle', () => {
    expect(findCycle(graph)).toBeUndefined();
  });

  it('finds a cycle where there is one (the check itself)', () => {
    const cyclic = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
    ]);
    expect(findCycle(cyclic)).toEqual(['a.ts', 'b.ts', 'c.ts', 'a.ts']);
  });

  it('imports only files that exist', () => {
    const missing = [...graph].flatMap(([file, imports]) =>
      imports.filter((target) => !graph.has(target)).map((target) => `${file} -> ${target}`),
    );
    expect(missing).toEqual([]);
  });

  it("keeps core's root to the cross-cutting files: each concern is a folder", () => {
    const rootFiles = readdirSync(join(ROOT, 'lambdas/core')).filter((name) => name.endsWith('.ts'));
    expect(rootFiles.length).toBeLessThanOrEqual(12);
  });

  it.each(['lambdas/core', 'lib'])('%s/README.md maps exactly the folders there are', (dir) => {
    expect(mappedFolders(join(dir, 'README.md'))).toEqual(folders(dir));
  });
});
