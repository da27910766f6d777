import { createHmac, timingSafeEqual } from 'node:crypto';
import { GenerateMacCommand, KMSClient, KMSInvalidMacException, VerifyMacCommand } from '@aws-sdk/client-kms';
import type { AwsClientStub } from 'aws-sdk-client-mock';

/** The deployment's HMAC key as KMS keeps it: its material never leaves KMS, so here it never leaves this module. */
export const APPROVAL_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/8f2d4c1e-0000-4000-8000-000000000001';
const material = Buffer.from('lifeline test approval key material, 32+ bytes long');

/**
 * GenerateMac and VerifyMac answered as KMS answers them for an HMAC_SHA_256 key: the MAC as bytes; VerifyMac
 * MacValid true, or the error KMSInvalidMacException (never MacValid false) for a MAC the key did not make.
 */
export function answerAsHmacKey(kms: AwsClientStub<KMSClient>): void {
  const mac = (message: Uint8Array) => createHmac('sha256', material).update(message).digest();
  kms
    .on(GenerateMacCommand, { KeyId: APPROVAL_KEY, MacAlgorithm: 'HMAC_SHA_256' })
    .callsFake((input: { Message: Uint8Array }) => ({
      Mac: new Uint8Array(mac(input.Message)),
      KeyId: APPROVAL_KEY,
      MacAlgorithm: 'HMAC_SHA_256',
    }))
    .on(VerifyMacCommand, { KeyId: APPROVAL_KEY, MacAlgorithm: 'HMAC_SHA_256' })
    .callsFake((input: { Message: Uint8Array; Mac: Uint8Array }) => {
      const expected = mac(input.Message);
      const given = Buffer.from(input.Mac);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new KMSInvalidMacException({ message: 'The MAC is not valid for the message and key', $metadata: { httpStatusCode: 400 } });
      }
      return { KeyId: APPROVAL_KEY, MacValid: true, MacAlgorithm: 'HMAC_SHA_256' };
    });
}
