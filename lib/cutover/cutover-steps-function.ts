import { Duration } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { CutoverSettings } from '../../lambdas/core/cutover/state.js';
import type { BackupImage } from '../backup/backup-image.js';
import { acknowledgeDatabaseStatements } from '../restore/database-grants.js';
import { acknowledgeVpcFunctionStatements, vpcFunctionStatements } from '../vpc-function-access.js';
import type { RestoreLogs } from '../restore/restore-logs.js';
import { stepsFunctionArn } from '../restore/restore-steps-function.js';
import { cutoverStepsEnvironment } from './cutover-settings.js';

/** The cutover steps handler in the backup image (lambdas/Dockerfile bundles it as cutover.mjs). */
export const CUTOVER_STEPS_HANDLER = 'cutover.handler';

export interface CutoverStepsFunctionProps {
  readonly functionName: string;
  readonly image: BackupImage;
  readonly settings: CutoverSettings;
  readonly logs: RestoreLogs;
  /** What its steps may do to the applications (cutoverStatements). */
  readonly statements: readonly iam.PolicyStatement[];
  /** Under which the vault's bucket policy knows Lifeline's runtime roles. */
  readonly rolePath: string;
  /** The applications' network: their databases and health URLs are reached from there. */
  readonly network: { readonly subnetIds: readonly string[]; readonly securityGroup: ec2.ISecurityGroup };
}

/**
 * The Lambda behind cutover.asl.json's Lambda states (`event.step` says which): the backup image with the cutover
 * handler, in the applications' network, with a role limited to the configured applications.
 */
export class CutoverStepsFunction extends Construct {
  readonly function: lambda.DockerImageFunction;
  readonly role: iam.Role;
  /** Built from the name, as the state machine's definition names it. */
  readonly functionArn: string;

  constructor(scope: Construct, id: string, props: CutoverStepsFunctionProps) {
    super(scope, id);
    this.functionArn = stepsFunctionArn(this, props.functionName);
    const logGroup = props.logs.logGroup(this, 'Logs');
    const statements = [
      ...props.statements,
      new iam.PolicyStatement({
        sid: 'WriteLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
      ...vpcFunctionStatements(props.network.securityGroup.securityGroupId, props.network.subnetIds),
    ];
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Lifeline cutover steps',
      path: props.rolePath,
      inlinePolicies: { cutover: new iam.PolicyDocument({ statements }) },
    });
    acknowledgeVpcFunctionStatements(this.role);
    acknowledgeDatabaseStatements(this.role, statements);

    this.function = new lambda.DockerImageFunction(this, 'Function', {
      functionName: props.functionName,
      description: 'Lifeline cutover steps: validate, record, freeze, swap, restart, prove health, unfreeze, revert, summarize',
      code: props.image.code([CUTOVER_STEPS_HANDLER]),
      // The role's policy is complete as written above; nothing may widen it behind our back.
      role: this.role.withoutPolicyUpdates(),
      architecture: lambda.Architecture.X86_64,
      memorySize: 512,
      // ProveHealth, the longest step, may take up to Lambda's limit (its state's TimeoutSeconds).
      timeout: Duration.minutes(15),
      // cutoverSettings checked that it fits Lambda's environment.
      environment: cutoverStepsEnvironment(this, props.settings),
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
    });
    // The VPC is known by its subnet ids only, without the availability-zone list the L2 VPC props need.
    (this.function.node.defaultChild as lambda.CfnFunction).vpcConfig = {
      subnetIds: [...props.network.subnetIds],
      securityGroupIds: [props.network.securityGroup.securityGroupId],
    };
  }
}
