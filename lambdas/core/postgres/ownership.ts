import type { ClientBase } from 'pg';
import type { ConnectionSettings } from './connection.js';
import { LifelineError } from '../errors.js';
import { quoteIdent } from './inventory.js';

/** PostgreSQL 16 split SET ROLE out of membership: a member may lack the SET option. */
const SET_OPTION_SINCE = 160000;

/**
 * Refuses, before anything is written, an admin user that cannot act as `role`: `CREATE DATABASE ... OWNER`
 * and `pg_restore --role` both need it to. A superuser always can; RDS's master user only once granted the role.
 */
export async function assertCanActAs(client: ClientBase, role: string, admin: ConnectionSettings): Promise<void> {
  const server = `${admin.host}:${admin.port}`;
  const { rowCount } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  if (rowCount !== 1) {
    throw new LifelineError(
      'InvalidInput',
      `the application's role "${role}" does not exist on ${server}; create it there (or fix the application's connection secret); nothing was restored`,
    );
  }
  const version = Number((await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`)).rows[0]!.v);
  const privilege = version >= SET_OPTION_SINCE ? 'SET' : 'MEMBER';
  const { rows } = await client.query<{ can: boolean }>('SELECT pg_has_role(current_user, $1, $2) AS can', [role, privilege]);
  if (!rows[0]!.can) {
    throw new LifelineError(
      'InvalidInput',
      `${admin.user} cannot act as the application's role "${role}" on ${server}, which the restored objects must belong to; ` +
        `run GRANT ${quoteIdent(role)} TO ${quoteIdent(admin.user)} there (on RDS as the master user) and restore again; nothing was restored`,
    );
  }
}
