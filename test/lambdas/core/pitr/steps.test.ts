import {
  DeleteDBClusterCommand,
  DeleteDBInstanceCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  ModifyDBClusterCommand,
  ModifyDBInstanceCommand,
  RDSClient,
  RestoreDBInstanceToPointInTimeCommand,
} from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { fixedRestoreCatalog, type RestoreDatabase } from '../../../../lambdas/core/restore/catalog.js';
import { PITR_EXECUTION_TAG, type PitrRequest, type PitrSettings, type PitrState } from '../../../../lambdas/core/pitr/state.js';
import { asideIdentifier, renameBack, renameIn } from '../../../../lambdas/core/pitr/rename.js';
import { classifyFailure, cleanup, describeRestore, finish, startRestore, validateInput } from '../../../../lambdas/core/pitr/steps.js';

const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:lifeline-pitr:run-1';
const OTHER = 'arn:aws:states:eu-west-1:123456789012:execution:lifeline-pitr:run-0';
const rds = mockClient(RDSClient);
const settings: PitrSettings = {
  deployment: 'lifeline',
  backupStacks: 1,
  approvalTimeoutSeconds: 7200,
  networkFunctions: { private: 'arn:aws:lambda:eu-west-1:123456789012:function:lifeline-pitr-private' },
  pollSeconds: 30,
  maxWaitSeconds: 3600,
  renameSources: false,
};
const DATABASE: RestoreDatabase = {
  name: 'ledger',
  secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-ledger-AbC123',
  port: 5432,
  rds: { clusterIdentifier: 'Ledger-Production' },
  network: 'private',
  stepsFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:lifeline-restore1-private',
  runner: { taskDefinition: 'lifeline-restore-runner-1', subnetIds: ['subnet-1'], securityGroupIds: ['sg-1'] },
  applications: [{ name: 'ledger-api', connectionSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ledger-api-DeF456' }],
};
const deps = () => ({ settings, catalog: fixedRestoreCatalog([DATABASE]), rds: new RDSClient({}), secrets: new SecretsManagerClient({}) });
const tagged = (execution: string) => [{ Key: PITR_EXECUTION_TAG, Value: execution }];

async function request(): Promise<PitrRequest> {
  const validated = await validateInput(
    { database: 'ledger', restorePoint: 'latest', finalSnapshot: true },
    { id: EXECUTION, startedAt: '2026-11-23T10:50:37.000Z' },
    settings,
    fixedRestoreCatalog([DATABASE]),
  );
  return { ...validated, timing: { startedAt: '2026-11-23T10:50:37.000Z', finishedAt: '2026-11-23T10:50:38.000Z' } };
}

const point = {
  kind: 'latest' as const,
  time: null,
  snapshot: null,
  window: { earliest: null, latest: null },
  timing: { startedAt: '2026-11-23T10:50:38.000Z', finishedAt: '2026-11-23T10:50:39.000Z' },
};

beforeEach(() => rds.reset());

describe('ValidateInput', () => {
  it('resolves the source from the config, the default target and the bound of looks, creating nothing', async () => {
    expect(await request()).toMatchObject({
      source: { kind: 'cluster', identifier: 'ledger-production' },
      target: { identifier: 'ledger-production-pitr-20261123105037' },
      restorePoint: { kind: 'latest' },
      ownerSecretArn: DATABASE.applications[0]!.connectionSecretArn,
      validateFunctionArn: settings.networkFunctions.private,
      maxPolls: 120,
      approval: {
        timeoutSeconds: 7200,
        subject: 'Lifeline: approve the point-in-time recovery of ledger into ledger-production-pitr-20261123105037',
      },
    });
    expect(rds.calls()).toHaveLength(0);
  });

  it('refuses a database in a network without a PITR steps function', async () => {
    await expect(
      validateInput(
        { database: 'ledger', restorePoint: 'latest' },
        { id: EXECUTION, startedAt: '2026-11-23T10:50:37.000Z' },
        { ...settings, networkFunctions: {} },
        fixedRestoreCatalog([DATABASE]),
      ),
    ).rejects.toMatchObject({ name: 'InvalidConfig' });
  });

  it('refuses a database without an application, and chooses among several by validateAs, before anything is created', async () => {
    const execution = { id: EXECUTION, startedAt: '2026-11-23T10:50:37.000Z' };
    const alone = { ...DATABASE, applications: [] };
    await expect(
      validateInput({ database: 'ledger', restorePoint: 'latest' }, execution, settings, fixedRestoreCatalog([alone])),
    ).rejects.toMatchObject({
      name: 'InvalidConfig',
      message: expect.stringContaining('database ledger has no application whose role validates a restore'),
    });
    const other = { name: 'reports', connectionSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:reports-GhI789' };
    const shared = { ...DATABASE, applications: [...DATABASE.applications, other] };
    const chosen = await validateInput(
      { database: 'ledger', restorePoint: 'latest', validateAs: 'reports' },
      execution,
      settings,
      fixedRestoreCatalog([shared]),
    );
    expect(chosen).toMatchObject({ ownerSecretArn: other.connectionSecretArn, cutover: null });
    await expect(
      validateInput(
        { database: 'ledger', restorePoint: 'latest', validateAs: 'nobody' },
        execution,
        settings,
        fixedRestoreCatalog([shared]),
      ),
    ).rejects.toThrow('"nobody" is not a configured application of database "ledger"');
    expect(rds.calls()).toHaveLength(0);
  });

  it('refuses the rename strategy where the deployment does not allow renaming its sources', async () => {
    const shop = { ...DATABASE, name: 'shop', rds: { instanceIdentifier: 'shop-production' } };
    await expect(
      validateInput(
        { database: 'shop', restorePoint: 'latest', strategy: 'rename' },
        { id: EXECUTION, startedAt: '2026-11-23T10:50:37.000Z' },
        settings,
        fixedRestoreCatalog([shop]),
      ),
    ).rejects.toThrow("(its config's pitr.renameSources is off)");
  });
});

describe('the rename strategy', () => {
  const SOURCE_ID = 'db-SOURCE';
  async function renaming(): Promise<PitrState> {
    const shop = { ...DATABASE, name: 'shop', rds: { instanceIdentifier: 'shop-production' } };
    const validated = await validateInput(
      { database: 'shop', restorePoint: 'latest', strategy: 'rename' },
      { id: EXECUTION, startedAt: '2026-11-23T10:50:37.000Z' },
      { ...settings, renameSources: true },
      fixedRestoreCatalog([shop]),
    );
    const timing = { startedAt: '2026-11-23T10:50:37.000Z', finishedAt: '2026-11-23T10:50:38.000Z' };
    return {
      request: { ...validated, timing },
      restore: {
        kind: 'instance',
        identifier: validated.target.identifier,
        sourceResourceId: SOURCE_ID,
        writer: null,
        writerTemplate: null,
        copied: [],
        modify: {},
        status: 'available',
        phase: 'available',
        polls: 1,
        startedAt: timing.startedAt,
      },
    };
  }
  const answer = (instances: Record<string, object>) =>
    rds.on(DescribeDBInstancesCommand).callsFake(({ DBInstanceIdentifier }: { DBInstanceIdentifier: string }) => {
      const found = instances[DBInstanceIdentifier];
      if (!found) throw Object.assign(new Error(`DBInstance ${DBInstanceIdentifier} not found.`), { name: 'DBInstanceNotFoundFault' });
      return { DBInstances: [{ DBInstanceIdentifier, DBInstanceStatus: 'available', ...found }] };
    });

  it('refuses to rename aside an instance under the source identifier that is not the one restored from', async () => {
    const state = await renaming();
    answer({ 'shop-production': { DbiResourceId: 'db-SOMEONE-ELSE' }, [state.request.target.identifier]: { TagList: tagged(EXECUTION) } });
    await expect(renameIn(state, { rds: new RDSClient({}) })).rejects.toMatchObject({
      name: 'PitrRenameRefused',
      message: expect.stringContaining('shop-production is not the instance this execution restored from (DbiResourceId db-SOMEONE-ELSE)'),
    });
    expect(rds.commandCalls(ModifyDBInstanceCommand)).toHaveLength(0);
  });

  it("refuses to rename into the source's identifier a target that is not this execution's", async () => {
    const state = await renaming();
    const aside = asideIdentifier('shop-production', new Date(state.request.execution.startedAt));
    answer({ [aside]: { DbiResourceId: SOURCE_ID }, [state.request.target.identifier]: { TagList: tagged(OTHER) } });
    await expect(renameIn(state, { rds: new RDSClient({}) })).rejects.toMatchObject({ name: 'PitrRenameRefused' });
    expect(rds.commandCalls(ModifyDBInstanceCommand)).toHaveLength(0);
  });

  it('renames back nothing it never renamed, and pages when the source identifier is taken while the source is aside', async () => {
    const state = await renaming();
    answer({ 'shop-production': { DbiResourceId: 'db-SOMEONE-ELSE' } });
    expect(await renameBack(state, { rds: new RDSClient({}) })).toMatchObject({ phase: 'done', renamed: [] });
    const aside = asideIdentifier('shop-production', new Date(state.request.execution.startedAt));
    answer({ 'shop-production': { DbiResourceId: 'db-SOMEONE-ELSE' }, [aside]: { DbiResourceId: SOURCE_ID } });
    await expect(renameBack(state, { rds: new RDSClient({}) })).rejects.toMatchObject({
      name: 'PitrRenameUnresolved',
      message: expect.stringContaining(`shop-production holds another instance while the source is ${aside}`),
    });
    expect(rds.commandCalls(ModifyDBInstanceCommand)).toHaveLength(0);
  });
});

describe('the wait', () => {
  it('fails on a terminal status of the Aurora writer, naming it', async () => {
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [{ DBClusterIdentifier: 'x', Status: 'available' }] });
    rds
      .on(DescribeDBInstancesCommand)
      .resolves({ DBInstances: [{ DBInstanceIdentifier: 'x-writer', DBInstanceStatus: 'insufficient-capacity' }] });
    const progress = {
      kind: 'cluster' as const,
      sourceResourceId: null,
      identifier: 'x',
      writer: 'x-writer',
      writerTemplate: {},
      copied: [],
      modify: {},
      status: 'creating',
      phase: 'waiting' as const,
      polls: 3,
      startedAt: '2026-11-23T10:50:39.000Z',
    };
    await expect(describeRestore(await request(), progress, deps())).rejects.toThrow(
      /Aurora writer x-writer ended in status insufficient-capacity/,
    );
  });

  it('keeps waiting while a new restore is not yet visible, and says the cluster needs its writer once available', async () => {
    rds
      .on(DescribeDBClustersCommand)
      .rejectsOnce(Object.assign(new Error('not found'), { name: 'DBClusterNotFoundFault' }))
      .resolves({
        DBClusters: [{ DBClusterIdentifier: 'x', Status: 'available' }],
      });
    const progress = {
      kind: 'cluster' as const,
      sourceResourceId: null,
      identifier: 'x',
      writer: null,
      writerTemplate: {},
      copied: [],
      modify: {},
      status: 'creating',
      phase: 'waiting' as const,
      polls: 0,
      startedAt: '2026-11-23T10:50:39.000Z',
    };
    const first = await describeRestore(await request(), progress, deps());
    expect(first).toMatchObject({ phase: 'waiting', status: 'not-yet-visible', polls: 1 });
    expect(await describeRestore(await request(), first, deps())).toMatchObject({ phase: 'needs-writer', polls: 2 });
  });
});

describe('StartRestore', () => {
  it("goes on when RDS says its target exists already and it carries this execution's tag (an earlier attempt's answer lost)", async () => {
    const shop = { ...DATABASE, name: 'shop', rds: { instanceIdentifier: 'shop-production' } };
    const validated = await validateInput(
      { database: 'shop', restorePoint: 'latest', target: 'shop-pitr-1' },
      { id: EXECUTION, startedAt: '2026-11-23T10:50:37.000Z' },
      settings,
      fixedRestoreCatalog([shop]),
    );
    const shopRequest = { ...validated, timing: { startedAt: '2026-11-23T10:50:37.000Z', finishedAt: '2026-11-23T10:50:38.000Z' } };
    rds
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'shop-pitr-1' })
      .rejectsOnce(Object.assign(new Error('not found'), { name: 'DBInstanceNotFoundFault' }))
      .resolves({ DBInstances: [{ DBInstanceIdentifier: 'shop-pitr-1', DBInstanceStatus: 'creating', TagList: tagged(EXECUTION) }] });
    rds
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'shop-production' })
      .resolves({ DBInstances: [{ DBInstanceIdentifier: 'shop-production' }] });
    rds.on(RestoreDBInstanceToPointInTimeCommand).rejects(Object.assign(new Error('exists'), { name: 'DBInstanceAlreadyExistsFault' }));
    expect(await startRestore(shopRequest, point, deps())).toMatchObject({ identifier: 'shop-pitr-1', phase: 'waiting', polls: 0 });
    // Another's instance under that name is refused.
    rds
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'shop-pitr-1' })
      .rejectsOnce(Object.assign(new Error('not found'), { name: 'DBInstanceNotFoundFault' }))
      .resolves({ DBInstances: [{ DBInstanceIdentifier: 'shop-pitr-1', TagList: tagged(OTHER) }] });
    await expect(startRestore(shopRequest, point, deps())).rejects.toThrow(/exists already and is not this execution's/);
  });
});

describe('Finish', () => {
  const progress = {
    kind: 'instance' as const,
    sourceResourceId: 'db-SOURCE',
    identifier: 'shop-production-pitr-1',
    writer: null,
    writerTemplate: null,
    copied: [],
    modify: {
      DBInstanceIdentifier: 'shop-production-pitr-1',
      ApplyImmediately: true,
      ManageMasterUserPassword: true,
      MonitoringInterval: 60,
    },
    status: 'available',
    phase: 'available' as const,
    polls: 2,
    startedAt: '2026-11-23T10:50:39.000Z',
  };

  it('modifies only what this execution restored, and asks for the managed secret once: a retry finds it on', async () => {
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [
        {
          DBInstanceIdentifier: progress.identifier,
          TagList: tagged(EXECUTION),
          Endpoint: { Address: 'x.rds.amazonaws.com', Port: 5432 },
          MasterUserSecret: { SecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1-AbC123' },
        },
      ],
    });
    rds.on(ModifyDBInstanceCommand).resolves({});
    const done = await finish(await request(), progress, deps());
    expect(done).toMatchObject({ host: 'x.rds.amazonaws.com', port: 5432, masterSecretArn: expect.stringContaining('rds!db-1') });
    expect(rds.commandCalls(ModifyDBInstanceCommand)[0]!.args[0].input).toEqual({
      DBInstanceIdentifier: progress.identifier,
      ApplyImmediately: true,
      MonitoringInterval: 60,
    });
  });

  it("refuses to modify an instance without this execution's tag", async () => {
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ DBInstanceIdentifier: progress.identifier, TagList: tagged(OTHER) }] });
    await expect(finish(await request(), progress, deps())).rejects.toMatchObject({ name: 'PitrFailed' });
    expect(rds.commandCalls(ModifyDBInstanceCommand)).toHaveLength(0);
  });
});

describe('Cleanup', () => {
  it("deletes only what carries this execution's tag: another execution's writer stays, and so does the cluster it holds", async () => {
    rds
      .on(DescribeDBInstancesCommand)
      .resolves({ DBInstances: [{ DBInstanceIdentifier: 'w', DBInstanceStatus: 'available', TagList: tagged(OTHER) }] });
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [{ DBClusterIdentifier: 'c', Status: 'available', TagList: tagged(OTHER) }] });
    const state: PitrState = { request: await request(), point, error: { Error: 'Rejected', Cause: 'no' } };
    const failure = await cleanup(state, deps());
    expect(failure.deleted).toEqual([]);
    expect(failure.kept).toHaveLength(2);
    expect(rds.commandCalls(DeleteDBInstanceCommand)).toHaveLength(0);
    expect(rds.commandCalls(DeleteDBClusterCommand)).toHaveLength(0);
    expect(rds.commandCalls(ModifyDBInstanceCommand)).toHaveLength(0);
  });

  it('turns deletion protection off, deletes the writer before the cluster, and skips the final snapshot of a failed cluster', async () => {
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [{ DBInstanceIdentifier: 'w', DBInstanceStatus: 'available', DeletionProtection: false, TagList: tagged(EXECUTION) }],
    });
    rds.on(DescribeDBClustersCommand).resolves({
      DBClusters: [{ DBClusterIdentifier: 'c', Status: 'failed', DeletionProtection: true, TagList: tagged(EXECUTION) }],
    });
    const state: PitrState = {
      request: await request(),
      point,
      error: { Error: 'PitrRestoreFailed', Cause: '{"errorMessage":"ended in status failed"}' },
    };
    const failure = await cleanup(state, deps());
    const order = rds
      .calls()
      .map((call) => (call.args[0] as { constructor: { name: string } }).constructor.name)
      .filter((name) => !name.startsWith('Describe'));
    expect(order).toEqual(['DeleteDBInstanceCommand', 'ModifyDBClusterCommand', 'DeleteDBClusterCommand']);
    expect(rds.commandCalls(ModifyDBClusterCommand)[0]!.args[0].input).toEqual({
      DBClusterIdentifier: 'ledger-production-pitr-20261123105037',
      DeletionProtection: false,
      ApplyImmediately: true,
    });
    expect(rds.commandCalls(DeleteDBClusterCommand)[0]!.args[0].input).toEqual({
      DBClusterIdentifier: 'ledger-production-pitr-20261123105037',
      SkipFinalSnapshot: true,
    });
    expect(failure).toMatchObject({ error: 'PitrRestoreFailed', cause: 'ended in status failed' });
  });

  it('runs again (PitrCleanupPending) while the deleted writer still holds its cluster', async () => {
    rds
      .on(DescribeDBInstancesCommand)
      .resolves({ DBInstances: [{ DBInstanceIdentifier: 'w', DBInstanceStatus: 'available', TagList: tagged(EXECUTION) }] });
    rds
      .on(DescribeDBClustersCommand)
      .resolves({ DBClusters: [{ DBClusterIdentifier: 'c', Status: 'available', TagList: tagged(EXECUTION) }] });
    rds
      .on(DeleteDBClusterCommand)
      .rejects(
        Object.assign(new Error('Cluster cannot be deleted, it still contains DB instances'), { name: 'InvalidDBClusterStateFault' }),
      );
    const state: PitrState = { request: await request(), point, error: { Error: 'Rejected', Cause: 'no' } };
    await expect(cleanup(state, deps())).rejects.toMatchObject({ name: 'PitrCleanupPending' });
  });

  it('keeps a restore handed over to cutover, and deletes nothing when the restore point was never resolved', async () => {
    const handedOver: PitrState = {
      request: await request(),
      point,
      handOver: { application: 'ledger-api', database: { secretArn: DATABASE.secretArn } },
      error: {
        Error: 'States.TaskFailed',
        Cause: JSON.stringify({ Status: 'FAILED', Error: 'CutoverRolledBack', Cause: 'health', ExecutionArn: 'arn:x' }),
      },
    };
    expect(await cleanup(handedOver, deps())).toMatchObject({
      error: 'CutoverRolledBack',
      kept: ['ledger-production-pitr-20261123105037'],
    });
    expect(await cleanup({ request: await request(), error: { Error: 'OutsideRestorableWindow', Cause: 'x' } }, deps())).toMatchObject({
      deleted: [],
      kept: [],
      message: expect.stringContaining('Nothing had been created.'),
    });
    expect(rds.calls()).toHaveLength(0);
  });

  it('names what it caught: a LifelineError by its name, anything else PitrFailed', () => {
    expect(classifyFailure({ Error: 'States.Timeout' })).toMatchObject({ error: 'PitrFailed' });
    expect(classifyFailure({ Error: 'ApprovalTimedOut', Cause: 'nobody' })).toEqual({ error: 'ApprovalTimedOut', cause: 'nobody' });
  });
});
