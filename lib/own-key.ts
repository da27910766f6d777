import { RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';

/**
 * `Key` in `scope`: a customer-managed key of one resource's own, rotated, and deleted with its stack, as what it
 * encrypts is (notifications, approval requests, workflow logs, cutover locks). The vault's key is not one: backups
 * outlive their stack.
 */
export function ownKey(scope: Construct, description: string): kms.Key {
  return new kms.Key(scope, 'Key', { description, enableKeyRotation: true, removalPolicy: RemovalPolicy.DESTROY });
}
