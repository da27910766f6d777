import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, describe, expect, it } from 'vitest';
import { putConnectionSecret, restoreSecretVersion, swapTokenFor } from '../../../../lambdas/core/workflows/cutover-secret.js';
import { FakeSecretsManager } from '../../../support/control-planes.js';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-api/connection-AbC123';
const fake = new FakeSecretsManager();
const client = new SecretsManagerClient({ region: 'eu-west-1' });
afterAll(() => fake.reset());

describe("the application's secret as cutover switches and reverts it", () => {
  it('writes one new version however often the swap is retried, and keeps the recorded one as AWSPREVIOUS', async () => {
    const recorded = fake.create(ARN, 'postgres://app:old@old-host/shop');
    const token = swapTokenFor('arn:aws:states:eu-west-1:123456789012:execution:lifeline-cutover:run-1');
    expect(token).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(swapTokenFor('arn:aws:states:eu-west-1:123456789012:execution:lifeline-cutover:run-1')).toBe(token);
    for (let attempt = 0; attempt < 3; attempt++) {
      expect(await putConnectionSecret(client, ARN, recorded, token, 'postgres://app:new@new-host/shop')).toBe(token);
    }
    expect(fake.stages(ARN)).toEqual({ [recorded]: ['AWSPREVIOUS'], [token]: ['AWSCURRENT'] });

    expect(await restoreSecretVersion(client, ARN, recorded)).toEqual({ moved: true });
    expect(await restoreSecretVersion(client, ARN, recorded)).toEqual({ moved: false });
    expect(fake.stages(ARN)).toEqual({ [recorded]: ['AWSCURRENT'], [token]: ['AWSPREVIOUS'] });
  });

  it('switches nothing when someone changed the secret after it was recorded', async () => {
    const recorded = fake.create(ARN, 'postgres://app:old@old-host/shop');
    // A rotation after Record: a version cutover did not write.
    await putConnectionSecret(client, ARN, recorded, swapTokenFor('rotation'), 'postgres://app:rotated@old-host/shop');
    const writes = fake.writes.length;
    await expect(
      putConnectionSecret(client, ARN, recorded, swapTokenFor('cutover'), 'postgres://app:new@new-host/shop'),
    ).rejects.toMatchObject({
      name: 'CutoverFailed',
      message: expect.stringMatching(/changed since it was recorded .* nothing was switched$/),
    });
    expect(fake.writes.length).toBe(writes);
    expect(fake.current(ARN).value).toBe('postgres://app:rotated@old-host/shop');
  });
});
