/**
 * Errors with stable names: state machine Retry/Catch and the CLI match on `name`, never on message text.
 * Messages never carry credentials; callers redact anything that came from a child process.
 */
export const LIFELINE_ERROR_NAMES = [
  /** A request, event, CLI option or workflow input that does not fit its schema. */
  'InvalidInput',
  /** The deployment's config file (lifeline.config.json) is missing or invalid. */
  'InvalidConfig',
  /** A Secrets Manager secret could not be read (permissions, KMS, a deleted or rotated-away secret). */
  'SecretUnreadable',
  'DatabaseUnreachable',
  'BackupNotFound',
  /** A write would have replaced an object that already exists in the vault. */
  'BackupExists',
  'DumpFailed',
  /** The backup could not finish within the Lambda's time limit: the database's backups need the Fargate runner (`runner: fargate`). */
  'DatabaseTooLargeForLambda',
  'StorageFailed',
  'VerificationFailed',
  'ChecksumMismatch',
  'RestoreFailed',
  /** A point-in-time recovery asked for a moment outside the source's restorable window (named in the message); nothing was created. */
  'OutsideRestorableWindow',
  /** RDS ended a point-in-time recovery's restored instance or cluster in a terminal status (failed, incompatible-*, storage-full, ...). */
  'PitrRestoreFailed',
  /** A point-in-time recovery's restored instance or cluster was not available within the workflow's bound. */
  'PitrTimedOut',
  /** A point-in-time recovery failed for another reason (the cause names it); what it created was cleaned up. */
  'PitrFailed',
  /**
   * A point-in-time recovery's cleanup could not delete the restored Aurora cluster yet: its writer is still being
   * deleted. The PITR state machine retries Cleanup on this name until it is gone.
   */
  'PitrCleanupPending',
  /**
   * A point-in-time recovery's rename strategy found an identifier holding what it may not rename (not this
   * execution's restore, nor the very source it restored from); it renamed nothing more, and renames back.
   */
  'PitrRenameRefused',
  /**
   * A point-in-time recovery's rename strategy could not put the source back under its identifier: a human must
   * (the message names where each instance is, and the command). Nothing of this execution's was deleted.
   */
  'PitrRenameUnresolved',
  /** A backup or restore was stopped by SIGINT or SIGTERM; what it had started was cleaned up. */
  'Interrupted',
  /** A human rejected a workflow's approval request; what the execution created was cleaned up. */
  'Rejected',
  /** Nobody answered a workflow's approval request in time; what the execution created was cleaned up. */
  'ApprovalTimedOut',
  /**
   * A workflow's approval did not come from the deployment's approve function (a raw SendTaskSuccess: no valid KMS
   * signature for this execution and decision): nothing went on; what the execution created was cleaned up.
   */
  'ApprovalNotVerified',
  /** `approval.separateDuties`: the identity that started an execution asked to approve it; nothing was decided. */
  'NotAllowedToApprove',
  /**
   * `approval.separateDuties`: CloudTrail does not show yet who started the execution (it records a call within about
   * 5 minutes, at most 15), so nobody may approve it yet; nothing was decided: approve again a few minutes later.
   */
  'StarterUnknown',
  /** Another cutover of the same application holds its lock; nothing was changed. */
  'CutoverLocked',
  /** A cutover step failed before the connection was switched; what it had changed (a write freeze) was undone. */
  'CutoverFailed',
  /** An ECS deployment or Lambda configuration update failed or did not finish in time. */
  'DeploymentFailed',
  /** The health URL did not answer 2xx often enough in its window, or the application had no sessions on its database. */
  'HealthCheckFailed',
  /** The cutover failed after the switch and was reverted: the previous connection is current and healthy again. */
  'CutoverRolledBack',
  /** The cutover failed after the switch and the revert could not prove the previous side healthy: a human must act. */
  'RollbackUnhealthy',
  /**
   * Someone else (a rotation, an operator) changed the application's connection secret while a cutover held it:
   * the cutover neither switched it nor moved it back, so their change stands; a human must check which
   * connection the application should use. Pages, as RollbackUnhealthy.
   */
  'SecretChanged',
  /**
   * Someone else moved a Lambda function's alias (its version or revision) while a cutover pointed it, or was to point
   * it, at an application version: the cutover left the alias where they put it. Pages, as RollbackUnhealthy.
   */
  'AliasMoved',
  /**
   * The application's connection secret is being rotated (a version labelled AWSPENDING that is not AWSCURRENT):
   * the rotation would make its own version current over the switch, so the cutover changed nothing.
   */
  'RotationInProgress',
  /**
   * A cutover ended without saying what it left (the step that names its failure failed, or it timed out or was
   * stopped): a human must check which database the connection secret names, the write freeze and the lock. The
   * cutover pages when its last step failed; a restore that handed over to it fails with this name.
   */
  'CutoverUnresolved',
  /**
   * A workflow step reached its deadline, set before its state's TimeoutSeconds, and stopped there: it changes
   * nothing after its state gave up on it, so the state's retry or the workflow's rollback can act safely.
   */
  'StepTimedOut',
  /**
   * Another delivery of the same alarm transition is starting its run right now: the alarm starter throws this so
   * that Lambda delivers the event again, by when that run was started (or its starter died and left it to this one).
   */
  'AlarmRunInProgress',
  /** Another restore's migrations hold the application's migrations target secret: the state retries until they end. */
  'MigrationsBusy',
  /** The application's migrations failed on the restored database, or their run cannot be trusted: the message says which. */
  'MigrationsFailed',
  /** A restore drill's backup did not restore, or the restored database failed its checks: its report says which. */
  'DrillFailed',
  /** A restore drill did not finish within its time: its report says how far it got. */
  'DrillTimedOut',
  /**
   * A restore's markRolledBack named a migration the restored database may not mark rolled back (not in Prisma's
   * table, a Drizzle one, one that finished, or one whose effects the restored schema may hold): nothing was marked.
   */
  'MarkRolledBackRefused',
] as const;
export type LifelineErrorName = (typeof LIFELINE_ERROR_NAMES)[number];

export class LifelineError extends Error {
  override readonly name: LifelineErrorName;

  constructor(name: LifelineErrorName, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = name;
  }
}
