/**
 * Errors with stable names: state machine Retry/Catch and the CLI match on `name`, never on message text.
 * Messages never carry credentials; callers redact anything that came from a child process.
 */
export type LifelineErrorName =
  | 'InvalidInput'
  | 'BackupNotFound'
  | 'DumpFailed'
  | 'StorageFailed'
  | 'VerificationFailed'
  | 'ChecksumMismatch'
  | 'RestoreFailed'
  | 'DatabaseUnreachable';

export class LifelineError extends Error {
  override readonly name: LifelineErrorName;

  constructor(name: LifelineErrorName, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = name;
  }
}

