import { S3Client } from '@aws-sdk/client-s3';

export interface S3Options {
  /** An S3-compatible endpoint (MinIO, LocalStack, s3rver). Implies path-style addressing. */
  endpoint?: string;
  region?: string;
}

/**
 * Credentials and region come from the SDK's default chain; `AWS_ENDPOINT_URL_S3` is honoured by the SDK
 * itself. A custom endpoint gets path-style addressing and checksums only where an API requires them,
 * because S3-compatible servers generally do not understand the SDK's default aws-chunked checksum trailers.
 */
export function createS3Client(options: S3Options = {}): S3Client {
  const endpoint = options.endpoint ?? process.env.AWS_ENDPOINT_URL_S3;
  const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  if (!endpoint) return new S3Client({ region });
  return new S3Client({
    region,
    endpoint,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
