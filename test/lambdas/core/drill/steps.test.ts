import { describe, expect, it } from 'vitest';
import { drillStorageFor } from '../../../../lambdas/core/drill/steps.js';

describe("the drill runner's ephemeral storage", () => {
  it("holds the restored server's data (the archive decompressed) and a margin: the restore stages no copy of the archive", () => {
    expect(drillStorageFor(1024)).toBe(21);
    // 10 GiB decompress to about 60 GiB (DECOMPRESSED_PER_ARCHIVE_BYTE), 2 GiB beside; a staged copy would need 122.
    expect(drillStorageFor(10 * 1024 ** 3)).toBe(62);
    expect(drillStorageFor(32 * 1024 ** 3)).toBe(194);
    expect(() => drillStorageFor(34 * 1024 ** 3)).toThrow(/more than Fargate's 200 GiB/);
  });
});
