import { describe, expect, it } from 'vitest';
import { rolesInPrivilegeSql } from '../../../../lambdas/core/archive/privileges.js';

// What `pg_restore --file=- --use-list=<ACL entries>` prints for an archive of PostgreSQL 15, as captured,
// plus a GRANTED BY clause as later versions write it.
const SCRIPT = String.raw`--
-- PostgreSQL database dump
--

\restrict TXeeWgFm85tJmHoeQsHivffol7MdmcNjrXEhnbl0Wa6HVwWMZWAuNN2tn9gMADs

SET statement_timeout = 0;
SET client_encoding = 'UTF8';
SELECT pg_catalog.set_config('search_path', '', false);

--
-- Name: SCHEMA app; Type: ACL; Schema: -; Owner: postgres
--

GRANT USAGE ON SCHEMA app TO "Mixed Role" WITH GRANT OPTION;
REVOKE USAGE ON SCHEMA public FROM PUBLIC;
GRANT SELECT(id) ON TABLE "Billing"."Invoice" TO reporting;
GRANT ALL ON TABLE app.constants TO grantor_role WITH GRANT OPTION;
SET SESSION AUTHORIZATION grantor_role;
GRANT SELECT ON TABLE app.constants TO reporting;
RESET SESSION AUTHORIZATION;
GRANT SELECT ON TABLE app."to" TO "quoted""name", auditor;
GRANT SELECT ON LARGE OBJECT 424201 TO reporting;
ALTER DEFAULT PRIVILEGES FOR ROLE owner_role IN SCHEMA app GRANT SELECT ON TABLES  TO "Mixed Role";
ALTER DEFAULT PRIVILEGES FOR ROLE owner_role REVOKE ALL ON FUNCTIONS  FROM PUBLIC;
GRANT UPDATE ON TABLE app.accounts TO writer GRANTED BY admin_role;

\unrestrict TXeeWgFm85tJmHoeQsHivffol7MdmcNjrXEhnbl0Wa6HVwWMZWAuNN2tn9gMADs
`;

describe('the roles privilege statements name', () => {
  it('are the grantees, revokees, grantors and default-privilege owners, quoted names as written, PUBLIC left out', () => {
    expect(rolesInPrivilegeSql(SCRIPT)).toEqual([
      'Mixed Role',
      'admin_role',
      'auditor',
      'grantor_role',
      'owner_role',
      'quoted"name',
      'reporting',
      'writer',
    ]);
  });

  it('are none in a script without privilege statements', () => {
    expect(rolesInPrivilegeSql("SET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n")).toEqual([]);
  });
});
