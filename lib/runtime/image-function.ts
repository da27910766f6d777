import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { FUNCTION_TIMEOUT_SECONDS } from '../../lambdas/core/deadline.js';
import type { RuntimeImage } from './runtime-image.js';

/** Where a function runs when it connects to databases: subnets of one VPC, and the security group that reaches them. */
export interface NetworkPlacement {
  readonly subnetIds: readonly string[];
  readonly securityGroup: ec2.ISecurityGroup;
}

/** A function's ARN from its name, or a name pattern such as `<name>*`: for naming a function without a reference to it. */
export function functionArn(scope: Construct, functionName: string): string {
  return Stack.of(scope).formatArn({
    service: 'lambda',
    resource: 'function',
    resourceName: functionName,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/** Writing to the function's own log group: Lambda writes a function's logs with the function's role. */
export function writeLogsStatement(logGroup: logs.ILogGroup): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'WriteLogs',
    actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    resources: [logGroup.logGroupArn],
  });
}

export interface ImageFunctionProps extends Pick<
  lambda.DockerImageFunctionProps,
  | 'functionName'
  | 'description'
  | 'memorySize'
  | 'environment'
  | 'ephemeralStorageSize'
  | 'deadLetterQueue'
  | 'retryAttempts'
  | 'maxEventAge'
  | 'timeout'
> {
  readonly image: RuntimeImage;
  /** The handler it runs, such as `restore.handler`; the image's own command, the backup handler, without. */
  readonly handler?: string;
  /** Its policy is complete as written: the function may not add to it. */
  readonly role: iam.Role;
  readonly logGroup: logs.ILogGroup;
  /** Outside any VPC without. */
  readonly network?: NetworkPlacement;
}

/**
 * A Lambda of the runtime image, `Function` in `scope`: x86-64 like the image, up to Lambda's 15 minutes unless
 * `timeout` says less (the backup and the longest steps may need them all), JSON logs to `logGroup`, and in `network`'s subnets when it has one.
 */
export function imageFunction(scope: Construct, props: ImageFunctionProps): lambda.DockerImageFunction {
  const { image, handler, role, logGroup, network, ...options } = props;
  const fn = new lambda.DockerImageFunction(scope, 'Function', {
    ...options,
    code: image.code(handler === undefined ? undefined : [handler]),
    role: role.withoutPolicyUpdates(),
    architecture: lambda.Architecture.X86_64,
    timeout: options.timeout ?? Duration.seconds(FUNCTION_TIMEOUT_SECONDS),
    logGroup,
    loggingFormat: lambda.LoggingFormat.JSON,
    applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
    systemLogLevelV2: lambda.SystemLogLevel.WARN,
  });
  if (network !== undefined) {
    // The VPC is known by its subnet ids only, without the availability-zone list the L2 VPC props need.
    (fn.node.defaultChild as lambda.CfnFunction).vpcConfig = {
      subnetIds: [...network.subnetIds],
      securityGroupIds: [network.securityGroup.securityGroupId],
    };
  }
  return fn;
}
