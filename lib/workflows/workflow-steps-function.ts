import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { functionArn, imageFunction, writeLogsStatement, type NetworkPlacement } from '../runtime/image-function.js';
import type { RuntimeImage } from '../runtime/runtime-image.js';
import { acknowledgeVpcFunctionStatements, vpcFunctionStatements } from '../runtime/vpc-function-access.js';
import { acknowledgeDatabaseStatements } from './database-grants.js';
import type { WorkflowLogs } from './workflow-logs.js';

export interface WorkflowStepsFunctionProps {
  readonly functionName: string;
  readonly description: string;
  readonly roleDescription: string;
  /** The name of the role's one policy. */
  readonly policyName: string;
  readonly image: RuntimeImage;
  /** The workflow's steps handler in the image, such as `restore.handler`. */
  readonly handler: string;
  readonly memorySize: number;
  /** The handler's settings, and what else it reads from its environment. */
  readonly environment: Record<string, string>;
  readonly logs: WorkflowLogs;
  /** Under which the vault's bucket policy knows Lifeline's runtime roles, and denies them every way of removing a backup. */
  readonly rolePath: string;
  /** What its steps may do, besides writing their logs and, in a network, running there. */
  readonly statements: readonly iam.PolicyStatement[];
  /** Where it runs when its steps connect to databases; outside any VPC without. */
  readonly network?: NetworkPlacement;
  /** Why its statements on `*` (other than the network's) are accepted; the network's acknowledgment says them too. */
  readonly unscopedCalls?: readonly string[];
}

/**
 * A Lambda behind a workflow's Lambda states (`event.step` says which): the runtime image with the workflow's steps
 * handler, logging to a log group of the workflow's key, with a role of exactly `statements` under the runtime path.
 */
export class WorkflowStepsFunction extends Construct {
  readonly function: lambda.DockerImageFunction;
  readonly role: iam.Role;
  /** Built from the name, so that the state machine's definition and the settings can name it without a reference cycle. */
  readonly functionArn: string;

  constructor(scope: Construct, id: string, props: WorkflowStepsFunctionProps) {
    super(scope, id);
    this.functionArn = functionArn(this, props.functionName);
    const logGroup = props.logs.logGroup(this, 'Logs');
    const statements = [
      ...props.statements,
      writeLogsStatement(logGroup),
      ...(props.network === undefined ? [] : vpcFunctionStatements(props.network.securityGroup.securityGroupId, props.network.subnetIds)),
    ];
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: props.roleDescription,
      path: props.rolePath,
      inlinePolicies: { [props.policyName]: new iam.PolicyDocument({ statements }) },
    });
    if (props.network !== undefined) acknowledgeVpcFunctionStatements(this.role, props.unscopedCalls);
    acknowledgeDatabaseStatements(this.role, statements);

    this.function = imageFunction(this, {
      functionName: props.functionName,
      description: props.description,
      image: props.image,
      handler: props.handler,
      role: this.role,
      memorySize: props.memorySize,
      environment: props.environment,
      logGroup,
      network: props.network,
    });
  }
}
