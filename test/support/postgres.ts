/** Throwaway PostgreSQL clusters for the tests: the product's own (lambdas/core/postgres/throwaway-cluster.ts), which `lifeline demo` and restore drills run on. */
export * from '../../lambdas/core/postgres/throwaway-cluster.js';
