import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, ListMultipartUploadsCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { createS3Client } from '../vault/s3.js';

/**
 * An S3-compatible server on loopback (s3rver, with what S3 does that it lacks: multipart upload listing and abort,
 * conditional writes, ListObjectsV2 without DES): what `lifeline demo` backs up into, and the tests' S3
 * (test/support/s3.ts). s3rver is a devDependency: this runs from a clone of the repository, never in AWS.
 */

/** What a test may do with an S3 server it shares with others. */
export interface S3Buckets {
  endpoint: string;
  client: S3Client;
  /** Creates a bucket with a unique, valid name starting with `prefix` and returns the name. */
  createBucket(prefix: string): Promise<string>;
  listIncompleteUploads(bucket: string): Promise<{ key: string; uploadId: string }[]>;
  listKeys(bucket: string): Promise<string[]>;
}

export interface S3Server extends S3Buckets {
  /** Closes the server and removes its directory; safe to call more than once. */
  stop(): Promise<void>;
}

/** A handle on an S3-compatible endpoint; every S3 client created in this process can reach it (s3rver's credentials). */
export function connectS3(endpoint: string): S3Buckets {
  // s3rver's fixed credentials, for the engine's own clients too, which read them from the environment.
  process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
  const client = createS3Client({ endpoint });

  async function createBucket(prefix: string): Promise<string> {
    const stem = prefix
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40);
    const name = `${stem || 'bucket'}-${randomBytes(5).toString('hex')}`;
    await client.send(new CreateBucketCommand({ Bucket: name }));
    return name;
  }

  async function listIncompleteUploads(bucket: string): Promise<{ key: string; uploadId: string }[]> {
    const uploads: { key: string; uploadId: string }[] = [];
    // The SDK has no paginator for ListMultipartUploads.
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await client.send(
        new ListMultipartUploadsCommand({ Bucket: bucket, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
      );
      for (const upload of page.Uploads ?? []) uploads.push({ key: upload.Key ?? '', uploadId: upload.UploadId ?? '' });
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.NextUploadIdMarker;
    } while (keyMarker);
    return uploads;
  }

  async function listKeys(bucket: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket })) {
      for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
    }
    return keys;
  }

  return { endpoint, client, createBucket, listIncompleteUploads, listKeys };
}

/** Starts s3rver on a free loopback port with its own directory under `parent` (default the OS temp directory); call stop() to remove it. */
export async function startS3({ parent = os.tmpdir() }: { parent?: string } = {}): Promise<S3Server> {
  const directory = await mkdtemp(path.join(parent, 'lifeline-s3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', directory, silent: true });
  // Just before s3rver's router (its last middleware), so that s3rver's XML encoding applies to the answers.
  server.middleware.splice(-1, 0, multipartUploadApis(directory), conditionalWrites(), listObjectsV2WithoutDes());
  const { port } = await server.run();
  const buckets = connectS3(`http://127.0.0.1:${port}`);

  let stopped: Promise<void> | undefined;
  return {
    ...buckets,
    stop() {
      stopped ??= (async () => {
        buckets.client.destroy();
        try {
          await server.close();
        } finally {
          await rm(directory, { recursive: true, force: true });
        }
      })();
      return stopped;
    },
  };
}

/**
 * AbortMultipartUpload and ListMultipartUploads, which s3rver lacks, over s3rver's on-disk layout: an
 * upload in progress is `<directory>/<bucket>/._S3rver_uploads/<uploadId>/` holding a `key` file, a
 * `metadata` file and one file per part. Part uploads and completions for an unknown upload get
 * NoSuchUpload, as from S3, instead of s3rver silently recreating the upload or failing with a 500.
 */
function multipartUploadApis(directory: string): S3rver.KoaMiddleware {
  return async (ctx, next) => {
    const { bucket, key } = bucketAndKey(ctx.path);
    const uploadsDir = path.join(directory, bucket, '._S3rver_uploads');

    if (ctx.method === 'GET' && !key && 'uploads' in ctx.query) {
      if (!(await isDirectory(path.join(directory, bucket)))) {
        return notFound(ctx, 'NoSuchBucket', 'The specified bucket does not exist.');
      }
      const prefix = typeof ctx.query.prefix === 'string' ? ctx.query.prefix : '';
      const uploads = (await listUploads(uploadsDir)).filter((upload) => upload.key.startsWith(prefix));
      ctx.body = {
        ListMultipartUploadsResult: {
          '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
          Bucket: bucket,
          KeyMarker: '',
          UploadIdMarker: '',
          Prefix: prefix,
          MaxUploads: 1000,
          IsTruncated: false,
          Upload: uploads.map((upload) => ({
            Key: upload.key,
            UploadId: upload.uploadId,
            StorageClass: 'STANDARD',
            Initiated: upload.initiated.toISOString(),
          })),
        },
      };
      return;
    }

    const uploadId = ctx.query.uploadId;
    if (typeof uploadId !== 'string' || !key) return next();
    // Only s3rver's own hex ids name an upload; anything else must not reach the file system.
    const uploadKey = /^[0-9a-f]+$/i.test(uploadId)
      ? await readFile(path.join(uploadsDir, uploadId, 'key'), 'utf8').catch(() => undefined)
      : undefined;
    if (uploadKey !== key) return notFound(ctx, 'NoSuchUpload', 'The specified upload does not exist.');
    if (ctx.method !== 'DELETE') return next();
    await rm(path.join(uploadsDir, uploadId), { recursive: true, force: true });
    ctx.status = 204;
  };
}

/**
 * S3's conditional writes, which s3rver ignores: a PutObject or CompleteMultipartUpload with `If-None-Match: *`
 * on a key that holds an object gets 412 PreconditionFailed and changes nothing, as from S3. The multipart
 * upload stays in progress, as in S3, for its client to abort.
 */
function conditionalWrites(): S3rver.KoaMiddleware {
  return async (ctx, next) => {
    const { bucket, key } = bucketAndKey(ctx.path);
    const { uploadId, partNumber, 'x-id': _operation, ...subresources } = ctx.query;
    const putObject = ctx.method === 'PUT' && uploadId === undefined && Object.keys(subresources).length === 0;
    const completeUpload = ctx.method === 'POST' && typeof uploadId === 'string' && partNumber === undefined;
    if (!key || !(putObject || completeUpload) || ctx.get('if-none-match') !== '*') return next();
    if (!(await ctx.store.existsObject(bucket, key))) return next();
    ctx.status = 412;
    ctx.body = {
      Error: {
        Code: 'PreconditionFailed',
        Message: 'At least one of the pre-conditions you specified did not hold',
        Condition: 'If-None-Match',
      },
    };
  };
}

/**
 * s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node 17 and newer) lacks,
 * so every truncated V2 listing fails with a 500. Serve V2 listings from s3rver's marker-based V1 listing
 * instead, with the last key as the continuation token.
 */
function listObjectsV2WithoutDes(): S3rver.KoaMiddleware {
  return async (ctx, next) => {
    const { key } = bucketAndKey(ctx.path);
    if (ctx.method !== 'GET' || key || ctx.query['list-type'] !== '2') return next();
    const {
      'list-type': _listType,
      'continuation-token': token,
      'start-after': startAfter,
      'fetch-owner': fetchOwner,
      ...v1Query
    } = ctx.query;
    const marker = typeof token === 'string' && token ? Buffer.from(token, 'base64url').toString('utf8') : startAfter;
    ctx.query = marker ? { ...v1Query, marker } : v1Query;
    await next();

    const body = ctx.body as { ListBucketResult?: V1Listing } | undefined;
    if (!body?.ListBucketResult) return;
    const { Marker: _marker, NextMarker: _nextMarker, Contents, CommonPrefixes, ...listing } = body.ListBucketResult;
    const lastKey = Contents.at(-1)?.Key;
    ctx.body = {
      ListBucketResult: {
        ...listing,
        ContinuationToken: token || undefined,
        StartAfter: token ? undefined : startAfter,
        NextContinuationToken: listing.IsTruncated && lastKey !== undefined ? Buffer.from(lastKey).toString('base64url') : undefined,
        KeyCount: Contents.length + CommonPrefixes.length,
        Contents: fetchOwner === 'true' ? Contents : Contents.map(({ Owner: _owner, ...object }) => object),
        CommonPrefixes,
      },
    };
  };
}

/** The parts of s3rver's V1 ListBucketResult the V2 translation touches. */
interface V1Listing {
  Marker?: string;
  NextMarker?: string;
  IsTruncated: boolean;
  Contents: { Key: string; Owner?: unknown }[];
  CommonPrefixes: unknown[];
}

function bucketAndKey(urlPath: string): { bucket: string; key: string } {
  const [bucket = '', ...keyParts] = urlPath.slice(1).split('/').map(decodeURIComponent);
  return { bucket, key: keyParts.join('/') };
}

async function listUploads(uploadsDir: string): Promise<{ key: string; uploadId: string; initiated: Date }[]> {
  const ids = await readdir(uploadsDir).catch(() => []);
  const uploads = await Promise.all(
    ids.map(async (uploadId) => {
      const keyFile = path.join(uploadsDir, uploadId, 'key');
      // A part that lands after an abort recreates the directory without a key: not an upload.
      const [key, info] = await Promise.all([readFile(keyFile, 'utf8'), stat(keyFile)]).catch(() => []);
      return key !== undefined && info ? [{ key, uploadId, initiated: info.mtime }] : [];
    }),
  );
  // S3 lists uploads by key, and uploads of one key by initiation time.
  return uploads.flat().sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated.getTime() - b.initiated.getTime()));
}

function notFound(ctx: S3rver.KoaContext, code: 'NoSuchBucket' | 'NoSuchUpload', message: string): void {
  ctx.status = 404;
  ctx.body = { Error: { Code: code, Message: message } };
}

async function isDirectory(dir: string): Promise<boolean> {
  return (await stat(dir).catch(() => undefined))?.isDirectory() ?? false;
}
