import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { DigestTap } from '../../../lambdas/core/digest.js';

/** Pipes `chunks` through `tap` into a sink; `ended` tells whether the sink saw the end of the stream. */
function feed(tap: DigestTap, chunks: Buffer[]) {
  const received: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      received.push(chunk);
      callback();
    },
  });
  let ended = false;
  sink.on('finish', () => (ended = true));
  const done = pipeline(Readable.from(chunks), tap, sink);
  return { done, received, ended: () => ended };
}

describe('DigestTap', () => {
  it('passes bytes through unchanged while hashing them with SHA-256 and counting them', async () => {
    const progress: number[] = [];
    const tap = new DigestTap(undefined, (bytes) => progress.push(bytes));
    const chunks = [Buffer.from('a'), Buffer.from('bc')];
    const { done, received } = feed(tap, chunks);
    await done;
    expect(Buffer.concat(received).toString()).toBe('abc');
    // FIPS 180-2's test vector for "abc".
    expect(tap.sha256()).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(tap.bytes).toBe(3);
    expect(progress).toEqual([1, 3]);
  });

  it('hashes a stream of many chunks as one run of bytes', async () => {
    const chunks = Array.from({ length: 64 }, (_, i) => randomBytes(1 + i * 997));
    const whole = Buffer.concat(chunks);
    const tap = new DigestTap();
    const { done, received } = feed(tap, chunks);
    await done;
    expect(Buffer.concat(received).equals(whole)).toBe(true);
    expect(tap.sha256()).toBe(createHash('sha256').update(whole).digest('hex'));
    expect(tap.bytes).toBe(whole.length);
  });

  it('holds back the end of the stream until holdEnd resolves', async () => {
    const hold = Promise.withResolvers<void>();
    const tap = new DigestTap(hold.promise);
    const { done, received, ended } = feed(tap, [Buffer.from('all the bytes')]);
    await sleep(50);
    expect(Buffer.concat(received).toString()).toBe('all the bytes');
    expect(ended()).toBe(false);

    hold.resolve();
    await done;
    expect(ended()).toBe(true);
  });

  it('fails the stream, which then never ends, when holdEnd rejects', async () => {
    const hold = Promise.withResolvers<void>();
    const tap = new DigestTap(hold.promise);
    const { done, received, ended } = feed(tap, [Buffer.from('a partial dump')]);
    await sleep(50);
    const producerFailed = new Error('pg_dump exited with code 1');
    hold.reject(producerFailed);
    await expect(done).rejects.toBe(producerFailed);
    expect(Buffer.concat(received).toString()).toBe('a partial dump');
    expect(ended()).toBe(false);
  });
});
