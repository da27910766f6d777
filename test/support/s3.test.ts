/** The harness's patches to s3rver behave as S3 does. */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { describe, expect, it } from 'vitest';
import { sharedS3 } from './shared.js';

const s3 = sharedS3();
const MiB = 1024 * 1024;

async function read(bucket: string, key: string): Promise<string> {
  const object = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return object.Body!.transformToString();
}

const refused = { name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } };

describe('conditional writes (If-None-Match: *)', () => {
  it('create a new object, and are refused with 412 on a key that holds one, which stays as it was', async () => {
    const bucket = await s3.createBucket('conditional');
    const put = (Body: string) => s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'daily/a.dump', Body, IfNoneMatch: '*' }));
    await put('first');
    await expect(put('second')).rejects.toMatchObject(refused);
    expect(await read(bucket, 'daily/a.dump')).toBe('first');
    // An unconditional write still replaces: S3 would too, and the vault's bucket policy is what forbids it.
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'daily/a.dump', Body: 'third' }));
    expect(await read(bucket, 'daily/a.dump')).toBe('third');
  });

  it("refuse a multipart upload's completion over an existing object, leaving the upload to abort", async () => {
    const bucket = await s3.createBucket('conditional');
    const Key = 'daily/b.dump';
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'original' }));
    const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }));
    const { ETag } = await s3.client.send(new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber: 1, Body: 'replacement' }));
    const complete = (IfNoneMatch?: string) =>
      s3.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key,
          UploadId,
          IfNoneMatch,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] },
        }),
      );
    await expect(complete('*')).rejects.toMatchObject(refused);
    expect(await read(bucket, Key)).toBe('original');
    expect(await s3.listIncompleteUploads(bucket)).toEqual([{ key: Key, uploadId: UploadId }]);
    await s3.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId }));
    expect(await s3.listIncompleteUploads(bucket)).toEqual([]);
  });

  it("reach CompleteMultipartUpload through lib-storage's Upload, which aborts the refused upload", async () => {
    const bucket = await s3.createBucket('conditional');
    const Key = 'daily/c.dump';
    const upload = (fill: number) =>
      new Upload({
        client: s3.client,
        params: { Bucket: bucket, Key, Body: Buffer.alloc(6 * MiB, fill), IfNoneMatch: '*' },
        partSize: 5 * MiB,
      }).done();
    await upload(1);
    await expect(upload(2)).rejects.toMatchObject(refused);
    const stored = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key }));
    const bytes = Buffer.from(await stored.Body!.transformToByteArray());
    expect(bytes.length).toBe(6 * MiB);
    expect(bytes.every((byte) => byte === 1)).toBe(true);
    expect(await s3.listIncompleteUploads(bucket)).toEqual([]);
  });
});
