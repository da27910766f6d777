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
    // The project supports Node 20 (package.json engines); the SDK's notice about its own future would
    // otherwise be printed by every test worker.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
