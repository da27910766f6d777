/**
 * Databases per backup stack. Each database costs about seven resources (function, its retry settings, role,
 * schedule, ingress rule, two alarms), so 50 stay below CloudFormation's 500; the tighter bound is the
 * security group quota of 60 outbound rules: a stack's backup security group has one rule per database
 * security group, plus HTTPS.
 */
export const MAX_DATABASES_PER_STACK = 50;

/** FNV-1a: a stable hash, so a database keeps its stack when others are added or removed. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * The backup stack (0-based) that holds a database: also the restore group whose runner and steps functions
 * restore it, which the restore workflow finds its settings by (restore/catalog.ts).
 */
export function backupStackOf(database: string, stackCount: number): number {
  return fnv1a(database) % stackCount;
}

/** Database names by backup stack, in config order. */
export function groupDatabases<T extends { name: string }>(databases: readonly T[], stackCount: number): T[][] {
  const groups = Array.from({ length: stackCount }, (): T[] => []);
  for (const database of databases) groups[backupStackOf(database.name, stackCount)]!.push(database);
  return groups;
}

/** The fewest stacks, from `atLeast` on, in which no stack holds more than MAX_DATABASES_PER_STACK. */
export function stackCountFor(names: readonly string[], atLeast = 1): number {
  for (let count = Math.max(atLeast, Math.ceil(names.length / MAX_DATABASES_PER_STACK)); ; count++) {
    const sizes = new Array<number>(count).fill(0);
    for (const name of names) sizes[backupStackOf(name, count)]! += 1;
    if (Math.max(...sizes) <= MAX_DATABASES_PER_STACK) return count;
  }
}
