import type { ClientBase } from 'pg';
import type { ArchiveEntry } from './format.js';

/** Archive entries that grant or revoke privileges; `pg_restore --no-privileges` skips exactly these. */
export function isPrivilegeEntry({ line }: ArchiveEntry): boolean {
  return /^\d+; \d+ \d+ (ACL|DEFAULT ACL|ACL LANGUAGE) /.test(line);
}

/** Quoted identifiers, string literals, words and single characters; comments dropped. */
const TOKEN = /--[^\n]*|"(?:[^"]|"")*"|'(?:[^']|'')*'|[A-Za-z_][A-Za-z0-9_$]*|\S/g;

/** A role name as written: quoted exactly, unquoted folded to lower case; PUBLIC is every role, not one. */
function roleName(token: string | undefined): string | undefined {
  if (token === undefined) return undefined;
  if (token.startsWith('"')) return token.slice(1, -1).replaceAll('""', '"');
  if (!/^[A-Za-z_]/.test(token)) return undefined;
  const name = token.toLowerCase();
  return name === 'public' ? undefined : name;
}

/** The names in a comma-separated list of roles starting at `tokens[start]`. */
function roleList(tokens: string[], start: number): string[] {
  const names: string[] = [];
  for (let i = start; i < tokens.length; i += 2) {
    const name = roleName(tokens[i]);
    if (name !== undefined) names.push(name);
    if (tokens[i + 1] !== ',') break;
  }
  return names;
}

/** The roles one statement names; `tokens` as TOKEN splits it, without its semicolon. */
function rolesInStatement(tokens: string[]): string[] {
  // Keywords compared in upper case; pg_dump quotes every identifier that could be mistaken for one.
  const words = tokens.map((token) => (token.startsWith('"') ? token : token.toUpperCase()));
  const at = (...sequence: string[]) => words.findIndex((_, i) => sequence.every((word, j) => words[i + j] === word));
  const after = (index: number, skip: number) => (index < 0 ? [] : roleList(tokens, index + skip));
  // A grant made by another role than the owner is wrapped in SET SESSION AUTHORIZATION.
  if (at('SET', 'SESSION', 'AUTHORIZATION') === 0) return roleList(tokens, 3);
  const verb = at('ALTER', 'DEFAULT', 'PRIVILEGES') === 0 ? words.find((word) => word === 'GRANT' || word === 'REVOKE') : words[0];
  if (verb !== 'GRANT' && verb !== 'REVOKE') return [];
  return [
    ...after(at('FOR', 'ROLE'), 2),
    ...after(at('FOR', 'USER'), 2),
    ...after(words.lastIndexOf(verb === 'GRANT' ? 'TO' : 'FROM'), 1),
    ...after(at('GRANTED', 'BY'), 2),
  ];
}

/**
 * The roles that privilege statements as pg_dump writes them name: GRANT ... TO, REVOKE ... FROM, ALTER
 * DEFAULT PRIVILEGES FOR ROLE, GRANTED BY and SET SESSION AUTHORIZATION.
 */
export function rolesInPrivilegeSql(sql: string): string[] {
  const roles = new Set<string>();
  let statement: string[] = [];
  for (const token of sql.match(TOKEN) ?? []) {
    if (token.startsWith('--')) continue;
    if (token !== ';') {
      statement.push(token);
      continue;
    }
    for (const role of rolesInStatement(statement)) roles.add(role);
    statement = [];
  }
  return [...roles].sort();
}

/** Of `roles`, those the server does not have. */
export async function missingRoles(client: ClientBase, roles: string[]): Promise<string[]> {
  const { rows } = await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])', [roles]);
  const present = new Set(rows.map((row) => row.rolname));
  return roles.filter((role) => !present.has(role));
}
