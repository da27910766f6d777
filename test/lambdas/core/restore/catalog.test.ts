import { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { restoreCatalogPath } from '../../../../lambdas/core/names.js';
import { ssmRestoreCatalog, type RestoreDatabase } from '../../../../lambdas/core/restore/catalog.js';
import { FakeSsm } from '../../../support/control-planes.js';

const deployment = { name: 'lifeline', backupStacks: 1 };
const PATH = restoreCatalogPath('lifeline', 1);
const entry = (name: string): RestoreDatabase => ({
  name,
  secretArn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbC123`,
  port: 5432,
  rds: { instanceIdentifier: name },
  network: 'private',
  stepsFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:lifeline-restore1-private',
  runner: { taskDefinition: 'lifeline-restore-runner-1', subnetIds: ['subnet-0a1b2c3d'], securityGroupIds: ['sg-0a1b2c3d'] },
  applications: [],
});

let ssm: FakeSsm;
beforeEach(() => {
  ssm = new FakeSsm();
});
afterEach(() => ssm.mock.restore());

const put = (name: string, value: unknown) =>
  ssm.parameters.set(`${PATH}/${name}`, { value: typeof value === 'string' ? value : JSON.stringify(value), type: 'String' });
const groupOf = (database: string) => ssmRestoreCatalog(new SSMClient({}), deployment).groupOf(database);

describe('the SSM restore catalog', () => {
  it("reads every page of the database's group, and nothing under a deeper path", async () => {
    const names = Array.from({ length: 23 }, (_, i) => `db${String(i).padStart(2, '0')}`);
    for (const name of names) put(name, entry(name));
    ssm.parameters.set(`${PATH}/db00/stale`, { value: 'not an entry', type: 'String' });
    expect((await groupOf('db07')).map((db) => db.name)).toEqual(names);
    expect(ssm.mock.commandCalls(GetParametersByPathCommand).map((call) => call.args[0].input.Path)).toEqual([PATH, PATH, PATH]);
  });

  it('refuses an entry that names another database, group function or runner than its own, naming the parameter', async () => {
    for (const [wrong, message] of [
      [{ ...entry('shop'), name: 'billing' }, 'names database "billing"'],
      [
        { ...entry('shop'), stepsFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:lifeline-restore2-private' },
        "names steps function arn:aws:lambda:eu-west-1:123456789012:function:lifeline-restore2-private, not one of group 1's",
      ],
      [
        { ...entry('shop'), runner: { ...entry('shop').runner, taskDefinition: 'someone-else' } },
        "names runner someone-else, not group 1's",
      ],
    ] as const) {
      put('shop', wrong);
      await expect(groupOf('shop')).rejects.toMatchObject({
        name: 'InvalidConfig',
        message: `SSM parameter ${PATH}/shop ${message}; only the deployment writes the catalog`,
      });
    }
  });

  it('fails InvalidConfig naming the parameter or the path when an entry is unreadable or SSM refuses', async () => {
    put('shop', 'not json');
    await expect(groupOf('shop')).rejects.toMatchObject({
      name: 'InvalidConfig',
      message: expect.stringMatching(/^SSM parameter \/lifeline\/lifeline\/restore\/1\/shop is not JSON: /),
    });
    put('shop', { name: 'shop' });
    await expect(groupOf('shop')).rejects.toMatchObject({
      name: 'InvalidConfig',
      message: expect.stringMatching(/^invalid SSM parameter \/lifeline\/lifeline\/restore\/1\/shop: /),
    });
    ssm.mock
      .on(GetParametersByPathCommand)
      .rejects(Object.assign(new Error('User is not authorized to perform: ssm:GetParametersByPath'), { name: 'AccessDeniedException' }));
    await expect(groupOf('shop')).rejects.toMatchObject({
      name: 'InvalidConfig',
      message: `cannot read the restore catalog under SSM path ${PATH}: User is not authorized to perform: ssm:GetParametersByPath`,
    });
  });
});
