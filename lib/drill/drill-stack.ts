import { Aws, Duration, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { CfnSchedule } from 'aws-cdk-lib/aws-scheduler';
import type { Construct } from 'constructs';
import { DrillInput } from '../../lambdas/core/drill/input.js';
import { DrillSettings } from '../../lambdas/core/drill/steps.js';
import { drillRunnerFamily, drillScheduleNames, drillWorkflowName, restoreCatalogRoot, runtimeRolePath } from '../../lambdas/core/names.js';
import { RUNNER_DRILL_COMMAND, RUNNER_STAGING_DIR, runnerEnvironment } from '../../lambdas/core/runner/environment.js';
import {
  DATABASE_DIMENSION,
  DRILL_METRICS,
  METRICS_NAMESPACE,
  SERVICE_DIMENSION,
  SERVICE_NAMES,
  type DrillMetricName,
} from '../../lambdas/core/telemetry.js';
import type { DrillConfig, LifelineConfig, RestoreConfig } from '../config/schema.js';
import { nagResource } from '../nag-findings.js';
import {
  ecsSyncRuleStatement,
  passRunnerRolesStatement,
  runnerCluster,
  runnerTaskDefinition,
  runRunnerTaskStatement,
  tagRunnerTaskStatement,
} from '../runtime/runner-task.js';
import type { VaultStack } from '../vault/vault-stack.js';
import { WorkflowLogs } from '../workflows/workflow-logs.js';
import { WorkflowStateMachine } from '../workflows/workflow-state-machine.js';
import { WorkflowStepsFunction } from '../workflows/workflow-steps-function.js';

/** The drill steps handler in the runtime image (lambdas/Dockerfile bundles it as drill.mjs). */
export const DRILL_STEPS_HANDLER = 'drill.handler';

/** The daily check that publishes DrillOverdue, in UTC. */
const FRESHNESS_CRON = '0 6 * * ? *';

export interface DrillStackProps extends StackProps {
  readonly config: LifelineConfig;
  readonly drill: DrillConfig;
  /** The restore runner's size, which the drill runner takes too. */
  readonly restore: RestoreConfig;
  readonly vaultStack: VaultStack;
}

/** A drill metric of one database, as the drill steps function emits it (Powertools adds `service`). */
export function drillMetric(name: DrillMetricName, database: string, options: cloudwatch.MetricOptions): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { [SERVICE_DIMENSION]: SERVICE_NAMES.drill, [DATABASE_DIMENSION]: database },
    unit: DRILL_METRICS[name] as cloudwatch.Unit,
    ...options,
  });
}

/**
 * Restore drills (`<name>-drill`): the drill state machine (drill.asl.json), its runner (the runtime image's CLI,
 * restoring into a throwaway PostgreSQL inside the task), its steps function, a schedule per database that starts it
 * and a daily one that checks when a drill last passed, and per database the alarms "a drill failed" and "no drill
 * passed within passedWithinDays". Reports go to the vault under drills/, a prefix with its own lifecycle rule.
 */
export class DrillStack extends Stack {
  readonly stateMachine: WorkflowStateMachine;
  readonly stepsFunction: WorkflowStepsFunction;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly schedules: CfnSchedule[] = [];
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: DrillStackProps) {
    super(scope, id, props);
    const { config, vaultStack } = props;
    const { vault } = vaultStack;
    const name = drillWorkflowName(config.name);
    const family = drillRunnerFamily(config.name);
    const logs = new WorkflowLogs(this, 'Logs', 'drill');
    const cluster = runnerCluster(this);
    const rolePath = `${runtimeRolePath(config.name)}drill-runner/`;
    const reports = vault.drillReportStatements();

    // The runner reads backups and stores reports; it reaches no database (its server is its own) and holds no secret.
    const taskRole = new iam.Role(this, 'RunnerTaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Lifeline drill runner',
      path: rolePath,
      inlinePolicies: { runner: new iam.PolicyDocument({ statements: [...vault.readStatements(), ...reports] }) },
    });
    const acknowledgeVault = (role: iam.Role) => {
      for (const objects of vault.tierObjectArns()) {
        Validations.of(role).acknowledge({
          id: `AwsSolutions-IAM5[${nagResource(this, objects)}]`,
          reason: 'Backup keys carry a timestamp and any configured database may be drilled: reads span the tier prefixes.',
        });
      }
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[${nagResource(this, reports[0]!.resources[0]!)}]`,
        reason:
          'Drill reports are keyed by database, date and execution: reads and create-only writes span the drills/ prefix, nothing else.',
      });
    };
    acknowledgeVault(taskRole);
    const { taskDefinition, container } = runnerTaskDefinition(this, {
      family,
      size: props.restore.runner,
      taskRole,
      image: vaultStack.newestImage,
      container: { id: 'Runner', name: 'runner' },
      command: RUNNER_DRILL_COMMAND,
      environment: runnerEnvironment({ bucket: vault.bucketName, stagingDir: RUNNER_STAGING_DIR }),
      environmentHoldsNoSecret:
        'The environment holds the vault bucket name and the staging path, no secret; the job comes per run as an override.',
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'drill', logGroup: logs.logGroup(this, 'RunnerLogs') }),
      volumes: [{ name: 'staging' }],
      executionRolePath: rolePath,
    });
    container.addMountPoints({ sourceVolume: 'staging', containerPath: RUNNER_STAGING_DIR, readOnly: false });
    this.taskDefinition = taskDefinition;

    const catalog = this.formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: `${restoreCatalogRoot(config.name).slice(1)}/*`,
    });
    const settings: DrillSettings = DrillSettings.parse({
      deployment: config.name,
      backupStacks: config.backupStacks,
      bucket: vault.bucketName,
      runnerTaskDefinition: family,
      runnerVcpus: props.restore.runner.vcpus,
    });
    this.stepsFunction = new WorkflowStepsFunction(this, 'Steps', {
      functionName: name,
      description: 'Lifeline drill steps: choose the backup, conclude the verdict, check when a drill last passed',
      roleDescription: 'Lifeline drill steps',
      policyName: 'drill',
      image: vaultStack.newestImage,
      handler: DRILL_STEPS_HANDLER,
      memorySize: 512,
      environment: { LIFELINE_DRILL_SETTINGS: JSON.stringify(settings) },
      logs,
      rolePath: vault.runtimeRolePath,
      statements: [
        ...vault.readStatements(),
        ...reports,
        new iam.PolicyStatement({ sid: 'ReadTheCatalog', actions: ['ssm:GetParametersByPath'], resources: [catalog] }),
      ],
    });
    acknowledgeVault(this.stepsFunction.role);
    Validations.of(this.stepsFunction.role).acknowledge({
      id: `AwsSolutions-IAM5[${nagResource(this, catalog)}]`,
      reason:
        "The catalog has a path per restore group under the deployment's path, read by path: the drill finds its database's network there.",
    });

    const regional = (service: string, resource: string) => `arn:${Aws.PARTITION}:${service}:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
    const tasks = regional('ecs', `task/${cluster.ref}/*`);
    const revisions = regional('ecs', `task-definition/${family}:*`);
    this.stateMachine = new WorkflowStateMachine(this, 'Workflow', {
      stateMachineName: name,
      definition: 'state-machines/drill.asl.json',
      substitutions: { DrillStepsFunctionArn: this.stepsFunction.functionArn, DrillClusterArn: cluster.attrArn },
      role: {
        description: 'Lifeline drill workflow',
        policyName: 'drill',
        statements: [
          runRunnerTaskStatement('RunTheRunner', revisions, cluster),
          new iam.PolicyStatement({ sid: 'FollowTheRunner', actions: ['ecs:StopTask', 'ecs:DescribeTasks'], resources: [tasks] }),
          tagRunnerTaskStatement('TagTheRunnerTask', tasks),
          passRunnerRolesStatement('PassTheRunnerRoles', [taskRole.roleArn, taskDefinition.obtainExecutionRole().roleArn]),
          ecsSyncRuleStatement(),
          new iam.PolicyStatement({ sid: 'InvokeSteps', actions: ['lambda:InvokeFunction'], resources: [this.stepsFunction.functionArn] }),
        ],
      },
      logs,
      alarmTopic: vaultStack.notifications.topic,
      failedAlarmDescription: `A drill execution of ${name} failed, timed out or was aborted: a drill that FAILED or TIMED_OUT, or one that found no backup. Its output and report (drills/<database>/ in the vault) say why.`,
    });
    this.stateMachine.node.addDependency(this.stepsFunction);
    const acknowledge = (resource: string, reason: string) =>
      Validations.of(this.stateMachine.role).acknowledge({ id: `AwsSolutions-IAM5[${nagResource(this, resource)}]`, reason });
    acknowledge(revisions, 'Every deploy registers a new revision of the runner: RunTask is limited to its family, on its cluster.');
    acknowledge(tasks, "Task ids are assigned when RunTask starts a task: following and tagging are limited to the cluster's tasks.");
    this.stateMachine.addOutputs(this, { startWith: 'Start a drill: the console', exampleInput: '{"database": "<name>"}' });

    // Scheduler starts each database's drill and invokes its daily check, with one role for both.
    const schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'Lifeline drill schedules',
      inlinePolicies: {
        start: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'StartDrills',
              actions: ['states:StartExecution'],
              resources: [this.stateMachine.stateMachine.stateMachineArn],
            }),
            new iam.PolicyStatement({
              sid: 'CheckDrills',
              actions: ['lambda:InvokeFunction'],
              resources: [this.stepsFunction.functionArn],
            }),
          ],
        }),
      },
    });
    const topic = vaultStack.notifications.topic;
    for (const database of config.databases) {
      const schedule = database.drill?.schedule ?? props.drill.schedule;
      const withinDays = database.drill?.passedWithinDays ?? props.drill.passedWithinDays;
      const input = DrillInput.parse({ database: database.name });
      this.schedules.push(
        new CfnSchedule(this, `Drill-${database.name}`, {
          name: drillScheduleNames(config.name, database.name).drill,
          description: `Lifeline restore drill of ${database.name}`,
          scheduleExpression: `cron(${schedule.cron})`,
          scheduleExpressionTimezone: schedule.timeZone,
          flexibleTimeWindow: { mode: 'OFF' },
          target: {
            arn: this.stateMachine.stateMachine.stateMachineArn,
            roleArn: schedulerRole.roleArn,
            input: JSON.stringify({ database: input.database }),
            retryPolicy: { maximumRetryAttempts: 5, maximumEventAgeInSeconds: 3600 },
          },
        }),
        new CfnSchedule(this, `Freshness-${database.name}`, {
          name: drillScheduleNames(config.name, database.name).check,
          description: `Lifeline: has a drill of ${database.name} passed within ${withinDays} days`,
          scheduleExpression: `cron(${FRESHNESS_CRON})`,
          scheduleExpressionTimezone: 'UTC',
          flexibleTimeWindow: { mode: 'OFF' },
          target: {
            arn: this.stepsFunction.function.functionArn,
            roleArn: schedulerRole.roleArn,
            input: JSON.stringify({ step: 'freshness', database: database.name, withinDays }),
            retryPolicy: { maximumRetryAttempts: 5, maximumEventAgeInSeconds: 3600 },
          },
        }),
      );
      const notify = (alarm: cloudwatch.Alarm) => {
        alarm.addAlarmAction(new actions.SnsAction(topic));
        alarm.addOkAction(new actions.SnsAction(topic));
        this.alarms.push(alarm);
      };
      notify(
        new cloudwatch.Alarm(this, `Failed-${database.name}`, {
          alarmName: `${config.name}-${database.name}-drill-failed`,
          alarmDescription: `A restore drill of ${database.name} FAILED or TIMED_OUT: its report under drills/${database.name}/ in the vault says why.`,
          metric: drillMetric('DrillFailed', database.name, { statistic: 'Sum', period: Duration.minutes(5) }),
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          threshold: 1,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      notify(
        new cloudwatch.Alarm(this, `Overdue-${database.name}`, {
          alarmName: `${config.name}-${database.name}-drill-overdue`,
          alarmDescription: `No restore drill of ${database.name} passed within ${withinDays} days: its backups are untested. Start one: {"database": "${database.name}"} on ${name}.`,
          metric: drillMetric('DrillOverdue', database.name, { statistic: 'Maximum', period: Duration.days(1) }),
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          threshold: 1,
          evaluationPeriods: 1,
          // The daily check publishes every day: no data means it stopped, and nobody knows.
          treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        }),
      );
    }
  }
}
