import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';

/** A new directory in the run's scratch directory (test/support/global-setup.ts), which is removed when the run ends. */
export function scratchDirectory(prefix: string): string {
  return mkdtempSync(join(inject('lifelineScratch'), prefix));
}
