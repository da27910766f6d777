import { ListStateMachinesCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { resolveStateMachines } from '../../../../lambdas/core/operator/executions.js';

const sfn = mockClient(SFNClient);
const client = new SFNClient({ region: 'eu-west-1' });
const arn = (name: string) => `arn:aws:states:eu-west-1:123456789012:stateMachine:${name}`;

beforeEach(() => {
  sfn.reset();
});

describe('resolveStateMachines, which `lifeline approvals` asks for both workflows', () => {
  it("finds those deployed, across pages, in the order asked, and leaves out a deployment's missing workflow", async () => {
    sfn
      .on(ListStateMachinesCommand)
      .resolvesOnce({
        stateMachines: [{ name: 'lifeline-cutover', stateMachineArn: arn('lifeline-cutover'), type: 'STANDARD', creationDate: new Date() }],
        nextToken: 'page-2',
      })
      .resolvesOnce({
        stateMachines: [{ name: 'lifeline-restore', stateMachineArn: arn('lifeline-restore'), type: 'STANDARD', creationDate: new Date() }],
      });
    await expect(resolveStateMachines(client, [{ name: 'lifeline-restore' }, { name: 'lifeline-pitr' }])).resolves.toEqual([
      arn('lifeline-restore'),
    ]);
  });

  it('takes a state machine given by ARN as it is, without listing', async () => {
    await expect(resolveStateMachines(client, [{ arn: arn('other-pitr') }])).resolves.toEqual([arn('other-pitr')]);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('names every state machine it looked for when none is deployed', async () => {
    sfn.on(ListStateMachinesCommand).resolves({ stateMachines: [] });
    await expect(resolveStateMachines(client, [{ name: 'shop-restore' }, { name: 'shop-pitr' }])).rejects.toMatchObject({
      name: 'InvalidInput',
      message:
        '--state-machine: no state machine named "shop-restore" or "shop-pitr" in eu-west-1 (deploy its stack, pass --name with the config\'s name, or give --state-machine ARN)',
    });
  });
});
