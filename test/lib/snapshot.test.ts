import { describe, expect, it } from 'vitest';
import { exampleConfig, synthesize } from '../support/stacks.js';

/** Asset hashes change with every edit to the handler or the Dockerfile; what they point at is tested elsewhere. */
function withoutAssetHashes(template: unknown): unknown {
  return JSON.parse(JSON.stringify(template).replace(/\b[0-9a-f]{64}\b/g, '<asset hash>'));
}

describe('the synthesized templates of the example config', () => {
  const synth = synthesize(exampleConfig());

  it.each(
    [synth.vault, ...synth.backups, synth.restore!, ...synth.restoreGroups, synth.cutover!, synth.pitr!].map(
      (stack) => [stack.stackName, stack] as const,
    ),
  )('%s', (name) => {
    const template = synth.assembly.getStackByName(name).template;
    expect(JSON.stringify(withoutAssetHashes(template))).not.toMatch(/[0-9a-f]{64}/);
    expect(withoutAssetHashes(template)).toMatchSnapshot();
  });
});
