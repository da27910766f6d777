import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { ownKey } from '../own-key.js';

/** The lock item's attributes, as cutover.asl.json's TakeLock and ReleaseLock write them. */
export const LOCK_PARTITION_KEY = 'application';
export const LOCK_EXPIRY_ATTRIBUTE = 'expiresAt';

export interface CutoverLockTableProps {
  readonly tableName: string;
}

/**
 * One lock per application while its cutover runs: the state machine writes it conditionally and deletes it at
 * the end; an execution that dies leaves a lock that expires at `expiresAt` (epoch seconds), when TakeLock may
 * take it over and DynamoDB's TTL removes it. A lock kept after a failed rollback (KeepLock) has no `expiresAt`:
 * it stays until `lifeline unlock` deletes it.
 */
export class CutoverLockTable extends Construct {
  readonly table: dynamodb.Table;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: CutoverLockTableProps) {
    super(scope, id);
    this.key = ownKey(this, 'Encrypts the Lifeline cutover locks');
    this.table = new dynamodb.Table(this, 'Table', {
      tableName: props.tableName,
      partitionKey: { name: LOCK_PARTITION_KEY, type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: LOCK_EXPIRY_ATTRIBUTE,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Locks live for one execution at most: nothing to keep when the stack goes.
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }
}
