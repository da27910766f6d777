import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { CfnSchedule } from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { z } from 'zod';
import { BackupRequest } from '../../lambdas/core/backup-request.js';

/**
 * How long Scheduler keeps trying to hand a backup to Lambda. It bounds how late a scheduled backup can be,
 * which the lifecycle days in retention.ts allow for.
 */
const DELIVERY_RETRY = { maximumRetryAttempts: 5, maximumEventAgeInSeconds: 3600 } as const;

export interface ScheduledBackup {
  readonly scheduleName: string;
  /** The database's label; its function knows the rest. */
  readonly database: string;
  readonly function: lambda.IFunction;
  /** EventBridge Scheduler cron fields, without `cron(...)`. */
  readonly cron: string;
  readonly timeZone: string;
  readonly request: z.input<typeof BackupRequest>;
}

export interface BackupSchedulesProps {
  readonly backups: readonly ScheduledBackup[];
  readonly deadLetterQueue: sqs.IQueue;
}

/**
 * One EventBridge Scheduler schedule per database, invoking its backup function in the database's time zone,
 * with retries and a dead-letter queue; all share one role that may invoke exactly these functions.
 */
export class BackupSchedules extends Construct {
  readonly role: iam.Role;
  readonly schedules: CfnSchedule[];

  constructor(scope: Construct, id: string, props: BackupSchedulesProps) {
    super(scope, id);
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'Lifeline backup schedules',
      inlinePolicies: {
        invoke: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'InvokeBackupFunctions',
              actions: ['lambda:InvokeFunction'],
              resources: props.backups.map((backup) => backup.function.functionArn),
            }),
            new iam.PolicyStatement({
              sid: 'DeadLetter',
              actions: ['sqs:SendMessage'],
              resources: [props.deadLetterQueue.queueArn],
            }),
          ],
        }),
      },
    });

    // Checked against the handler's own schema, so a drift fails the synth and not the 2 a.m. run. The input
    // stays as written: the handler applies the defaults.
    for (const backup of props.backups) BackupRequest.parse(backup.request);
    this.schedules = props.backups.map(
      (backup) =>
        new CfnSchedule(this, backup.scheduleName, {
          name: backup.scheduleName,
          description: `Lifeline backup of ${backup.database}`,
          scheduleExpression: `cron(${backup.cron})`,
          scheduleExpressionTimezone: backup.timeZone,
          flexibleTimeWindow: { mode: 'OFF' },
          state: 'ENABLED',
          target: {
            arn: backup.function.functionArn,
            roleArn: this.role.roleArn,
            input: JSON.stringify(backup.request),
            retryPolicy: DELIVERY_RETRY,
            deadLetterConfig: { arn: props.deadLetterQueue.queueArn },
          },
        }),
    );
  }
}
