/** The harness's patches to s3rver behave as S3 does. */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  paginateListObjectsV2,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { setTimeout as sleep } from 'node:timers/promises';
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

/** Puts each key with itself as the body, 16 at a time. */
async function putAll(bucket: string, keys: string[]): Promise<void> {
  const queue = [...keys];
  const worker = async () => {
    for (let Key = queue.shift(); Key !== undefined; Key = queue.shift()) {
      await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Key }));
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

describe('ListObjectsV2 continuation tokens (s3rver encrypts its own with DES, which OpenSSL 3 lacks)', () => {
  it('page through more than 1,000 keys, the most one page holds', async () => {
    const bucket = await s3.createBucket('listing');
    const keys = Array.from({ length: 1001 }, (_, i) => `daily/${String(i).padStart(4, '0')}.dump`);
    await putAll(bucket, keys);

    const first = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(first).toMatchObject({ IsTruncated: true, KeyCount: 1000 });
    expect(first.NextContinuationToken).toEqual(expect.any(String));
    expect(await s3.listKeys(bucket)).toEqual(keys);
  });

  it('carry any key from page to page, keeping Prefix and MaxKeys, and echo the token they were given', async () => {
    const bucket = await s3.createBucket('listing');
    const daily = ['daily/a b.dump', 'daily/c+d.dump', 'daily/e/%2F.dump', 'daily/é.dump'];
    await putAll(bucket, [...daily, 'monthly/x.dump', 'weekly/y.dump']);

    const pages = [];
    for await (const page of paginateListObjectsV2({ client: s3.client, pageSize: 2 }, { Bucket: bucket, Prefix: 'daily/' })) {
      pages.push(page);
    }
    expect(pages.map((page) => page.Contents?.map((object) => object.Key))).toEqual([daily.slice(0, 2), daily.slice(2)]);
    expect(pages[0]).toMatchObject({ IsTruncated: true, KeyCount: 2, MaxKeys: 2, Prefix: 'daily/' });
    expect(pages[0]!.ContinuationToken).toBeUndefined();
    expect(pages[1]).toMatchObject({ IsTruncated: false, KeyCount: 2, ContinuationToken: pages[0]!.NextContinuationToken });
    expect(pages[1]!.NextContinuationToken).toBeUndefined();
  });

  it("keep StartAfter and FetchOwner working through the translation to s3rver's V1 listing", async () => {
    const bucket = await s3.createBucket('listing');
    await putAll(bucket, ['a', 'b', 'c']);

    const after = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, StartAfter: 'a' }));
    expect(after).toMatchObject({ StartAfter: 'a', KeyCount: 2, IsTruncated: false });
    expect(after.Contents?.map((object) => [object.Key, object.Owner])).toEqual([
      ['b', undefined],
      ['c', undefined],
    ]);
    const owned = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, FetchOwner: true }));
    expect(owned.Contents?.every((object) => object.Owner?.ID)).toBe(true);
  });
});

describe('multipart uploads (s3rver has no AbortMultipartUpload or ListMultipartUploads, and takes any upload id)', () => {
  const start = async (Bucket: string, Key: string) => (await s3.client.send(new CreateMultipartUploadCommand({ Bucket, Key }))).UploadId!;
  const noSuchUpload = { name: 'NoSuchUpload', $metadata: { httpStatusCode: 404 } };

  it('list the uploads in progress by key, then by start, within a prefix, until they complete', async () => {
    const bucket = await s3.createBucket('uploads');
    const second = await start(bucket, 'daily/b.dump');
    const firstOfA = await start(bucket, 'daily/a.dump');
    await sleep(20); // two uploads of one key are told apart by when they started
    const secondOfA = await start(bucket, 'daily/a.dump');
    const weekly = await start(bucket, 'weekly/c.dump');

    expect(await s3.listIncompleteUploads(bucket)).toEqual([
      { key: 'daily/a.dump', uploadId: firstOfA },
      { key: 'daily/a.dump', uploadId: secondOfA },
      { key: 'daily/b.dump', uploadId: second },
      { key: 'weekly/c.dump', uploadId: weekly },
    ]);
    const weeklyOnly = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'weekly/' }));
    expect(weeklyOnly).toMatchObject({ Bucket: bucket, Prefix: 'weekly/', IsTruncated: false });
    expect(weeklyOnly.Uploads?.map((upload) => [upload.Key, upload.UploadId])).toEqual([['weekly/c.dump', weekly]]);
    expect(weeklyOnly.Uploads?.[0]?.Initiated).toBeInstanceOf(Date);

    const Key = 'weekly/c.dump';
    const { ETag } = await s3.client.send(new UploadPartCommand({ Bucket: bucket, Key, UploadId: weekly, PartNumber: 1, Body: 'all' }));
    await s3.client.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key, UploadId: weekly, MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] } }),
    );
    expect((await s3.listIncompleteUploads(bucket)).map((upload) => upload.uploadId)).toEqual([firstOfA, secondOfA, second]);
  });

  it('abort an upload: it leaves the listing, leaves no object, and its parts, completion and abort get NoSuchUpload', async () => {
    const bucket = await s3.createBucket('uploads');
    const Key = 'daily/partial.dump';
    const UploadId = await start(bucket, Key);
    const kept = await start(bucket, 'daily/kept.dump');
    const { ETag } = await s3.client.send(new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber: 1, Body: 'part one' }));

    await s3.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId }));
    expect(await s3.listIncompleteUploads(bucket)).toEqual([{ key: 'daily/kept.dump', uploadId: kept }]);
    expect(await s3.listKeys(bucket)).toEqual([]);
    await expect(
      s3.client.send(new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber: 2, Body: 'late' })),
    ).rejects.toMatchObject(noSuchUpload);
    await expect(
      s3.client.send(
        new CompleteMultipartUploadCommand({ Bucket: bucket, Key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] } }),
      ),
    ).rejects.toMatchObject(noSuchUpload);
    await expect(s3.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId }))).rejects.toMatchObject(noSuchUpload);
    expect(await s3.listIncompleteUploads(bucket)).toEqual([{ key: 'daily/kept.dump', uploadId: kept }]);
    expect(await s3.listKeys(bucket)).toEqual([]);
  });

  it('refuse parts for an upload id that was never issued, or was issued for another key, with NoSuchUpload', async () => {
    const bucket = await s3.createBucket('uploads');
    const other = await start(bucket, 'daily/other.dump');
    const part = (UploadId: string) =>
      s3.client.send(new UploadPartCommand({ Bucket: bucket, Key: 'daily/a.dump', UploadId, PartNumber: 1, Body: 'bytes' }));
    for (const UploadId of ['0123abcd', '../other/key', other]) await expect(part(UploadId)).rejects.toMatchObject(noSuchUpload);
    expect(await s3.listIncompleteUploads(bucket)).toEqual([{ key: 'daily/other.dump', uploadId: other }]);
    expect(await s3.listKeys(bucket)).toEqual([]);
  });

  it('answer a listing of uploads in a bucket that does not exist with NoSuchBucket', async () => {
    await expect(s3.client.send(new ListMultipartUploadsCommand({ Bucket: 'lifeline-no-such-bucket' }))).rejects.toMatchObject({
      name: 'NoSuchBucket',
      $metadata: { httpStatusCode: 404 },
    });
  });
});
