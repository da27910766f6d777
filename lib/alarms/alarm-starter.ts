import { ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ALARM_STARTER_TIMEOUT_SECONDS, COOLDOWN_EXPIRY, COOLDOWN_KEY } from '../../lambdas/core/alarms/cooldown.js';
import { ALARM_STARTER_SETTINGS_VARIABLE, type AlarmRoute, type AlarmStarterSettings } from '../../lambdas/core/alarms/routes.js';
import { LifelineError } from '../../lambdas/core/errors.js';
import { alarmStarterName, backupFunctionName, DEPLOYMENT_TAG } from '../../lambdas/core/names.js';
import { nagResource } from '../nag-findings.js';
import { deadLetterQueue } from '../runtime/dead-letter-queue.js';
import { functionArn, imageFunction, writeLogsStatement } from '../runtime/image-function.js';
import type { RuntimeImage } from '../runtime/runtime-image.js';
import { longestDeployedForm } from '../workflows/workflow-settings.js';

/** EventBridge's default quota on a rule's event pattern, in characters. */
export const MAX_EVENT_PATTERN_CHARS = 2048;
/** Lambda's limit on a function's environment, every name and value. */
const LAMBDA_ENVIRONMENT_BYTES = 4096;

export interface AlarmStarterProps {
  readonly deployment: string;
  /** The configured alarms. */
  readonly routes: readonly AlarmRoute[];
  /** The staleness alarms of the databases whose backup function an alarm may invoke: each starts a backup. */
  readonly stalenessAlarms: readonly string[];
  /** With `restore`: the restore workflow's state machine, by name. */
  readonly restoreStateMachineName?: string;
  /** With `pitr`: the PITR workflow's state machine, by name. */
  readonly pitrStateMachineName?: string;
  readonly image: RuntimeImage;
  readonly rolePath: string;
  /** Where the dead-letter alarm notifies. */
  readonly alarmTopic: sns.ITopic;
}

/** A CloudWatch alarm's transition into ALARM from another state, for these alarms: the event pattern as EventBridge holds it. */
export function alarmTransitionPattern(alarmNames: readonly string[]) {
  return {
    source: ['aws.cloudwatch'],
    'detail-type': ['CloudWatch Alarm State Change'],
    detail: {
      alarmName: [...alarmNames],
      state: { value: ['ALARM'] },
      previousState: { value: [{ 'anything-but': ['ALARM'] }] },
    },
  };
}

/** The alarm names in groups whose patterns each fit EventBridge's quota, in the order given. */
function patternGroups(alarmNames: readonly string[]): string[][] {
  const base = JSON.stringify(alarmTransitionPattern([])).length;
  const groups: string[][] = [];
  let length = base;
  for (const name of alarmNames) {
    const added = JSON.stringify(name).length + 1;
    if (groups.length === 0 || length + added > MAX_EVENT_PATTERN_CHARS) {
      groups.push([]);
      length = base;
    }
    groups.at(-1)!.push(name);
    length += added;
  }
  return groups;
}

/**
 * What starts runs for alarms: EventBridge rules on the configured alarms' (and the staleness alarms') transitions
 * into ALARM, a small function that starts one run per transition (core's alarms/), the table of cool-downs it
 * claims runs in, and an encrypted dead-letter queue, raising an alarm, for an event EventBridge could not deliver
 * or the function failed on every attempt. The function may start the deployment's restore and PITR workflows
 * (only those its alarms use) and invoke its backup functions, nothing else.
 */
export class AlarmStarter extends Construct {
  readonly function: lambda.DockerImageFunction;
  readonly role: iam.Role;
  readonly table: dynamodb.Table;
  readonly deadLetters: sqs.Queue;
  readonly rules: events.Rule[];

  constructor(scope: Construct, id: string, props: AlarmStarterProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const stateMachineArn = (name: string) =>
      stack.formatArn({ service: 'states', resource: 'stateMachine', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const uses = (action: AlarmRoute['action']) => props.routes.some((route) => route.action === action);
    const workflowArns = [
      ...(uses('prepare-restore') && props.restoreStateMachineName ? [stateMachineArn(props.restoreStateMachineName)] : []),
      ...(uses('prepare-pitr') && props.pitrStateMachineName ? [stateMachineArn(props.pitrStateMachineName)] : []),
    ];
    const backupFunctions = functionArn(this, backupFunctionName(props.deployment, '*'));

    this.table = new dynamodb.Table(this, 'Cooldowns', {
      partitionKey: { name: COOLDOWN_KEY, type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: COOLDOWN_EXPIRY,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Cool-downs last an hour and claims two days: nothing to keep when the stack goes.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    ({ queue: this.deadLetters } = deadLetterQueue(this, {
      acknowledgment: "This queue is the dead-letter queue of the alarm rules' target and of the starter's asynchronous invocations.",
      alarmName: `${alarmStarterName(props.deployment)}-failed`,
      alarmDescription:
        'An alarm transition started no run: its event is in the alarm starter dead-letter queue, naming the alarm. The starter logs say why; start the run by hand (see the README: alarm-driven runs).',
      topic: props.alarmTopic,
      ids: { queue: 'DeadLetters', alarm: 'Undelivered' },
    }));

    const logGroup = new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.DESTROY });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Lifeline alarm starter: starts the runs configured alarms ask for',
      path: props.rolePath,
      inlinePolicies: {
        start: new iam.PolicyDocument({
          statements: [
            writeLogsStatement(logGroup),
            new iam.PolicyStatement({
              sid: 'ClaimRuns',
              actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
              resources: [this.table.tableArn],
            }),
            ...(workflowArns.length === 0
              ? []
              : [new iam.PolicyStatement({ sid: 'StartWorkflows', actions: ['states:StartExecution'], resources: workflowArns })]),
            // The deployment's backup functions only: named `<name>-backup-*` and tagged with the deployment.
            ...(props.stalenessAlarms.length === 0 && !uses('backup')
              ? []
              : [
                  new iam.PolicyStatement({
                    sid: 'RequestBackups',
                    actions: ['lambda:InvokeFunction'],
                    resources: [backupFunctions],
                    conditions: { StringEquals: { [`aws:ResourceTag/${DEPLOYMENT_TAG}`]: props.deployment } },
                  }),
                ]),
            // Lambda sends an asynchronous invocation that failed every attempt with the function's role.
            new iam.PolicyStatement({ sid: 'DeadLetter', actions: ['sqs:SendMessage'], resources: [this.deadLetters.queueArn] }),
          ],
        }),
      },
    });
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[${nagResource(this.role, backupFunctions)}]`,
      reason:
        "A staleness alarm's backup function is named after its database, and every scheduled database has one: the deployment's backup functions by their name prefix, and only those tagged with the deployment.",
    });

    const settings: AlarmStarterSettings = {
      deployment: props.deployment,
      routes: [...props.routes],
      cooldownTable: this.table.tableName,
      ...(props.restoreStateMachineName && { restoreStateMachineArn: stateMachineArn(props.restoreStateMachineName) }),
      ...(props.pitrStateMachineName && { pitrStateMachineArn: stateMachineArn(props.pitrStateMachineName) }),
    };
    const environment = { [ALARM_STARTER_SETTINGS_VARIABLE]: stack.toJsonString(settings) };
    const bytes = Object.entries(environment).reduce(
      (sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(longestDeployedForm(this, value)),
      0,
    );
    if (bytes > LAMBDA_ENVIRONMENT_BYTES) {
      throw new LifelineError(
        'InvalidConfig',
        `databases: the alarm starter's settings must fit Lambda's 4 KB environment (${LAMBDA_ENVIRONMENT_BYTES} bytes), and this config's ${props.routes.length} alarms need ${bytes}; configure fewer alarms, or shorter alarm names`,
      );
    }

    this.function = imageFunction(this, {
      functionName: alarmStarterName(props.deployment),
      description: 'Lifeline alarm starter: one run per configured alarm transition into ALARM',
      image: props.image,
      handler: 'alarm.handler',
      role: this.role,
      memorySize: 256,
      timeout: Duration.seconds(ALARM_STARTER_TIMEOUT_SECONDS),
      environment,
      logGroup,
    });
    // A start that failed (a throttled API, a claim held by another delivery) is tried twice more, then dead-lettered.
    this.function.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      onFailure: new destinations.SqsDestination(this.deadLetters),
    });

    const alarmNames = [...props.routes.map((route) => route.alarmName), ...props.stalenessAlarms];
    this.rules = patternGroups(alarmNames).map((names, i) => {
      const { source, 'detail-type': detailType, detail } = alarmTransitionPattern(names);
      return new events.Rule(this, `Rule${i + 1}`, {
        description: `Lifeline: starts the runs of ${names.length} alarm(s) on their transition into ALARM`,
        eventPattern: { source, detailType, detail },
        targets: [
          // EventBridge retries a delivery Lambda refused (throttled) for up to 24 hours, then dead-letters it.
          new targets.LambdaFunction(this.function, {
            retryAttempts: 185,
            maxEventAge: Duration.hours(24),
            deadLetterQueue: this.deadLetters,
          }),
        ],
      });
    });
  }
}
