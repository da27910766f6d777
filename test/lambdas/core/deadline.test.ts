import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyFreeze } from '../../../lambdas/core/cutover/freeze.js';
import {
  clientWithin,
  deadlineAfter,
  stepBudgetMs,
  stepDeadline,
  withinDeadline,
  withinStepDeadline,
} from '../../../lambdas/core/deadline.js';
import { connectClient, fromUrl } from '../../../lambdas/core/postgres/connection.js';
import { WORKFLOW_DEFINITIONS, type Workflow } from '../../../lambdas/core/workflows/definitions.js';
import { sharedPostgres } from '../../support/shared.js';

/** Every Lambda state of a workflow, with what it passes its function. */
function lambdaStates(workflow: Workflow): { state: string; timeout: number; event: Record<string, unknown> }[] {
  return Object.entries(WORKFLOW_DEFINITIONS[workflow].States).flatMap(([state, definition]) => {
    const { Resource, Parameters, TimeoutSeconds } = definition as {
      Resource?: string;
      Parameters?: Record<string, unknown>;
      TimeoutSeconds?: number;
    };
    if (definition.Type !== 'Task' || !Resource) return [];
    if (Resource.includes('StepsFunctionArn')) return [{ state, timeout: TimeoutSeconds!, event: Parameters! }];
    if (Resource === 'arn:aws:states:::lambda:invoke')
      return [{ state, timeout: TimeoutSeconds!, event: Parameters!.Payload as Record<string, unknown> }];
    return [];
  });
}

describe("a workflow step's deadline", () => {
  it.each(['restore', 'cutover'] as const)(
    'comes from each %s Lambda state’s own TimeoutSeconds, which every such state passes its name to',
    (workflow) => {
      const states = lambdaStates(workflow);
      expect(states.length).toBeGreaterThan(4);
      for (const { state, timeout, event } of states) {
        expect(event['stateName.$'], state).toBe('$$.State.Name');
        const deadline = stepDeadline(workflow, state);
        // Kept back: a quarter of the timeout, at least 15 s; so a 60 s state stops its step at 45 s.
        expect(deadline.remainingMs(), state).toBeLessThanOrEqual(stepBudgetMs(timeout));
        expect(deadline.remainingMs(), state).toBeGreaterThan(stepBudgetMs(timeout) - 5_000);
        expect(stepBudgetMs(timeout)).toBeLessThanOrEqual((timeout - 15) * 1000);
      }
      expect(stepBudgetMs(60)).toBe(45_000);
    },
  );

  it("never runs past the Lambda's own limit, less the time kept to stop cleanly", () => {
    expect(stepDeadline('restore', 'ValidateRestore', 60_000).remainingMs()).toBeLessThanOrEqual(30_000);
  });

  it('refuses a state name that is no timed Task of the workflow, and runs a step without one with no deadline', async () => {
    await expect(
      withinStepDeadline('cutover', { step: 'swap', stateName: 'Swapp' }, undefined, () => Promise.resolve()),
    ).rejects.toMatchObject({
      name: 'InvalidInput',
      message: 'state: "Swapp" is not a Task with a TimeoutSeconds in cutover.asl.json',
    });
    await expect(
      withinStepDeadline('cutover', { step: 'swap', stateName: 'Locked' }, undefined, () => Promise.resolve()),
    ).rejects.toMatchObject({
      name: 'InvalidInput',
    });
    const seen = await withinStepDeadline('cutover', { step: 'compensate' }, undefined, (event, deadline) =>
      Promise.resolve({ event, deadline }),
    );
    expect(seen).toEqual({ event: { step: 'compensate' }, deadline: undefined });
    const named = await withinStepDeadline('cutover', { step: 'swap', stateName: 'Swap' }, undefined, (event, deadline) =>
      Promise.resolve({ event, left: deadline!.remainingMs() }),
    );
    expect(named.event).toEqual({ step: 'swap' });
    expect(named.left).toBeGreaterThan(0);
  });
});

describe('an AWS call within a deadline', () => {
  let server: Server;
  let endpoint: string;
  beforeAll(async () => {
    // A service that takes the request and never answers, as an endpoint without a route does.
    server = createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('is aborted at the deadline and fails its step with StepTimedOut, instead of running on after its state gave up', async () => {
    const secrets = new SecretsManagerClient({ endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const deadline = deadlineAfter(300, 'cutover state Swap');
    const call = withinDeadline(deadline, () => clientWithin(secrets, deadline).send(new GetSecretValueCommand({ SecretId: 'shop-api' })));
    await expect(call).rejects.toMatchObject({
      name: 'StepTimedOut',
      message: expect.stringMatching(/^cutover state Swap stopped at its deadline/),
    });
    expect(deadline.remainingMs()).toBe(0);
  });
});

describe('a database session within a deadline', () => {
  const pgShared = sharedPostgres();

  it('stops a statement waiting for a lock at the deadline, and connects no more once it passed', async () => {
    const database = await pgShared.createDatabase('deadline_lock');
    await pgShared.query(database, 'CREATE TABLE orders (id int)');
    const holder = new pg.Client({ connectionString: pgShared.url(database) });
    await holder.connect();
    try {
      await holder.query('BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
      const deadline = deadlineAfter(500, 'cutover state Record');
      const client = await connectClient({ ...fromUrl(pgShared.url(database)), deadline });
      try {
        await expect(withinDeadline(deadline, () => client.query('SELECT count(*) FROM orders'))).rejects.toMatchObject({
          name: 'StepTimedOut',
        });
      } finally {
        await client.end();
      }
      await expect(connectClient({ ...fromUrl(pgShared.url(database)), deadline })).rejects.toMatchObject({
        name: 'StepTimedOut',
        message: expect.stringMatching(/connecting to the database was not done$/),
      });
    } finally {
      await holder.end();
    }
  });

  it('never freezes writes after its deadline: a Freeze held up past it leaves the database writable, whenever the hold ends', async () => {
    const database = await pgShared.createDatabase('deadline_freeze');
    const settings = { ...fromUrl(pgShared.url(database)) };
    // Another session's uncommitted change of the database's settings holds the row the freeze must write.
    const holder = new pg.Client({ connectionString: pgShared.url(database) });
    await holder.connect();
    try {
      await holder.query(`BEGIN; ALTER DATABASE "${database}" SET work_mem = '8MB'`);
      const deadline = deadlineAfter(1_000, 'cutover state Freeze');
      const freeze = applyFreeze({ mode: 'read-only-source', previous: null }, { ...settings, deadline }, undefined as never).then(
        () => 'frozen',
        (error: Error) => error.name,
      );
      // Without a deadline the freeze waits for the hold and lands after it, however late: give it time to.
      const early = await Promise.race([freeze, delay(5_000, 'still waiting')]);
      await holder.query('ROLLBACK');
      expect(await freeze).not.toBe('frozen');
      expect(early).not.toBe('still waiting');
      const setting = await pgShared.query<{ setconfig: string[] | null }>(
        'postgres',
        `SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = $1 AND s.setrole = 0`,
        [database],
      );
      expect(setting.flatMap((row) => row.setconfig ?? [])).not.toContain('default_transaction_read_only=on');
    } finally {
      await holder.end();
    }
  });
});
