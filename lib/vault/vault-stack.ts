import { Aws, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { runtimeRolePath, vaultBucketName } from '../../lambdas/core/names.js';
import { clientMajorFor, type ClientMajor } from '../config/postgres-clients.js';
import type { LifelineConfig } from '../config/schema.js';
import { RuntimeImage } from '../runtime/runtime-image.js';
import { RuntimeVpcEndpoints } from '../runtime/runtime-vpc-endpoints.js';
import { BackupDeadLetterQueue } from './backup-dead-letter-queue.js';
import { BackupNotifications } from './backup-notifications.js';
import { BackupVault } from './backup-vault.js';

export interface VaultStackProps extends StackProps {
  readonly config: LifelineConfig;
}

/**
 * What the other stacks share: the vault, the alarm topic, the backups' dead-letter queue, and the runtime's images
 * and VPC endpoints.
 */
export class VaultStack extends Stack {
  readonly vault: BackupVault;
  readonly notifications: BackupNotifications;
  readonly deadLetters: BackupDeadLetterQueue;
  /** One image per pg_dump version in use. */
  readonly images: ReadonlyMap<ClientMajor, RuntimeImage>;
  /** The image of the newest client in use: its pg_restore reads the archives of every older pg_dump. */
  readonly newestImage: RuntimeImage;
  /** Security groups of the endpoints Lifeline created, by network name. */
  readonly endpointSecurityGroupIds: ReadonlyMap<string, string>;

  constructor(scope: Construct, id: string, props: VaultStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.vault = new BackupVault(this, 'Vault', {
      bucketName: vaultBucketName(config.name, Aws.ACCOUNT_ID, Aws.REGION),
      objectLockMode: config.vault.objectLock.mode,
      runtimeRolePath: runtimeRolePath(config.name),
    });
    this.notifications = new BackupNotifications(this, 'Notifications', { emails: config.notifications.emails });
    this.deadLetters = new BackupDeadLetterQueue(this, 'DeadLetters', {
      alarmName: `${config.name}-dead-letter-arrived`,
      topic: this.notifications.topic,
    });

    const majors = [...new Set(config.databases.map((db) => clientMajorFor(db.postgresVersion)))].sort((a, b) => a - b);
    this.images = new Map(majors.map((major) => [major, new RuntimeImage(this, `ImagePostgres${major}`, { postgresMajor: major })]));
    this.newestImage = this.images.get(majors.at(-1)!)!;

    const endpoints = new Map<string, string>();
    for (const network of config.networks) {
      if (network.createEndpoints === undefined) continue;
      const created = new RuntimeVpcEndpoints(this, `Endpoints-${network.name}`, {
        vpcId: network.vpcId,
        subnetIds: network.subnetIds,
        routeTableIds: network.createEndpoints.routeTableIds,
        vpcCidrs: network.createEndpoints.vpcCidrs,
      });
      endpoints.set(network.name, created.securityGroupId);
    }
    this.endpointSecurityGroupIds = endpoints;

    new CfnOutput(this, 'VaultBucketName', {
      value: this.vault.bucket.bucketName,
      description: "The bucket that holds the backups (the CLI's --bucket)",
    });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.notifications.topic.topicArn });
  }
}
