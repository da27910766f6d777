import { describe, expect, it } from 'vitest';
import { groupDatabases, MAX_DATABASES_PER_STACK, stackCountFor } from '../../../lambdas/core/database-groups.js';

const databases = (count: number, prefix = 'db') => Array.from({ length: count }, (_, i) => ({ name: `${prefix}-${i}` }));
const stackOf = (groups: { name: string }[][], name: string) => groups.findIndex((group) => group.some((db) => db.name === name));

describe('spreading databases over backup stacks', () => {
  it('puts every database in exactly one stack, in config order', () => {
    const all = databases(300);
    const groups = groupDatabases(all, 8);
    expect(groups).toHaveLength(8);
    expect(
      groups
        .flat()
        .map((db) => db.name)
        .sort(),
    ).toEqual(all.map((db) => db.name).sort());
    for (const group of groups) {
      expect(group.map((db) => all.indexOf(db))).toEqual([...group.map((db) => all.indexOf(db))].sort((a, b) => a - b));
    }
  });

  it('never moves a database when others are added or removed', () => {
    const before = groupDatabases(databases(200), 6);
    const after = groupDatabases([...databases(150), ...databases(120, 'new')], 6);
    for (const { name } of databases(150)) expect(stackOf(after, name)).toBe(stackOf(before, name));
  });

  it('finds the fewest stacks that keep each within the limit', () => {
    const names = databases(1000).map((db) => db.name);
    const count = stackCountFor(names);
    const fullest = (n: number) => Math.max(...groupDatabases(databases(1000), n).map((group) => group.length));
    expect(fullest(count)).toBeLessThanOrEqual(MAX_DATABASES_PER_STACK);
    for (let fewer = Math.ceil(1000 / MAX_DATABASES_PER_STACK); fewer < count; fewer++) {
      expect(fullest(fewer)).toBeGreaterThan(MAX_DATABASES_PER_STACK);
    }
    expect(stackCountFor(['only'])).toBe(1);
    expect(stackCountFor(names, count + 3)).toBe(count + 3);
  });
});
