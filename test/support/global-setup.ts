import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres.js';
import { startS3 } from './s3.js';

/**
 * One PostgreSQL cluster and one S3 server for the whole run. Test files share them in parallel, each in
 * databases and buckets of its own with unique names; a test that needs to crash a server starts its own.
 * And a scratch directory, removed at the end, for what test processes cannot remove themselves (CDK apps' output).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const scratch = await mkdtemp(join(tmpdir(), 'lifeline-tests-'));
  const s3 = await startS3();
  const postgres = await startPostgres().catch(async (error: unknown) => {
    await Promise.all([s3.stop(), rm(scratch, { recursive: true, force: true })]);
    throw error;
  });
  const { host, port, user, password } = postgres;
  project.provide('lifelinePostgres', { host, port, user, password });
  project.provide('lifelineS3', { endpoint: s3.endpoint });
  project.provide('lifelineScratch', scratch);
  return async () => {
    await Promise.all([postgres.stop(), s3.stop(), rm(scratch, { recursive: true, force: true })]);
  };
}
