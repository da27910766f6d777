import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { RestoreSettings } from '../../lambdas/core/restore/state.js';
import type { BackupImage } from '../backup/backup-image.js';
import { nagResource } from '../nag-findings.js';
import { acknowledgeVpcFunctionStatements, vpcFunctionStatements } from '../vpc-function-access.js';
import type { BackupVault } from '../vault/backup-vault.js';
import { acknowledgeDatabaseStatements } from './database-grants.js';
import type { RestoreLogs } from './restore-logs.js';
import { restoreStepsEnvironment } from './restore-settings.js';

/** The restore steps handler in the backup image (lambdas/Dockerfile bundles it as restore.mjs). */
export const RESTORE_STEPS_HANDLER = 'restore.handler';

/** A steps function's ARN from its name: the settings name each network's function without referring to it. */
export function stepsFunctionArn(scope: Construct, functionName: string): string {
  return Stack.of(scope).formatArn({
    service: 'lambda',
    resource: 'function',
    resourceName: functionName,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

export interface RestoreStepsFunctionProps {
  readonly functionName: string;
  readonly description: string;
  readonly image: BackupImage;
  readonly vault: BackupVault;
  readonly settings: RestoreSettings;
  readonly logs: RestoreLogs;
  /** What else its steps need (the secrets of the databases it connects to). */
  readonly statements?: readonly iam.PolicyStatement[];
  /** Where it runs when its steps connect to databases; outside any VPC without. */
  readonly network?: { readonly subnetIds: readonly string[]; readonly securityGroup: ec2.ISecurityGroup };
}

/**
 * A Lambda behind restore.asl.json's Lambda states (`event.step` says which): the backup image with the restore
 * handler, a role that reads the vault and, inside a network, that network's databases' secrets.
 */
export class RestoreStepsFunction extends Construct {
  readonly function: lambda.DockerImageFunction;
  readonly role: iam.Role;
  /** Built from the name, so that the settings in its own environment can name it without a reference cycle. */
  readonly functionArn: string;

  constructor(scope: Construct, id: string, props: RestoreStepsFunctionProps) {
    super(scope, id);
    this.functionArn = stepsFunctionArn(this, props.functionName);
    const logGroup = props.logs.logGroup(this, 'Logs');
    const statements = [
      ...props.vault.readStatements(),
      ...(props.statements ?? []),
      new iam.PolicyStatement({
        sid: 'WriteLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
      ...(props.network === undefined ? [] : vpcFunctionStatements(props.network.securityGroup.securityGroupId, props.network.subnetIds)),
    ];
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: props.description,
      // Under the runtime path: the vault's bucket policy denies these roles every way of removing a backup.
      path: props.vault.runtimeRolePath,
      inlinePolicies: { restore: new iam.PolicyDocument({ statements }) },
    });
    const acknowledge = (resource: string, reason: string) =>
      Validations.of(this.role).acknowledge({ id: `AwsSolutions-IAM5[${nagResource(this, resource)}]`, reason });
    for (const objects of props.vault.tierObjectArns()) {
      acknowledge(
        objects,
        'Backup keys carry a timestamp and any configured database may be restored: reads span the tier prefixes, no writes.',
      );
    }
    if (props.network !== undefined) acknowledgeVpcFunctionStatements(this.role);
    acknowledgeDatabaseStatements(this.role, statements);

    this.function = new lambda.DockerImageFunction(this, 'Function', {
      functionName: props.functionName,
      description: props.description,
      code: props.image.code([RESTORE_STEPS_HANDLER]),
      // The role's policy is complete as written above; nothing may widen it behind our back.
      role: this.role.withoutPolicyUpdates(),
      architecture: lambda.Architecture.X86_64,
      memorySize: 1024,
      // ValidateRestore, the longest step, may take up to Lambda's limit (its state's TimeoutSeconds).
      timeout: Duration.minutes(15),
      // A few fixed values (restoreSettings): the databases are in the catalog.
      environment: restoreStepsEnvironment(this, props.settings),
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
    });
    if (props.network !== undefined) {
      // The VPC is known by its subnet ids only, without the availability-zone list the L2 VPC props need.
      (this.function.node.defaultChild as lambda.CfnFunction).vpcConfig = {
        subnetIds: [...props.network.subnetIds],
        securityGroupIds: [props.network.securityGroup.securityGroupId],
      };
    }
  }
}
