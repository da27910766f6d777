import type { ClientBase } from 'pg';
import type { ConnectionSettings } from './connection.js';
import { LifelineError } from '../errors.js';
import { quoteIdent } from './inventory.js';

/** PostgreSQL 16 split SET ROLE out of membership: a member may lack the SET option. */
const SET_OPTION_SINCE = 160000;

/** Whose role a restore's objects are to belong to, for messages: the application's, or another the restore chose. */
export interface RoleDescription {
  /** `the application's role`, `the source database's owner`. */
  what: string;
  /** What to do when it does not exist on the server. */
  whenMissing: string;
}

/** The application's role: whose the restored objects are when an application uses the database. */
export const APPLICATION_ROLE: RoleDescription = {
  what: "the application's role",
  whenMissing: "create it there (or fix the application's connection secret)",
};

/**
 * Refuses, before anything is written, an admin user that cannot act as `role`: `CREATE DATABASE ... OWNER`
 * and `pg_restore --role` both need it to. A superuser always can; RDS's master user only once granted the role.
 * `described` says whose role it is (by default the application's).
 */
export async function assertCanActAs(
  client: ClientBase,
  role: string,
  admin: ConnectionSettings,
  described: RoleDescription = APPLICATION_ROLE,
): Promise<void> {
  const server = `${admin.host}:${admin.port}`;
  const { rowCount } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  if (rowCount !== 1) {
    throw new LifelineError(
      'InvalidInput',
      `${described.what} "${role}" does not exist on ${server}; ${described.whenMissing}; nothing was restored`,
    );
  }
  const version = Number((await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`)).rows[0]!.v);
  const privilege = version >= SET_OPTION_SINCE ? 'SET' : 'MEMBER';
  const { rows } = await client.query<{ can: boolean }>('SELECT pg_has_role(current_user, $1, $2) AS can', [role, privilege]);
  if (!rows[0]!.can) {
    throw new LifelineError(
      'InvalidInput',
      `${admin.user} cannot act as ${described.what} "${role}" on ${server}, which the restored objects must belong to; ` +
        `run GRANT ${quoteIdent(role)} TO ${quoteIdent(admin.user)} there (on RDS as the master user) and restore again; nothing was restored`,
    );
  }
}
