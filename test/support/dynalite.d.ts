// The part of dynalite (CommonJS, untyped) the cutover tests use: a DynamoDB-compatible server, in memory by default.
declare module 'dynalite' {
  import type { Server } from 'node:http';

  interface DynaliteOptions {
    /** How long a table stays CREATING, DELETING or UPDATING, in milliseconds. */
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
  }

  export default function dynalite(options?: DynaliteOptions): Server;
}
