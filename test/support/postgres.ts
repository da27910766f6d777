/** Throwaway PostgreSQL clusters for the tests: the product's own (lambdas/core/operator/local-postgres.ts, which `lifeline demo` runs on). */
export * from '../../lambdas/core/operator/local-postgres.js';
