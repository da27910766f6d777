import type { PostgresCoordinates } from './postgres.js';

// What test/support/global-setup.ts hands to test files; read it through test/support/shared.ts.
declare module 'vitest' {
  export interface ProvidedContext {
    lifelinePostgres: PostgresCoordinates;
    lifelineS3: { endpoint: string };
    lifelineScratch: string;
  }
}
