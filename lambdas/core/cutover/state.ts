import { z } from 'zod';
import { SecretShape } from '../postgres/connection-secrets.js';
import { SecretArn } from '../postgres/connection-secrets.js';
import { CutoverDatabase, CutoverInput } from './input.js';
import { CaughtError, Timing } from '../workflows/execution-state.js';
import { ApplicationName } from '../names.js';
import { ApprovalDecision } from '../workflows/approval.js';
import { WORKFLOW_DEFINITIONS, worstCaseSeconds } from '../workflows/definitions.js';
import { ExecutionArn } from '../workflows/execution-history.js';

/**
 * The longest a cutover execution may run (the state machine's TimeoutSeconds), and so how long its lock
 * lives: an execution that dies leaves a lock that expires by then.
 */
export const CUTOVER_TIMEOUT_SECONDS = WORKFLOW_DEFINITIONS.cutover.TimeoutSeconds!;

/**
 * The Task states a failing cutover runs, in order, besides its two restart-and-health phases (the CheckRestart
 * loops and the health windows, which the settings size): the switch, then the rollback, its conclusion, the lock
 * released (or kept, by KeepLock, which takes no longer) and the notices.
 */
export const FAILING_CUTOVER_STATES = [
  ...['ValidateInput', 'TakeLock', 'Record', 'Freeze', 'Swap', 'Restart', 'CheckRestart'],
  ...['Revert', 'RollbackUnfreeze', 'RollbackRestart', 'CheckRollbackRestart', 'LiftFreeze'],
  ...['Conclude', 'ReleaseLockAfterFailure', 'NotifyFailure', 'Page'],
  // A cutover started by hand waits for a person first (a restore's or PITR's hand-over brings its approval).
  'WaitForApproval',
  'VerifyApproval',
] as const;

/** What those states can take at worst, as cutover.asl.json's timeouts and retriers allow (workflows/definitions.ts). */
export const CUTOVER_STEPS_MARGIN_SECONDS = worstCaseSeconds('cutover', FAILING_CUTOVER_STATES);

/** The environment variable a restart sets on Lambda functions, so new execution environments start and read the secret. */
export const CUTOVER_MARKER_VARIABLE = 'LIFELINE_CUTOVER_AT';

/** A Lambda function by name or ARN, as UpdateFunctionConfiguration takes it. */
export const LambdaFunctionName = z
  .string()
  .regex(
    /^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,64}$/,
    'must be a Lambda function name or unqualified ARN, such as "shop-api-worker"',
  );

/** A Lambda alias name, as CreateAlias takes it (not a version number). */
export const LambdaAliasName = z
  .string()
  .regex(/^(?!\d+$)[A-Za-z0-9_-]{1,128}$/, 'must be a Lambda alias name such as "live" (letters, digits, - and _, not only digits)');

export const FREEZE_MODES = ['none', 'read-only-source', 'parameter', 'scale-to-zero'] as const;

/** How writes to the old database stop while the connection switches. */
export const Freeze = z.discriminatedUnion('mode', [
  /** Switch without stopping writes: whatever the application writes to the old database meanwhile stays there. */
  z.strictObject({ mode: z.literal('none') }),
  /** The old database gets default_transaction_read_only and the application's sessions there are ended. */
  z.strictObject({ mode: z.literal('read-only-source') }),
  /** An SSM parameter the application reads as its maintenance flag is set to `frozenValue`, then restored. */
  z.strictObject({
    mode: z.literal('parameter'),
    parameterName: z.string().regex(/^\/?[A-Za-z0-9_.\-/]{1,1011}$/, 'must be an SSM parameter name such as "/shop-api/maintenance"'),
    frozenValue: z.string().min(1).max(4096).default('on'),
  }),
  /**
   * Maintenance by scaling to zero: the application's ECS services' desired counts are set to 0 and the Freeze step
   * waits until their tasks have stopped; the recorded counts come back with the restart and on every way back.
   */
  z.strictObject({ mode: z.literal('scale-to-zero') }),
]);
export type Freeze = z.infer<typeof Freeze>;

export const HEALTH_CHECK_DEFAULTS = { count: 3, windowSeconds: 120, intervalSeconds: 5 } as const;

/** The health URL must answer 2xx `count` times in a row, probed every `intervalSeconds`, within `windowSeconds`. */
export const HealthCheck = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  count: z.number().int().min(1).max(50).default(HEALTH_CHECK_DEFAULTS.count),
  windowSeconds: z.number().int().min(1).max(600).default(HEALTH_CHECK_DEFAULTS.windowSeconds),
  intervalSeconds: z.number().positive().max(60).default(HEALTH_CHECK_DEFAULTS.intervalSeconds),
});
export type HealthCheck = z.infer<typeof HealthCheck>;

const EcsService = z.strictObject({ cluster: z.string().min(1), service: z.string().min(1) });

/** One application as cutover knows it: its connection secret, what restarts it, how it is frozen and proved healthy. */
export const CutoverApplication = z
  .strictObject({
    name: ApplicationName,
    connectionSecretArn: SecretArn,
    ecsServices: z.array(EcsService).default([]),
    lambdaFunctions: z.array(LambdaFunctionName).default([]),
    /** The alias each of the functions is invoked through: where an applicationVersion points them. Left out: none. */
    lambdaAlias: LambdaAliasName.optional(),
    freeze: Freeze.default({ mode: 'none' }),
    healthCheck: HealthCheck,
  })
  .refine((a) => a.ecsServices.length + a.lambdaFunctions.length > 0, {
    message: 'needs an ECS service or a Lambda function to restart',
    path: ['ecsServices'],
  })
  .refine((a) => a.freeze.mode !== 'scale-to-zero' || a.ecsServices.length > 0, {
    message: 'freeze mode "scale-to-zero" scales ECS services to zero: it needs an ECS service',
    path: ['freeze', 'mode'],
  })
  .refine((a) => a.lambdaAlias === undefined || a.lambdaFunctions.length > 0, {
    message: 'is the alias of the Lambda functions: it needs lambdaFunctions',
    path: ['lambdaAlias'],
  });
export type CutoverApplication = z.infer<typeof CutoverApplication>;

/** What an application's cutover rewrites and restarts: no two applications may share any of it. */
export interface ApplicationResources {
  name: string;
  connectionSecretArn: string;
  ecsServices: readonly { cluster: string; service: string }[];
  lambdaFunctions: readonly string[];
}

/** A resource two applications share: where the later one names it, and a message naming both. */
export interface SharedResource {
  /** The later application's index. */
  index: number;
  /** Its field, and the entry's index within ecsServices or lambdaFunctions. */
  field: 'connectionSecretArn' | 'ecsServices' | 'lambdaFunctions';
  entry?: number;
  message: string;
}

/** A name or ARN's last part: `arn:aws:ecs:...:cluster/production` is cluster `production`, as ECS accepts either. */
const lastPart = (nameOrArn: string, separator: string) => nameOrArn.slice(nameOrArn.lastIndexOf(separator) + 1);

/** Two Lambda functions are one when their names match and either is given by name only (the deployment's), or both ARNs match. */
export function sameFunction(a: string, b: string): boolean {
  const isArn = (f: string) => f.startsWith('arn:');
  if (isArn(a) && isArn(b)) return a === b;
  return lastPart(a, ':') === lastPart(b, ':');
}

/** An ECS service by cluster and service, each by name or ARN (`service/<cluster>/<name>` or `service/<name>`). */
const serviceKey = ({ cluster, service }: { cluster: string; service: string }) => `${lastPart(cluster, '/')}/${lastPart(service, '/')}`;

/**
 * The connection secrets, ECS services and Lambda functions configured for more than one application. A cutover of
 * one would rewrite the other's connection or restart the other onto its own: refused where the settings are parsed,
 * by the CDK app at synth and by the steps function, and in the config's own terms by its schema.
 */
export function sharedApplicationResources(applications: readonly ApplicationResources[]): SharedResource[] {
  const shared: SharedResource[] = [];
  applications.forEach((application, index) => {
    for (const earlier of applications.slice(0, index)) {
      const both = `${earlier.name} and ${application.name}`;
      if (application.connectionSecretArn === earlier.connectionSecretArn) {
        shared.push({
          index,
          field: 'connectionSecretArn',
          message: `${both} are both configured on the connection secret ${application.connectionSecretArn}: a cutover of one would switch the other too; give each application its own secret, or make them one application`,
        });
      }
      application.ecsServices.forEach((service, entry) => {
        if (!earlier.ecsServices.some((other) => serviceKey(other) === serviceKey(service))) return;
        shared.push({
          index,
          field: 'ecsServices',
          entry,
          message: `${both} are both configured on the ECS service ${service.service} in cluster ${service.cluster}: a cutover of one would restart the other's tasks onto its own connection; configure the service for one application only`,
        });
      });
      application.lambdaFunctions.forEach((fn, entry) => {
        if (!earlier.lambdaFunctions.some((other) => sameFunction(other, fn))) return;
        shared.push({
          index,
          field: 'lambdaFunctions',
          entry,
          message: `${both} are both configured on the Lambda function ${fn}: a cutover of one would restart the other's function onto its own connection; configure the function for one application only`,
        });
      });
    }
  });
  return shared;
}

/**
 * A configured database's server, where a cutover may switch an application to a database by name
 * (`database.serverSecretArn`): as the config says it listens (`host`, or else RDS's endpoint of `rds`) and `port`.
 * The admin secret is named, never read: the cutover needs where the server is, not its password.
 */
export const CutoverServer = z.strictObject({
  /** The configured database's label, for messages. */
  name: z.string().min(1),
  secretArn: SecretArn,
  host: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535),
  rds: z.union([z.strictObject({ instanceIdentifier: z.string().min(1) }), z.strictObject({ clusterIdentifier: z.string().min(1) })]),
});
export type CutoverServer = z.infer<typeof CutoverServer>;

/**
 * What the cutover steps know of the deployment (the CDK stack passes it as LIFELINE_CUTOVER_SETTINGS).
 * A failing cutover restarts and proves health twice (the switch, then the rollback); it must end before the
 * state machine's TimeoutSeconds, because a timed-out execution runs no Catch and would leave a freeze on.
 */
export const CutoverSettings = z
  .strictObject({
    /** How often a restart's progress is polled, and how long it may take before it counts as failed. */
    deployment: z
      .strictObject({
        pollSeconds: z.number().int().min(1).max(300).default(15),
        timeoutSeconds: z.number().int().min(1).max(3600).default(900),
      })
      .prefault({}),
    applications: z.array(CutoverApplication),
    /** The servers of the applications' databases: the only ones a cutover switches to by name. Left out: none. */
    servers: z.array(CutoverServer).optional(),
  })
  .superRefine(({ deployment, applications }, context) => {
    applications.forEach((application, index) => {
      const phase = deployment.timeoutSeconds + deployment.pollSeconds + application.healthCheck.windowSeconds;
      const worst = 2 * phase + CUTOVER_STEPS_MARGIN_SECONDS;
      if (worst < CUTOVER_TIMEOUT_SECONDS) return;
      context.addIssue({
        code: 'custom',
        path: ['applications', index, 'healthCheck', 'windowSeconds'],
        message:
          `a failing cutover of ${application.name} could run ${worst} s: 2 x (deployment.timeoutSeconds ${deployment.timeoutSeconds} + ` +
          `deployment.pollSeconds ${deployment.pollSeconds} + healthCheck.windowSeconds ${application.healthCheck.windowSeconds}) + ` +
          `${CUTOVER_STEPS_MARGIN_SECONDS} s for the other steps, not less than the state machine's ${CUTOVER_TIMEOUT_SECONDS} s limit, ` +
          'past which no rollback or unfreeze runs; shorten the deployment timeout or the health window',
      });
    });
    for (const { index, field, entry, message } of sharedApplicationResources(applications)) {
      context.addIssue({ code: 'custom', path: ['applications', index, field, ...(entry === undefined ? [] : [entry])], message });
    }
  });
export type CutoverSettings = z.infer<typeof CutoverSettings>;

const Execution = z.strictObject({ id: z.string(), startedAt: z.iso.datetime() });

/** ValidateInput's result: the input resolved against the config. */
export const CutoverRequest = z.strictObject({
  application: CutoverApplication,
  database: CutoverDatabase,
  /** The freeze this execution applies: the application's, or none when the input says freezeWrites: false. */
  freeze: Freeze,
  /** The input's applicationVersion, which Record resolves to each service's task definition. Left out: the current one. */
  applicationVersion: CutoverInput.shape.applicationVersion,
  origin: CutoverInput.shape.origin.unwrap().nullable(),
  /**
   * The approval this cutover goes ahead on: a hand-over's, once ValidateInput found it in the handing-over execution
   * (origin.ts), else null until WaitForApproval puts the person's decision here.
   */
  approval: ApprovalDecision.nullable(),
  /** What WaitForApproval asks when there is no approval yet, and why an approval in the input was not taken. */
  approvalRequest: z.strictObject({ subject: z.string(), question: z.string() }),
  deployment: z.strictObject({ pollSeconds: z.number().int(), timeoutSeconds: z.number().int() }),
  /** The lock item's numbers as DynamoDB's N strings (epoch seconds): a lock expired before `now` may be taken over. */
  lock: z.strictObject({ now: z.string(), expiresAt: z.string() }),
  /** PutSecretValue's ClientRequestToken: derived from the execution, so a retried swap writes one version. */
  swapToken: z.string().min(32).max(64),
  execution: Execution,
  timing: Timing,
});
export type CutoverRequest = z.infer<typeof CutoverRequest>;

/** Where a connection points, without its password: safe for outputs. */
export const Endpoint = z.strictObject({ host: z.string(), port: z.number().int(), database: z.string(), role: z.string() });
export type Endpoint = z.infer<typeof Endpoint>;

/** An ECS service's desired count as recorded before anything changed. */
const ScaledService = z.strictObject({ cluster: z.string(), service: z.string(), desiredCount: z.number().int().min(0) });

/** What the freeze changes, as it was before: enough for unfreeze to put it back. */
export const RecordedFreeze = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('none') }),
  /** The old database's own default_transaction_read_only setting before the freeze (null: not set). */
  z.strictObject({ mode: z.literal('read-only-source'), previous: z.string().nullable() }),
  z.strictObject({
    mode: z.literal('parameter'),
    parameterName: z.string(),
    frozenValue: z.string(),
    /** A SecureString parameter is refused at Record, so no decrypted value is ever in the execution's state. */
    previous: z.strictObject({ value: z.string(), type: z.enum(['String', 'StringList']) }).nullable(),
  }),
  /** Each service's desired count before it was scaled to zero. */
  z.strictObject({ mode: z.literal('scale-to-zero'), services: z.array(ScaledService) }),
]);
export type RecordedFreeze = z.infer<typeof RecordedFreeze>;

/** Record's result: the state before anything changes, all that rollback needs. */
export const Recorded = z.strictObject({
  secret: z.strictObject({ arn: SecretArn, versionId: z.string(), shape: SecretShape }),
  from: Endpoint,
  to: Endpoint,
  services: z.array(
    z.strictObject({
      cluster: z.string(),
      service: z.string(),
      taskDefinition: z.string(),
      desiredCount: z.number().int(),
      /** The task definition (ARN) the restart deploys with the new connection, by the input's applicationVersion. */
      deploy: z.string().optional(),
    }),
  ),
  functions: z.array(
    z.strictObject({
      name: z.string(),
      revisionId: z.string(),
      /** By the input's applicationVersion: the alias as it was (its version and revision) and the version it is pointed at. */
      alias: z.strictObject({ name: z.string(), version: z.string(), revisionId: z.string(), deploy: z.string() }).optional(),
    }),
  ),
  freeze: RecordedFreeze,
  timing: Timing,
});
export type Recorded = z.infer<typeof Recorded>;

export const Frozen = z.strictObject({
  mode: z.enum(FREEZE_MODES),
  terminatedSessions: z.number().int(),
  /** scale-to-zero: the tasks that stopped (the freeze waited for each), for the output. */
  stoppedTasks: z.number().int().optional(),
  timing: Timing,
});
export type Frozen = z.infer<typeof Frozen>;

export const Swapped = z.strictObject({ versionId: z.string(), timing: Timing });
export type Swapped = z.infer<typeof Swapped>;

/** Which connection a restart or health proof is about: the new one, or the recorded one after a revert. */
export const Side = z.enum(['new', 'old']);
export type Side = z.infer<typeof Side>;

export const Restarted = z.strictObject({
  side: Side,
  deployments: z.array(z.strictObject({ cluster: z.string(), service: z.string(), deploymentId: z.string() })),
  functions: z.array(z.string()),
  deadline: z.iso.datetime(),
  timing: Timing,
});
export type Restarted = z.infer<typeof Restarted>;

export const DeploymentProgress = z.strictObject({ done: z.boolean(), pending: z.array(z.string()), timing: Timing });
export type DeploymentProgress = z.infer<typeof DeploymentProgress>;

export const HealthReport = z.strictObject({
  side: Side,
  passed: z.boolean(),
  /** One sentence for notifications and the failure cause. */
  summary: z.string(),
  http: z.strictObject({
    url: z.string(),
    required: z.number().int(),
    consecutive: z.number().int(),
    attempts: z.number().int(),
    last: z.string().nullable(),
  }),
  sessions: z.strictObject({ database: z.string(), role: z.string(), count: z.number().int().nullable(), detail: z.string() }),
  timing: Timing,
});
export type HealthReport = z.infer<typeof HealthReport>;

export const Unfrozen = z.strictObject({ mode: z.enum(FREEZE_MODES), timing: Timing });
export type Unfrozen = z.infer<typeof Unfrozen>;

/** Revert's result: `moved` is false when the recorded version was current already (a retried revert, or no swap). */
export const Reverted = z.strictObject({ versionId: z.string(), moved: z.boolean(), timing: Timing });
export type Reverted = z.infer<typeof Reverted>;

/** The execution's state as Summarize and Conclude see it: whatever the steps so far put there. */
export const CutoverState = z.object({
  request: CutoverRequest,
  recorded: Recorded.optional(),
  frozen: Frozen.optional(),
  swap: Swapped.optional(),
  health: HealthReport.optional(),
  unfrozen: Unfrozen.optional(),
  error: CaughtError.optional(),
  /** Set once Revert made the recorded secret version current again. */
  rollback: z.object({ secret: Reverted, health: HealthReport.optional() }).optional(),
  /** What failed while rolling back (Revert itself included). */
  rollbackError: CaughtError.optional(),
  unfreezeError: CaughtError.optional(),
});
export type CutoverState = z.infer<typeof CutoverState>;

/** The successful execution's output, also the notification. */
export interface CutoverOutcome {
  status: 'SUCCEEDED';
  subject: string;
  message: string;
  application: string;
  from: Endpoint;
  to: Endpoint;
  secretVersionId: string;
  previousSecretVersionId: string;
  health: HealthReport;
  freeze: string;
  /** The task definitions the input's applicationVersion deployed, each with the one the service ran before. */
  deployed: { cluster: string; service: string; taskDefinition: string; previous: string }[];
  /** The function versions the input's applicationVersion pointed each function's alias at, each with the one it pointed at before. */
  deployedFunctions: { function: string; alias: string; version: string; previous: string }[];
  /** From the freeze to the unfreeze; null without a freeze. */
  frozenSeconds: number | null;
  /** From the secret's swap to the health proof's end. */
  swapToHealthySeconds: number;
  origin: CutoverState['request']['origin'];
  approver: string | null;
}

/** Conclude's result, which the execution fails with; `page` sends it to the alarm topic too. */
export interface CutoverFailure {
  error: string;
  cause: string;
  subject: string;
  message: string;
  page: boolean;
  /**
   * The application's lock is kept, with no expiry, instead of released (KeepLock): after a rollback that did not
   * prove the old side healthy, or a secret someone else changed, until a person clears it (`lifeline unlock`).
   */
  keepLock: boolean;
}

/** The cutover steps Lambda's event: one step of cutover.asl.json. */
export const CutoverStepEvent = z.discriminatedUnion('step', [
  z.strictObject({ step: z.literal('validateInput'), input: z.unknown(), execution: Execution }),
  z.strictObject({ step: z.literal('record'), request: CutoverRequest }),
  z.strictObject({ step: z.literal('freeze'), request: CutoverRequest, recorded: Recorded }),
  z.strictObject({ step: z.literal('swap'), request: CutoverRequest, recorded: Recorded }),
  z.strictObject({ step: z.literal('restart'), request: CutoverRequest, recorded: Recorded, side: Side }),
  z.strictObject({ step: z.literal('checkRestart'), restart: Restarted }),
  z.strictObject({ step: z.literal('proveHealth'), request: CutoverRequest, recorded: Recorded, side: Side }),
  z.strictObject({ step: z.literal('unfreeze'), state: CutoverState }),
  z.strictObject({ step: z.literal('revert'), request: CutoverRequest, recorded: Recorded }),
  z.strictObject({ step: z.literal('summarize'), state: CutoverState }),
  z.strictObject({ step: z.literal('conclude'), state: CutoverState }),
  /** EventBridge, when an execution of the cutover state machine was stopped, timed out or failed (compensation.ts). */
  z.strictObject({ step: z.literal('compensate'), executionArn: ExecutionArn, status: z.string().min(1) }),
]);
export type CutoverStepEvent = z.infer<typeof CutoverStepEvent>;
