import { describe, expect, it } from 'vitest';
import {
  archiveKeyOf,
  backupKey,
  DatabaseLabel,
  isManifestKey,
  manifestKeyFor,
  parseBackupKey,
} from '../../../../lambdas/core/vault/keys.js';

describe('backup keys', () => {
  const startedAt = new Date('2026-11-23T10:50:37.123Z');

  it('lays out <tier>/<database>/<YYYY>/<MM>/<DD>/<database>-<UTC timestamp>.dump', () => {
    expect(backupKey('weekly', 'orders', startedAt)).toBe('weekly/orders/2026/11/23/orders-20261123T105037.123Z.dump');
  });

  it('puts the manifest beside the archive and parses both ways', () => {
    const key = backupKey('daily', 'orders-db_2', startedAt);
    const manifestKey = manifestKeyFor(key);
    expect(manifestKey).toBe(`${key}.manifest.json`);
    expect(isManifestKey(manifestKey)).toBe(true);
    expect(isManifestKey(key)).toBe(false);
    expect(archiveKeyOf(manifestKey)).toBe(key);
    expect(parseBackupKey(key)).toEqual({ tier: 'daily', database: 'orders-db_2', startedAt });
  });

  it('rejects keys that are not ours', () => {
    expect(parseBackupKey('daily/orders/2026/11/23/other-20261123T105037.123Z.dump')).toBeUndefined();
    expect(parseBackupKey('hourly/orders/2026/11/23/orders-20261123T105037.123Z.dump')).toBeUndefined();
    expect(parseBackupKey('daily/orders/2026/11/23/orders-yesterday.dump')).toBeUndefined();
  });

  it('accepts only database names that cannot break a key prefix', () => {
    expect(DatabaseLabel.safeParse('orders_2').success).toBe(true);
    for (const bad of ['', 'a/b', '../x', 'a.b', '-lead', 'x'.repeat(64)]) {
      expect(DatabaseLabel.safeParse(bad).success, bad).toBe(false);
    }
  });
});
