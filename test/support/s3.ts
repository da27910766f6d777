/** S3 on loopback for the tests: the product's own (lambdas/core/operator/local-s3.ts, which `lifeline demo` runs on). */
export * from '../../lambdas/core/operator/local-s3.js';
