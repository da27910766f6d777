import { describe, expect, it } from 'vitest';
import { storageFor } from '../../../../lambdas/core/restore/job.js';
import { stagingBytesFor } from '../../../../lambdas/core/restore/pipeline.js';

describe("the runner's ephemeral storage for a restore job", () => {
  it('is Fargate’s least for a restore into a new database, which stages only the table of contents, however large the archive', () => {
    expect(storageFor(1024, false)).toBe(21);
    expect(storageFor(100 * 1024 ** 3, false)).toBe(21);
  });

  it('is sized in place by the staging formula (the archive decompressed) plus a margin, within Fargate limits', () => {
    expect(storageFor(1024, true)).toBe(21);
    // 10 GiB decompress to about 60 GiB (DECOMPRESSED_PER_ARCHIVE_BYTE), 2 GiB beside.
    expect(storageFor(10 * 1024 ** 3, true)).toBe(stagingBytesFor(10 * 1024 ** 3) / 1024 ** 3 + 2);
    expect(storageFor(10 * 1024 ** 3, true)).toBe(62);
    expect(() => storageFor(40 * 1024 ** 3, true)).toThrow(/more than Fargate's 200 GiB/);
  });
});
