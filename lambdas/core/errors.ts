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
  /** The backup could not finish within the Lambda's time limit: the database needs the Fargate runner. */
  'DatabaseTooLargeForLambda',
  'StorageFailed',
  'VerificationFailed',
  'ChecksumMismatch',
  'RestoreFailed',
  /** A backup or restore was stopped by SIGINT or SIGTERM; what it had started was cleaned up. */
  'Interrupted',
  /** A human rejected a workflow's approval request; what the execution created was cleaned up. */
  'Rejected',
  /** Nobody answered a workflow's approval request in time; what the execution created was cleaned up. */
  'ApprovalTimedOut',
] as const;
export type LifelineErrorName = (typeof LIFELINE_ERROR_NAMES)[number];

export class LifelineError extends Error {
  override readonly name: LifelineErrorName;

  constructor(name: LifelineErrorName, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = name;
  }
}
