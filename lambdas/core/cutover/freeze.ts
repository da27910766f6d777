import { DescribeServicesCommand, type ECSClient } from '@aws-sdk/client-ecs';
import { DeleteParameterCommand, GetParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type pg from 'pg';
import type { StepDeadline } from '../deadline.js';
import { boundStatements, connectClient, describe, redact, type ConnectionSettings } from '../postgres/connection.js';
import { LifelineError } from '../errors.js';
import { quoteIdent } from '../postgres/inventory.js';
import type { Freeze, Frozen, Recorded, RecordedFreeze } from './state.js';
import { liveTasks, scaleServices } from './workloads.js';

/**
 * The write freeze around a switch. `read-only-source` works on the old database as the application's own
 * role (which owns its database, as restores make it): ALTER DATABASE ... SET default_transaction_read_only
 * and the end of that role's sessions there. `parameter` sets the SSM parameter the application reads as
 * its maintenance flag. `scale-to-zero` sets the desired count of the application's ECS services to 0 and waits,
 * within the step's deadline, until their tasks have stopped. Unfreeze puts back exactly what was recorded before.
 */

/** The control planes the freeze modes change. */
export interface FreezeClients {
  ssm: SSMClient;
  ecs: ECSClient;
}

/** How the Freeze step waits for scaled-down services' tasks to stop: its deadline, and how often it looks. */
export interface DrainWait {
  deadline: StepDeadline;
  pollMs: number;
  sleep: (ms: number) => Promise<void>;
}

const SETTING = 'default_transaction_read_only';

async function onDatabase<T>(settings: ConnectionSettings, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connectClient(settings);
  try {
    // This session writes the setting even while the database is frozen.
    await client.query(`SET SESSION ${SETTING} = off`);
    return await use(client);
  } catch (error) {
    if (error instanceof LifelineError) throw error;
    throw new LifelineError('CutoverFailed', `write freeze on ${describe(settings)}: ${redact((error as Error).message, settings)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function isParameterNotFound(error: unknown): boolean {
  return (error as Error).name === 'ParameterNotFound';
}

/** What the freeze will change, as it is now; a role that cannot freeze its database is refused here, before any change. */
export async function recordFreeze(
  freeze: Freeze,
  old: ConnectionSettings,
  { ssm, services }: { ssm: SSMClient; services: Recorded['services'] },
): Promise<RecordedFreeze> {
  switch (freeze.mode) {
    case 'none':
      return { mode: 'none' };
    case 'scale-to-zero':
      return {
        mode: 'scale-to-zero',
        services: services.map(({ cluster, service, desiredCount }) => ({ cluster, service, desiredCount })),
      };
    case 'read-only-source':
      return onDatabase(old, async (client) => {
        const { rows } = await client.query<{ owns: boolean; previous: string | null }>(
          `SELECT pg_has_role(current_user, d.datdba, 'USAGE') OR r.rolsuper AS owns,
                  (SELECT substr(s, length($1) + 2) FROM pg_db_role_setting, unnest(setconfig) AS s
                    WHERE setdatabase = d.oid AND setrole = 0 AND s LIKE $1 || '=%') AS previous
             FROM pg_database d, pg_roles r WHERE d.datname = current_database() AND r.rolname = current_user`,
          [SETTING],
        );
        if (!rows[0]?.owns) {
          throw new LifelineError(
            'InvalidConfig',
            `freeze read-only-source: the application's role ${old.user} does not own database ${old.database}, so it cannot set it read-only; make it the owner or use another freeze mode`,
          );
        }
        return { mode: 'read-only-source', previous: rows[0].previous };
      });
    case 'parameter': {
      let previous: { value: string; type: 'String' | 'StringList' } | null = null;
      try {
        // Never decrypted: what is recorded lands in the execution's state and history.
        const { Parameter } = await ssm.send(new GetParameterCommand({ Name: freeze.parameterName, WithDecryption: false }));
        const type = Parameter?.Type ?? 'String';
        if (type !== 'String' && type !== 'StringList') {
          throw new LifelineError(
            'InvalidConfig',
            `freeze parameter: ${freeze.parameterName} is a ${type} parameter; its value would be recorded in the execution's state, so a maintenance flag must be a String or StringList parameter`,
          );
        }
        previous = { value: Parameter?.Value ?? '', type };
      } catch (error) {
        if (!isParameterNotFound(error)) throw error;
      }
      return { mode: 'parameter', parameterName: freeze.parameterName, frozenValue: freeze.frozenValue, previous };
    }
  }
}

/** Stops writes; returns how many of the application's sessions on the old database, or tasks, were ended. */
export async function applyFreeze(
  recorded: RecordedFreeze,
  old: ConnectionSettings,
  clients: FreezeClients,
  drain?: DrainWait,
): Promise<Pick<Frozen, 'terminatedSessions' | 'stoppedTasks'>> {
  switch (recorded.mode) {
    case 'none':
      return { terminatedSessions: 0 };
    case 'scale-to-zero': {
      if (!drain) throw new LifelineError('InvalidInput', 'freeze scale-to-zero: the Freeze step runs it with its deadline');
      drain.deadline.assertBefore('scaling the services to zero');
      await scaleServices(
        clients.ecs,
        recorded.services.map((s) => ({ ...s, desiredCount: 0 })),
      );
      return { terminatedSessions: 0, stoppedTasks: await drained(recorded.services, clients.ecs, drain) };
    }
    case 'read-only-source': {
      const terminatedSessions = await onDatabase(old, async (client) => {
        await client.query('BEGIN');
        if (old.deadline) await boundStatements(client, old.deadline, 'the write freeze');
        await client.query(`ALTER DATABASE ${quoteIdent(old.database)} SET ${SETTING} = on`);
        // The fence: past its deadline the state may have timed out and the rollback lifted the freeze already. Not
        // committed, the change goes with the session, which onDatabase ends.
        old.deadline?.assertBefore('the write freeze');
        await client.query('COMMIT');
        // Sessions keep the setting they started with: end them, so the application reconnects read-only.
        const { rows } = await client.query<{ ended: number }>(
          `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS ended FROM pg_stat_activity
            WHERE datname = current_database() AND usename = current_user AND pid <> pg_backend_pid()`,
        );
        return rows[0]?.ended ?? 0;
      });
      return { terminatedSessions };
    }
    case 'parameter':
      old.deadline?.assertBefore('setting the maintenance parameter');
      await clients.ssm.send(
        new PutParameterCommand({
          Name: recorded.parameterName,
          Value: recorded.frozenValue,
          Type: recorded.previous?.type ?? 'String',
          Overwrite: true,
        }),
      );
      return { terminatedSessions: 0 };
  }
}

const named = ({ cluster, service }: { cluster: string; service: string }) => `ECS service ${service} in cluster ${cluster}`;

/**
 * Waits until no task of the services is left running or stopping; returns how many there were at first. Fails
 * with CutoverFailed, before the deadline, when some are still there, or when a service's desired count was raised
 * again meanwhile (Application Auto Scaling with a minimum above 0, a deploy): its tasks would write to the old
 * database during the switch.
 */
async function drained(
  services: readonly { cluster: string; service: string }[],
  ecs: ECSClient,
  { deadline, pollMs, sleep }: DrainWait,
): Promise<number> {
  let first: number | undefined;
  for (;;) {
    const live = [];
    for (const service of services) live.push({ service, tasks: await liveTasks(ecs, service) });
    first ??= live.reduce((sum, { tasks }) => sum + tasks, 0);
    const left = live.filter(({ tasks }) => tasks > 0);
    if (left.length === 0) break;
    if (deadline.remainingMs() <= pollMs) {
      throw new LifelineError(
        'CutoverFailed',
        `freeze scale-to-zero: ${left.map(({ service, tasks }) => `${named(service)} still has ${tasks} task(s) running or stopping`).join(', ')} ` +
          "at the Freeze step's deadline; their desired counts are put back (a load balancer's deregistration delay and the tasks' stop timeout must end within it)",
      );
    }
    await sleep(pollMs);
  }
  for (const ref of services) {
    const { services: [found] = [] } = await ecs.send(new DescribeServicesCommand({ cluster: ref.cluster, services: [ref.service] }));
    if ((found?.desiredCount ?? 0) > 0) {
      throw new LifelineError(
        'CutoverFailed',
        `freeze scale-to-zero: the desired count of ${named(ref)} was raised to ${found!.desiredCount} while it was scaled to zero ` +
          '(an Application Auto Scaling minimum above 0, or a deployment); suspend its scaling during the cutover, or use another freeze mode',
      );
    }
  }
  return first;
}

/** Puts back what the freeze changed; running it again changes nothing more. */
export async function liftFreeze(recorded: RecordedFreeze, old: ConnectionSettings, { ssm, ecs }: FreezeClients): Promise<void> {
  switch (recorded.mode) {
    case 'none':
      return;
    case 'scale-to-zero':
      await scaleServices(ecs, recorded.services);
      return;
    case 'read-only-source':
      await onDatabase(old, async (client) => {
        const database = quoteIdent(old.database);
        await client.query(
          recorded.previous === null
            ? `ALTER DATABASE ${database} RESET ${SETTING}`
            : `ALTER DATABASE ${database} SET ${SETTING} = ${client.escapeLiteral(recorded.previous)}`,
        );
      });
      return;
    case 'parameter':
      if (recorded.previous === null) {
        await ssm.send(new DeleteParameterCommand({ Name: recorded.parameterName })).catch((error: unknown) => {
          if (!isParameterNotFound(error)) throw error;
        });
      } else {
        await ssm.send(
          new PutParameterCommand({
            Name: recorded.parameterName,
            Value: recorded.previous.value,
            Type: recorded.previous.type,
            Overwrite: true,
          }),
        );
      }
  }
}
