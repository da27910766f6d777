import {
  DescribeServicesCommand,
  ECSClient,
  ServiceNotFoundException,
  UpdateServiceCommand,
  type DescribeServicesCommandOutput,
  type Deployment,
  type Service,
  type UpdateServiceCommandOutput,
} from '@aws-sdk/client-ecs';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { LifelineError } from '../errors.js';
import { whenThisProcessEnds } from '../process-owner.js';

/**
 * An application's workload on this machine: one process started by a shell command, as one ECS service with one
 * task. UpdateService is a restart: the running process is stopped and the command started again, so it reads its
 * secret file again; its deployment is IN_PROGRESS until the process answers on its health URL (any HTTP status:
 * proving health is the cutover's ProveHealth), FAILED when it exits first. The process outlives the command that
 * started it, as an application outlives its deployment: its pid and output are kept in the state directory. Unless
 * it is to end with that command (the demo's sample application): then it is stopped by close(), or by a guard
 * however the command ends.
 */

export const LOCAL_CLUSTER = 'lifeline-local';
const LOCAL_REGION = 'us-east-1';
const metadata = { $metadata: { httpStatusCode: 200 } };
/** How long a stopped process may take to exit before it is killed. */
const STOP_GRACE_SECONDS = 10;
/** How long a started process may take to answer before its deployment fails. */
const START_LIMIT_MS = 300_000;

export interface LocalWorkload {
  /** The application's name: its service's name. */
  name: string;
  /** The shell command that starts it (run by /bin/sh in `directory`). */
  start: string;
  directory: string;
  /** Where it answers once it runs. */
  healthUrl: string;
  /** Its secret file, given to it as LIFELINE_SECRET_FILE. */
  secretFile: string;
}

const taskDefinition = (name: string) => `arn:aws:ecs:${LOCAL_REGION}:000000000000:task-definition/${LOCAL_CLUSTER}-${name}:1`;

/** Whether a process runs (a zombie that nobody reaped does not, once its group is gone). */
function runs(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops a process group as stop() does (SIGTERM, SIGKILL after the grace period): $1 the group, $2 the grace in seconds. */
const STOP_GROUP =
  'kill -s TERM -- "-$1" 2>/dev/null || exit 0; i=0; while [ $i -lt "$2" ] && kill -s 0 -- "-$1" 2>/dev/null; do sleep 1; i=$((i + 1)); done; kill -s KILL -- "-$1" 2>/dev/null';

export interface LocalWorkloadsOptions {
  /** The processes end with this one (the demo's application): close() stops them, and so does a guard however this process ends. */
  endWithThisProcess?: boolean;
}

export class LocalWorkloads {
  private readonly workloads: ReadonlyMap<string, LocalWorkload>;
  private readonly directory: string;
  private readonly endWithThisProcess: boolean;
  private readonly deployments = new Map<string, Deployment>();
  private readonly stopping = new AbortController();
  /** What dismisses the guard of each process started here that ends with this one. */
  private readonly guards = new Map<string, () => Promise<void>>();

  /** `stateDirectory` keeps each workload's pid file and output log. */
  constructor(workloads: readonly LocalWorkload[], stateDirectory: string, options: LocalWorkloadsOptions = {}) {
    this.workloads = new Map(workloads.map((w) => [w.name, w]));
    this.directory = join(stateDirectory, 'workloads');
    this.endWithThisProcess = options.endWithThisProcess ?? false;
  }

  /** ECS as these workloads answer DescribeServices and UpdateService; its requests never leave this process. */
  ecs(): ECSClient {
    const client = new ECSClient({ region: LOCAL_REGION });
    return Object.assign(client, { send: (command: unknown) => this.answer(command) });
  }

  pidFile(name: string): string {
    return join(this.directory, `${name}.pid`);
  }

  logFile(name: string): string {
    return join(this.directory, `${name}.log`);
  }

  /** The last lines of the workload's output, for an error's message. */
  async logTail(name: string, lines = 5): Promise<string> {
    return (await readFile(this.logFile(name), 'utf8').catch(() => '')).trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** The workload's process, when it runs. */
  async pid(name: string): Promise<number | undefined> {
    const pid = Number(await readFile(this.pidFile(name), 'utf8').catch(() => ''));
    return Number.isInteger(pid) && pid > 0 && runs(pid) ? pid : undefined;
  }

  /**
   * Starts the workload (stopping the running one first); resolves once it answers, rejects when it exits first.
   * Once close() is called it starts nothing.
   */
  async restart(name: string, signal?: AbortSignal): Promise<void> {
    const workload = this.workload(name);
    await this.stop(name);
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    // From here to the pid file, nothing awaits: close() finds every process started before it, and none starts after.
    if (this.stopping.signal.aborted) throw new LifelineError('DeploymentFailed', `${name} was not started: its workloads are closing`);
    const log = openSync(this.logFile(name), 'a', 0o600);
    let child;
    try {
      child = spawn('/bin/sh', ['-c', workload.start], {
        cwd: workload.directory,
        detached: true,
        stdio: ['ignore', log, log],
        env: { ...process.env, LIFELINE_SECRET_FILE: workload.secretFile },
      });
    } finally {
      closeSync(log);
    }
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.once('error', () => undefined);
    child.unref();
    if (child.pid !== undefined) {
      writeFileSync(this.pidFile(name), String(child.pid), { mode: 0o600 });
      if (this.endWithThisProcess) {
        this.guards.set(name, whenThisProcessEnds('lifeline-workload-guard', STOP_GROUP, [String(child.pid), String(STOP_GRACE_SECONDS)]));
      }
    }
    const limit = AbortSignal.any([AbortSignal.timeout(START_LIMIT_MS), this.stopping.signal, ...(signal ? [signal] : [])]);
    for (;;) {
      const code = await Promise.race([exited, delay(200, undefined, { signal: limit }).then(() => undefined)]).catch(
        () => 'stopped' as const,
      );
      if (code === 'stopped') throw new LifelineError('DeploymentFailed', `${name} did not answer on ${workload.healthUrl} in time`);
      if (code !== undefined) {
        throw new LifelineError(
          'DeploymentFailed',
          `${name} exited with ${code} before it answered on ${workload.healthUrl}: ${await this.logTail(name)}`,
        );
      }
      const answered = await fetch(workload.healthUrl, { signal: AbortSignal.timeout(2_000) }).then(
        async (response) => (await response.body?.cancel(), true),
        () => false,
      );
      if (answered) return;
    }
  }

  /** Stops the workload's process group: SIGTERM, then SIGKILL after the grace period. A stopped workload stays stopped. */
  async stop(name: string): Promise<void> {
    const guard = this.guards.get(name);
    const pid = await this.pid(name);
    if (pid !== undefined) {
      const signal = (kill: NodeJS.Signals) => {
        try {
          process.kill(-pid, kill);
        } catch {
          // Gone already.
        }
      };
      signal('SIGTERM');
      for (let waited = 0; runs(pid) && waited < STOP_GRACE_SECONDS * 1000; waited += 100) await delay(100);
      if (runs(pid)) signal('SIGKILL');
    }
    await rm(this.pidFile(name), { force: true });
    if (guard) {
      await guard();
      if (this.guards.get(name) === guard) this.guards.delete(name);
    }
  }

  /**
   * Ends every rollout still waiting for its process to answer, and starts nothing more. The processes keep running,
   * unless they end with this process: then they are stopped.
   */
  async close(): Promise<void> {
    this.stopping.abort();
    if (this.endWithThisProcess) await Promise.all([...this.workloads.keys()].map((name) => this.stop(name)));
  }

  private workload(name: string | undefined): LocalWorkload {
    const workload = this.workloads.get(name?.split('/').at(-1) ?? '');
    if (!workload) throw new ServiceNotFoundException({ ...metadata, message: 'Service not found.' });
    return workload;
  }

  private async service(workload: LocalWorkload): Promise<Service> {
    const running = (await this.pid(workload.name)) === undefined ? 0 : 1;
    const deployment = this.deployments.get(workload.name) ?? {
      id: `ecs-svc/${randomBytes(9).toString('hex')}`,
      status: 'PRIMARY',
      taskDefinition: taskDefinition(workload.name),
      desiredCount: 1,
      runningCount: running,
      rolloutState: 'COMPLETED',
    };
    return {
      serviceName: workload.name,
      serviceArn: `arn:aws:ecs:${LOCAL_REGION}:000000000000:service/${LOCAL_CLUSTER}/${workload.name}`,
      clusterArn: `arn:aws:ecs:${LOCAL_REGION}:000000000000:cluster/${LOCAL_CLUSTER}`,
      status: 'ACTIVE',
      taskDefinition: taskDefinition(workload.name),
      desiredCount: 1,
      runningCount: running,
      deployments: [{ ...deployment }],
    };
  }

  private async answer(command: unknown): Promise<unknown> {
    if (command instanceof DescribeServicesCommand) {
      const names = command.input.services ?? [];
      const services: Service[] = [];
      const failures: { arn: string; reason: string }[] = [];
      for (const name of names) {
        if (this.workloads.has(name.split('/').at(-1)!)) services.push(await this.service(this.workload(name)));
        else failures.push({ arn: `arn:aws:ecs:${LOCAL_REGION}:000000000000:service/${LOCAL_CLUSTER}/${name}`, reason: 'MISSING' });
      }
      const output: DescribeServicesCommandOutput = { ...metadata, services, failures };
      return output;
    }
    if (command instanceof UpdateServiceCommand) {
      const workload = this.workload(command.input.service);
      if (command.input.desiredCount === 0) {
        throw new LifelineError('InvalidConfig', `a local workload (${workload.name}) runs one process: it cannot be scaled`);
      }
      const deployment: Deployment = {
        id: `ecs-svc/${randomBytes(9).toString('hex')}`,
        status: 'PRIMARY',
        taskDefinition: taskDefinition(workload.name),
        desiredCount: 1,
        runningCount: 0,
        rolloutState: 'IN_PROGRESS',
        rolloutStateReason: 'ECS deployment in progress.',
        createdAt: new Date(),
      };
      this.deployments.set(workload.name, deployment);
      // Settled in the background, as ECS rolls out while the workflow polls DescribeServices.
      this.restart(workload.name).then(
        () => Object.assign(deployment, { rolloutState: 'COMPLETED', rolloutStateReason: 'ECS deployment completed.', runningCount: 1 }),
        (error: Error) =>
          Object.assign(deployment, { rolloutState: 'FAILED', rolloutStateReason: `tasks failed to start. (${error.message})` }),
      );
      const output: UpdateServiceCommandOutput = {
        ...metadata,
        service: { ...(await this.service(workload)), deployments: [{ ...deployment }] },
      };
      return output;
    }
    throw new LifelineError('InvalidConfig', 'a local workload answers DescribeServices and UpdateService only');
  }
}
