import { describe, expect, it } from 'vitest';
import { PART_SIZE, partSizeFor } from '../../../../lambdas/core/backup/pipeline.js';

const GiB = 1024 ** 3;

describe('partSizeFor', () => {
  it('keeps the small fixed part size, and so bounded memory, for ordinary databases', () => {
    expect(partSizeFor(0)).toBe(PART_SIZE);
    expect(partSizeFor(50 * GiB)).toBe(PART_SIZE);
  });

  it('grows parts for databases whose archive could otherwise need more than 10,000 of them', () => {
    for (const size of [100 * GiB, 1024 * GiB, 5 * 1024 * GiB]) {
      const part = partSizeFor(size);
      expect(part).toBeGreaterThan(PART_SIZE);
      expect(Math.ceil(size / part)).toBeLessThan(10_000);
    }
  });
});
