import { Aws, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { CfnSchedule } from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { z } from 'zod';
import { BackupRequest } from '../../lambdas/core/backup/request.js';
import { nagResource } from '../nag-findings.js';
import { passRunnerRolesStatement, runRunnerTaskStatement, tagRunnerTaskStatement } from '../runtime/runner-task.js';
import { deadLetterStatement } from './backup-grants.js';
import type { BackupTask } from './backup-task.js';

/**
 * How long Scheduler keeps trying to hand a backup to Lambda or ECS. It bounds how late a scheduled backup can be,
 * which the lifecycle days in retention.ts allow for.
 */
const DELIVERY_RETRY = { maximumRetryAttempts: 5, maximumEventAgeInSeconds: 3600 } as const;

interface Scheduled {
  readonly scheduleName: string;
  /** The database's label; its function or task knows the rest. */
  readonly database: string;
  /** EventBridge Scheduler cron fields, without `cron(...)`. */
  readonly cron: string;
  readonly timeZone: string;
}

/** A backup function, invoked with the request as its event. */
export interface ScheduledFunction extends Scheduled {
  readonly function: lambda.IFunction;
  readonly request: z.input<typeof BackupRequest>;
}

/** A Fargate backup task, run with the request its task definition holds. */
export interface ScheduledTask extends Scheduled {
  readonly task: BackupTask;
}

export type ScheduledBackup = ScheduledFunction | ScheduledTask;

export interface BackupSchedulesProps {
  readonly backups: readonly ScheduledBackup[];
  readonly deadLetterQueue: sqs.IQueue;
}

/**
 * One EventBridge Scheduler schedule per database, starting its backup in the database's time zone, with retries
 * and a dead-letter queue: the functions' schedules share one role that may invoke exactly these functions; each
 * task's schedule has a role that may run exactly that task (a shared one would outgrow IAM's policy size with the
 * two roles each task passes).
 */
export class BackupSchedules extends Construct {
  /** The functions' role, when any function is scheduled. */
  readonly role?: iam.Role;
  readonly schedules: CfnSchedule[];
  private readonly deadLetterQueue: sqs.IQueue;

  constructor(scope: Construct, id: string, props: BackupSchedulesProps) {
    super(scope, id);
    this.deadLetterQueue = props.deadLetterQueue;
    const functions = props.backups.filter((backup): backup is ScheduledFunction => 'function' in backup);
    if (functions.length > 0) {
      this.role = this.schedulerRole('Role', 'Lifeline backup schedules', 'invoke', [
        new iam.PolicyStatement({
          sid: 'InvokeBackupFunctions',
          actions: ['lambda:InvokeFunction'],
          resources: functions.map((backup) => backup.function.functionArn),
        }),
      ]);
    }
    // Checked against the handler's own schema, so a drift fails the synth and not the 2 a.m. run. The input
    // stays as written: the handler applies the defaults.
    for (const backup of functions) BackupRequest.parse(backup.request);

    this.schedules = props.backups.map((backup) => {
      const target = 'function' in backup ? this.invokeTarget(backup) : this.runTaskTarget(backup);
      return new CfnSchedule(this, backup.scheduleName, {
        name: backup.scheduleName,
        description: `Lifeline backup of ${backup.database}`,
        scheduleExpression: `cron(${backup.cron})`,
        scheduleExpressionTimezone: backup.timeZone,
        flexibleTimeWindow: { mode: 'OFF' },
        state: 'ENABLED',
        target: { ...target, retryPolicy: DELIVERY_RETRY, deadLetterConfig: { arn: this.deadLetterQueue.queueArn } },
      });
    });
  }

  private invokeTarget(backup: ScheduledFunction): CfnSchedule.TargetProperty {
    return { arn: backup.function.functionArn, roleArn: this.role!.roleArn, input: JSON.stringify(backup.request) };
  }

  /** ECS RunTask, Scheduler's templated target: the task in the stack's cluster, in the database's subnets, no public IP. */
  private runTaskTarget({ scheduleName, database, task }: ScheduledTask): CfnSchedule.TargetProperty {
    const ecsArn = (resource: string) => `arn:${Aws.PARTITION}:ecs:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
    // Each deploy registers a revision; the schedule names the newest, the role may run any of the family's.
    const revisions = ecsArn(`task-definition/${task.taskDefinition.family}:*`);
    const tasks = ecsArn(`task/${task.cluster.ref}/*`);
    const role = this.schedulerRole(`${scheduleName}-Role`, `Lifeline backup schedule of ${database}`, 'run', [
      runRunnerTaskStatement('RunBackupTask', revisions, task.cluster),
      passRunnerRolesStatement(
        'PassBackupTaskRoles',
        task.passedRoles.map((role) => role.roleArn),
      ),
      // The schedule propagates the task definition's tags to the task.
      tagRunnerTaskStatement('TagBackupTask', tasks),
    ]);
    const acknowledge = (resource: string, reason: string) =>
      Validations.of(role).acknowledge({ id: `AwsSolutions-IAM5[${nagResource(role, resource)}]`, reason });
    acknowledge(
      revisions,
      "Every deploy registers a new revision of the task definition: RunTask is limited to its family, on the stack's cluster.",
    );
    acknowledge(tasks, "Task ids are assigned when RunTask starts a task: tagging is limited to the cluster's tasks, as they are created.");
    return {
      arn: task.cluster.attrArn,
      roleArn: role.roleArn,
      ecsParameters: {
        taskDefinitionArn: task.taskDefinition.taskDefinitionArn,
        launchType: 'FARGATE',
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: [...task.subnetIds],
            securityGroups: [task.securityGroup.securityGroupId],
            assignPublicIp: 'DISABLED',
          },
        },
        // The task definition's tags (the deployment's name) land on each task, for cost allocation.
        propagateTags: 'TASK_DEFINITION',
      },
    };
  }

  /** A role Scheduler assumes, for this account's schedules only, with `statements` and the dead-letter queue. */
  private schedulerRole(id: string, description: string, policy: string, statements: iam.PolicyStatement[]): iam.Role {
    return new iam.Role(this, id, {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description,
      inlinePolicies: { [policy]: new iam.PolicyDocument({ statements: [...statements, deadLetterStatement(this.deadLetterQueue)] }) },
    });
  }
}
