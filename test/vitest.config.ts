import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // This file lives in test/; paths below are relative to the repository root.
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Integration tests start servers and move real data.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
