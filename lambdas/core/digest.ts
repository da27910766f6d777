import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Passes bytes through while hashing (SHA-256) and counting them. When `holdEnd` is given, the stream does
 * not end until it resolves, and fails if it rejects: an upload fed by this tap cannot complete before the
 * processes producing the bytes have succeeded.
 */
export class DigestTap extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  constructor(
    private readonly holdEnd: Promise<void> = Promise.resolve(),
    private readonly onBytes?: (bytes: number) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.holdEnd.then(() => callback(), callback);
  }

  /** Hex digest; call once, after the stream has ended. */
  sha256(): string {
    return this.hash.digest('hex');
  }
}
