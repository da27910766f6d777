import { PutSecretValueCommand, SecretsManagerClient, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, describe, expect, it } from 'vitest';
import {
  putConnectionSecret,
  refuseRotationInProgress,
  restoreSecretVersion,
  swapTokenFor,
} from '../../../../lambdas/core/cutover/secret.js';
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

    expect(await restoreSecretVersion(client, ARN, recorded, token)).toEqual({ moved: true });
    expect(await restoreSecretVersion(client, ARN, recorded, token)).toEqual({ moved: false });
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
      name: 'SecretChanged',
      message: expect.stringMatching(/changed since it was recorded .* nothing was switched$/),
    });
    // Nor does the revert that follows move the rotation's version away.
    await expect(restoreSecretVersion(client, ARN, recorded, swapTokenFor('cutover'))).rejects.toMatchObject({
      name: 'SecretChanged',
      message: expect.stringMatching(
        /changed under the cutover: AWSCURRENT is [\w-]+, neither the recorded version .* it was left as it is$/,
      ),
    });
    // Only the revert's fence of the swap's token, which moves no AWSCURRENT.
    expect(fake.writes.slice(writes)).toEqual([{ action: 'PutSecretValue', secretId: ARN }]);
    expect(fake.current(ARN).value).toBe('postgres://app:rotated@old-host/shop');
  });

  it('refuses a secret a rotation is changing (AWSPENDING not on AWSCURRENT), at Record and at the swap, and lets a finished one through', async () => {
    const recorded = fake.create(ARN, 'postgres://app:old@old-host/shop');
    await refuseRotationInProgress(client, ARN, "shop-api's connection secret");
    // A rotation's first step stores the next version as AWSPENDING.
    const pending = swapTokenFor('rotation-pending');
    await client.send(
      new PutSecretValueCommand({
        SecretId: ARN,
        ClientRequestToken: pending,
        SecretString: 'postgres://app:next@old-host/shop',
        VersionStages: ['AWSPENDING'],
      }),
    );
    await expect(refuseRotationInProgress(client, ARN, "shop-api's connection secret")).rejects.toMatchObject({
      name: 'RotationInProgress',
      message: expect.stringMatching(
        new RegExp(
          `^shop-api's connection secret ${ARN} is being rotated: its version ${pending} is AWSPENDING, not yet AWSCURRENT, .* Nothing was changed\\.`,
        ),
      ),
    });
    // A rotation that began after Record: the swap writes nothing.
    const writes = fake.writes.length;
    await expect(
      putConnectionSecret(client, ARN, recorded, swapTokenFor('cutover-pending'), 'postgres://app:new@new-host/shop'),
    ).rejects.toMatchObject({
      name: 'RotationInProgress',
    });
    expect(fake.writes.length).toBe(writes);
    expect(fake.current(ARN).versionId).toBe(recorded);
    // Finished: its last step moved AWSCURRENT to the pending version, which may keep its AWSPENDING label.
    await client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: ARN,
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: pending,
        RemoveFromVersionId: recorded,
      }),
    );
    expect(fake.stages(ARN)).toEqual({ [recorded]: ['AWSPREVIOUS'], [pending]: ['AWSCURRENT', 'AWSPENDING'] });
    await refuseRotationInProgress(client, ARN, "shop-api's connection secret");
  });

  it('reverts nothing when the secret was rotated after the swap: the rotation is kept current', async () => {
    const recorded = fake.create(ARN, 'postgres://app:old@old-host/shop');
    const token = swapTokenFor('cutover-rotated');
    await putConnectionSecret(client, ARN, recorded, token, 'postgres://app:new@new-host/shop');
    await putConnectionSecret(client, ARN, token, swapTokenFor('rotation-2'), 'postgres://app:rotated@new-host/shop');
    const writes = fake.writes.length;
    await expect(restoreSecretVersion(client, ARN, recorded, token)).rejects.toMatchObject({ name: 'SecretChanged' });
    // Only the fence, refused: the swap's version holds the token already.
    expect(fake.writes.slice(writes)).toEqual([{ action: 'PutSecretValue', secretId: ARN }]);
    expect(fake.current(ARN).value).toBe('postgres://app:rotated@new-host/shop');
  });

  it('fences a swap that outlived its state: after the revert, its late write fails and the recorded version stays current', async () => {
    const recorded = fake.create(ARN, 'postgres://app:old@old-host/shop');
    const token = swapTokenFor('cutover-late-swap');
    // Swap's state timed out before its Lambda wrote; the revert runs first, finding the recorded version current.
    expect(await restoreSecretVersion(client, ARN, recorded, token)).toEqual({ moved: false });
    expect(await restoreSecretVersion(client, ARN, recorded, token)).toEqual({ moved: false });
    // Then the swap's Lambda, still running, writes.
    await expect(putConnectionSecret(client, ARN, recorded, token, 'postgres://app:new@new-host/shop')).rejects.toMatchObject({
      name: 'ResourceExistsException',
    });
    expect(fake.current(ARN)).toEqual({ versionId: recorded, value: 'postgres://app:old@old-host/shop' });
    expect(fake.stages(ARN)).toEqual({ [recorded]: ['AWSCURRENT'], [token]: ['LIFELINE_FENCED'] });
  });
});
