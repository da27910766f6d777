import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LifelineError } from '../../../lambdas/core/errors.js';
import { loadConfig, parseConfig } from '../../../lib/config/load.js';
import { clientMajorFor } from '../../../lib/config/postgres-clients.js';
import { exampleConfig, exampleJson } from '../../support/stacks.js';

const scratch = mkdtempSync(join(tmpdir(), 'lifeline-config-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The validation error for a config bent by `change`, or a failure when it is accepted. */
function problemsOf(change: (config: Record<string, any>) => void): string {
  const config = exampleJson();
  change(config);
  try {
    parseConfig(config, 'lifeline.config.json');
  } catch (error) {
    expect(error).toMatchObject({ name: 'InvalidConfig' });
    expect(error).toBeInstanceOf(LifelineError);
    return (error as Error).message;
  }
  throw new Error('the config was accepted');
}

describe('the example config', () => {
  it("normalizes the cron's spacing", () => {
    const json = exampleJson();
    json.databases[0].schedule.cron = ' 30  3 * * ?   * ';
    expect(parseConfig(json).databases[0]!.schedule.cron).toBe('30 3 * * ? *');
  });

  it('locks backups in GOVERNANCE mode unless told otherwise: Object Lock is always on', () => {
    const json = exampleJson();
    delete json.vault;
    expect(parseConfig(json).vault).toEqual({ objectLock: { mode: 'GOVERNANCE' } });
    json.vault = { objectLock: { mode: 'COMPLIANCE' } };
    expect(parseConfig(json).vault).toEqual({ objectLock: { mode: 'COMPLIANCE' } });
  });

  it('needs no approval or applications until a workflow uses them', () => {
    const json = exampleJson();
    delete json.approval;
    delete json.applications;
    const config = parseConfig(json);
    expect(config.approval).toBeUndefined();
    expect(config.applications).toEqual([]);
  });

  it('is valid and fills in the defaults', () => {
    const config = exampleConfig();
    expect(config.name).toBe('lifeline');
    expect(config.backupStacks).toBe(1);
    const shop = config.databases.find((db) => db.name === 'shop')!;
    expect(shop).toMatchObject({ port: 5432, rpoHours: 26, runMode: 'scheduled', shrinkAlarmPercent: 50 });
    expect(config.databases.find((db) => db.name === 'warehouse')).toMatchObject({ port: 5433, rpoHours: 30, shrinkAlarmPercent: 30 });
    expect(config.approval?.timeoutHours).toBe(24);
  });

  it("gives an application cutover's defaults: no freeze, no Lambda functions, 3 healthy answers within 120 s", () => {
    expect(exampleConfig().applications[0]).toMatchObject({
      freeze: { mode: 'none' },
      lambdaFunctions: [],
      healthCheckCount: 3,
      healthCheckWindowSeconds: 120,
    });
    const json = exampleJson();
    delete json.applications[0].ecs;
    json.applications[0].lambdaFunctions = ['shop-api-worker'];
    json.applications[0].freeze = { mode: 'parameter', parameterName: '/shop-api/maintenance' };
    expect(parseConfig(json).applications[0]).toMatchObject({
      lambdaFunctions: ['shop-api-worker'],
      freeze: { mode: 'parameter', parameterName: '/shop-api/maintenance', frozenValue: 'on' },
    });
  });
});

describe('the restore section', () => {
  const restoreOf = (restore?: unknown) => {
    const json = exampleJson();
    // PITR and the applications' migrations need the restore workflow: left out with it.
    if (restore === undefined) {
      delete json.restore;
      delete json.pitr;
      for (const application of json.applications) delete application.migrations;
    } else json.restore = restore;
    return parseConfig(json).restore;
  };

  it('asks for the restore workflow; left out, there is none', () => {
    expect(exampleConfig().restore).toEqual({ runner: { vcpus: 2, memoryGiB: 8 } });
    expect(restoreOf(undefined)).toBeUndefined();
  });

  it('gives the runner 2 vCPUs and 4 GiB per vCPU unless told otherwise', () => {
    expect(restoreOf({})).toEqual({ runner: { vcpus: 2, memoryGiB: 8 } });
    expect(restoreOf({ runner: {} })).toEqual({ runner: { vcpus: 2, memoryGiB: 8 } });
    for (const vcpus of [1, 2, 4, 8, 16]) expect(restoreOf({ runner: { vcpus } })).toEqual({ runner: { vcpus, memoryGiB: 4 * vcpus } });
  });

  // Fargate's task sizes: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-cpu-memory-error.html
  it.each([
    [1, 2],
    [1, 8],
    [2, 4],
    [2, 16],
    [4, 8],
    [4, 30],
    [8, 16],
    [8, 60],
    [16, 32],
    [16, 120],
  ])('accepts %i vCPU(s) with %i GiB, an end of what Fargate offers', (vcpus, memoryGiB) => {
    expect(restoreOf({ runner: { vcpus, memoryGiB } })).toEqual({ runner: { vcpus, memoryGiB } });
  });

  it.each([
    [1, 1, /must be 2 to 8 GiB with 1 vCPU, the sizes Fargate offers$/m],
    [1, 9, /must be 2 to 8 GiB with 1 vCPU, the sizes Fargate offers$/m],
    [2, 3, /must be 4 to 16 GiB with 2 vCPUs, the sizes Fargate offers$/m],
    [2, 17, /must be 4 to 16 GiB with 2 vCPUs, the sizes Fargate offers$/m],
    [4, 31, /must be 8 to 30 GiB with 4 vCPUs, the sizes Fargate offers$/m],
    [8, 18, /must be 16 to 60 GiB in steps of 4 with 8 vCPUs, the sizes Fargate offers$/m],
    [8, 64, /must be 16 to 60 GiB in steps of 4 with 8 vCPUs, the sizes Fargate offers$/m],
    [16, 36, /must be 32 to 120 GiB in steps of 8 with 16 vCPUs, the sizes Fargate offers$/m],
    [16, 16, /must be 32 to 120 GiB in steps of 8 with 16 vCPUs, the sizes Fargate offers$/m],
  ])('refuses %i vCPU(s) with %i GiB, naming the sizes that go with them', (vcpus, memoryGiB, expected) => {
    const message = problemsOf((c) => (c.restore = { runner: { vcpus, memoryGiB } }));
    expect(message).toMatch(/^ {2}restore\.runner\.memoryGiB: /m);
    expect(message).toMatch(expected);
  });

  it.each([
    [
      'a vCPU count Fargate does not offer',
      { runner: { vcpus: 3 } },
      /^ {2}restore\.runner\.vcpus: must be 1, 2, 4, 8 or 16, the vCPU counts Fargate offers$/m,
    ],
    ['vCPUs as text', { runner: { vcpus: '2' } }, /^ {2}restore\.runner\.vcpus: must be 1, 2, 4, 8 or 16/m],
    ['memory that is not whole GiB', { runner: { memoryGiB: 8.5 } }, /^ {2}restore\.runner\.memoryGiB: /m],
    ['a misspelt key', { runner: { cpus: 2 } }, /^ {2}restore\.runner: Unrecognized key: "cpus"/m],
    ['a key of its own', { runners: {} }, /^ {2}restore: Unrecognized key: "runners"/m],
  ])('refuses %s', (_, restore, expected) => {
    expect(problemsOf((c) => (c.restore = restore))).toMatch(expected);
  });
});

describe("a database's runner", () => {
  const databaseOf = (entry: Record<string, unknown>) => {
    const json = exampleJson();
    Object.assign(json.databases[0], entry);
    return parseConfig(json).databases[0]!;
  };

  it('is Lambda unless told otherwise, without a Fargate size', () => {
    const shop = exampleConfig().databases[0]!;
    expect(shop.runner).toBe('lambda');
    expect(shop).not.toHaveProperty('fargate');
  });

  it('is a Fargate task of 2 vCPUs and the least memory Fargate pairs with its vCPUs unless told otherwise', () => {
    expect(databaseOf({ runner: 'fargate' })).toMatchObject({ runner: 'fargate', fargate: { vcpus: 2, memoryGiB: 4 } });
    expect(databaseOf({ runner: 'fargate', fargate: {} })).toMatchObject({ fargate: { vcpus: 2, memoryGiB: 4 } });
    for (const [vcpus, memoryGiB] of [
      [1, 2],
      [4, 8],
      [8, 16],
      [16, 32],
    ]) {
      expect(databaseOf({ runner: 'fargate', fargate: { vcpus } })).toMatchObject({ fargate: { vcpus, memoryGiB } });
    }
    expect(databaseOf({ runner: 'fargate', fargate: { vcpus: 4, memoryGiB: 30 } })).toMatchObject({ fargate: { vcpus: 4, memoryGiB: 30 } });
  });

  it.each([
    ['a runner there is none of', { runner: 'ec2' }, /^ {2}databases\[0\]\.runner: Invalid option: expected one of "lambda"\|"fargate"$/m],
    [
      'a size Fargate does not offer',
      { runner: 'fargate', fargate: { vcpus: 2, memoryGiB: 32 } },
      /^ {2}databases\[0\]\.fargate\.memoryGiB: must be 4 to 16 GiB with 2 vCPUs, the sizes Fargate offers$/m,
    ],
    [
      'a vCPU count Fargate does not offer',
      { runner: 'fargate', fargate: { vcpus: 3 } },
      /^ {2}databases\[0\]\.fargate\.vcpus: must be 1, 2, 4, 8 or 16, the vCPU counts Fargate offers$/m,
    ],
    ['a misspelt size key', { runner: 'fargate', fargate: { cpus: 2 } }, /^ {2}databases\[0\]\.fargate: Unrecognized key: "cpus"/m],
    [
      'a Fargate size for a Lambda database',
      { fargate: { vcpus: 2 } },
      /^ {2}databases\[0\]\.fargate: sizes the Fargate task: only with "runner": "fargate"$/m,
    ],
  ])('refuses %s, naming the field', (_, entry, expected) => {
    expect(problemsOf((c) => Object.assign(c.databases[0], entry))).toMatch(expected);
  });

  it('refuses Fargate in a network that reaches AWS only through the endpoints Lifeline creates', () => {
    // warehouse is in "analytics", which has createEndpoints: no ECR, CloudWatch Logs, CloudWatch or SQS.
    expect(problemsOf((c) => (c.databases[1].runner = 'fargate'))).toMatch(
      /^ {2}databases\[1\]\.runner: "fargate" needs ECR, CloudWatch Logs, CloudWatch and SQS, which network "analytics" cannot reach: .*use "lambda", or a network with NAT$/m,
    );
  });
});

describe('a bad config names the field', () => {
  const cases: [string, (config: Record<string, any>) => void, RegExp][] = [
    ['a missing section', (c) => delete c.notifications, /^ {2}notifications: /m],
    ['a misspelt key', (c) => (c.databases[0].scheduel = c.databases[0].schedule), /^ {2}databases\[0\]: Unrecognized key: "scheduel"/m],
    ['a bad e-mail address', (c) => (c.notifications.emails = ['oncall']), /^ {2}notifications\.emails\[0\]: /m],
    ['no e-mail address', (c) => (c.notifications.emails = []), /^ {2}notifications\.emails: /m],
    ['a config name that cannot prefix resources', (c) => (c.name = 'Life Line'), /^ {2}name: must be 1-20 lowercase/m],
    ['a bad account id', (c) => (c.aws = { account: '1234', region: 'eu-west-1' }), /^ {2}aws\.account: must be a 12-digit account id/m],
    ['a database name with a slash', (c) => (c.databases[0].name = 'shop/eu'), /^ {2}databases\[0\]\.name: must be 1-63 letters/m],
    ['a duplicate database name', (c) => (c.databases[1].name = 'shop'), /^ {2}databases\[1\]\.name: database name "shop" is used twice/m],
    [
      'a function name over 64 characters',
      (c) => (c.databases[0].name = 'a'.repeat(49)),
      /^ {2}databases\[0\]\.name: makes the function name "lifeline-backup-a+" longer than 64/m,
    ],
    [
      'a drill schedule name over 64 characters, which Scheduler would refuse (cut, two would collide)',
      (c) => {
        c.drill = {};
        c.databases[0].name = 'a'.repeat(44);
      },
      /^ {2}databases\[0\]\.name: makes the drill schedule name "lifeline-drill-check-a+" longer than 64/m,
    ],
    [
      'a secret ARN without its suffix',
      (c) => (c.databases[0].secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop'),
      /^ {2}databases\[0\]\.secretArn: must be the complete Secrets Manager secret ARN/m,
    ],
    [
      'a secret key that is not a KMS key ARN',
      (c) => (c.databases[1].secretKmsKeyArn = 'alias/secrets'),
      /^ {2}databases\[1\]\.secretKmsKeyArn: must be a KMS key ARN/m,
    ],
    [
      'both an instance and a cluster',
      (c) => (c.databases[0].rds = { instanceIdentifier: 'a', clusterIdentifier: 'b' }),
      /^ {2}databases\[0\]\.rds: /m,
    ],
    ['a bad RDS identifier', (c) => (c.databases[0].rds = { instanceIdentifier: '1-shop' }), /^ {2}databases\[0\]\.rds/m],
    ['an unknown network', (c) => (c.databases[0].network = 'staging'), /^ {2}databases\[0\]\.network: no network named "staging"/m],
    [
      'a bad security group id',
      (c) => (c.databases[0].securityGroupId = 'default'),
      /^ {2}databases\[0\]\.securityGroupId: must be a security group id/m,
    ],
    ['a port out of range', (c) => (c.databases[0].port = 70000), /^ {2}databases\[0\]\.port: /m],
    [
      'a host that is no DNS name',
      (c) => (c.databases[0].host = 'shop db'),
      /^ {2}databases\[0\]\.host: must be a DNS name or an IP address/m,
    ],
    [
      "a database without its host where only Lifeline's endpoints reach AWS (no RDS API)",
      (c) => delete c.databases[1].host,
      /^ {2}databases\[1\]\.host: required: network "analytics" reaches AWS through the endpoints Lifeline creates, which do not include the RDS API/m,
    ],
    [
      "a database without its name where only Lifeline's endpoints reach AWS",
      (c) => delete c.databases[1].databaseName,
      /^ {2}databases\[1\]\.databaseName: required: /m,
    ],
    [
      'a PostgreSQL version without a pg_dump',
      (c) => (c.databases[0].postgresVersion = 18),
      /^ {2}databases\[0\]\.postgresVersion: must be at most 17, the newest pg_dump/m,
    ],
    ['a PostgreSQL version too old', (c) => (c.databases[0].postgresVersion = 11), /^ {2}databases\[0\]\.postgresVersion: /m],
    [
      'a cron with five fields',
      (c) => (c.databases[0].schedule.cron = '30 2 * * *'),
      /^ {2}databases\[0\]\.schedule\.cron: must have six fields/m,
    ],
    ['a weekly cron', (c) => (c.databases[0].schedule.cron = '30 2 ? * MON *'), /^ {2}databases\[0\]\.schedule\.cron: must run every day/m],
    [
      'a cron without "?"',
      (c) => (c.databases[0].schedule.cron = '30 2 * * * *'),
      /^ {2}databases\[0\]\.schedule\.cron: exactly one of day-of-month and day-of-week must be "\?"/m,
    ],
    [
      'a cron with letters in the hours',
      (c) => (c.databases[0].schedule.cron = '30 two * * ? *'),
      /^ {2}databases\[0\]\.schedule\.cron: minutes and hours/m,
    ],
    [
      'a cron hour out of range',
      (c) => (c.databases[0].schedule.cron = '30 24 * * ? *'),
      /^ {2}databases\[0\]\.schedule\.cron: minutes and hours may only hold values 0-59 and 0-23/m,
    ],
    [
      'a cron time daylight saving skips',
      (c) => (c.databases[0].schedule = { cron: '30 2 * * ? *', timeZone: 'Europe/Berlin' }),
      /^ {2}databases\[0\]\.schedule\.cron: 02:30 does not exist in Europe\/Berlin on \d{4}-03-(2[5-9]|3[01]) \(clocks skip 02:00-03:00\), so EventBridge Scheduler would skip that run; pick a time outside 02:00-03:00, such as 03:30$/m,
    ],
    [
      'a time zone that does not exist',
      (c) => (c.databases[0].schedule.timeZone = 'Europe/Atlantis'),
      /^ {2}databases\[0\]\.schedule\.timeZone: must be an IANA time zone/m,
    ],
    ['an RPO beyond what an alarm can evaluate', (c) => (c.databases[0].rpoHours = 169), /^ {2}databases\[0\]\.rpoHours: /m],
    ['an unknown run mode', (c) => (c.databases[0].runMode = 'weekly'), /^ {2}databases\[0\]\.runMode: /m],
    ['a bad VPC id', (c) => (c.networks[0].vpcId = 'vpc-xyz'), /^ {2}networks\[0\]\.vpcId: must be a VPC id/m],
    ['no subnets', (c) => (c.networks[0].subnetIds = []), /^ {2}networks\[0\]\.subnetIds: /m],
    [
      'a bad route table id',
      (c) => (c.networks[1].createEndpoints.routeTableIds = ['main']),
      /^ {2}networks\[1\]\.createEndpoints\.routeTableIds\[0\]: must be a route table id/m,
    ],
    [
      "endpoints without the VPC's CIDR blocks",
      (c) => delete c.networks[1].createEndpoints.vpcCidrs,
      /^ {2}networks\[1\]\.createEndpoints\.vpcCidrs: /m,
    ],
    [
      'a VPC CIDR that is no CIDR',
      (c) => (c.networks[1].createEndpoints.vpcCidrs = ['10.1.0.0']),
      /^ {2}networks\[1\]\.createEndpoints\.vpcCidrs\[0\]: must be an IPv4 CIDR block such as "10\.0\.0\.0\/16"/m,
    ],
    [
      'a VPC CIDR with host bits',
      (c) => (c.networks[1].createEndpoints.vpcCidrs = ['10.1.2.3/16']),
      /^ {2}networks\[1\]\.createEndpoints\.vpcCidrs\[0\]: must be the block's network address, "10\.1\.0\.0\/16"/m,
    ],
    [
      'a CIDR wider than any VPC',
      (c) => (c.networks[1].createEndpoints.vpcCidrs = ['0.0.0.0/0']),
      /^ {2}networks\[1\]\.createEndpoints\.vpcCidrs\[0\]: must be a \/16 to \/28 block, the sizes a VPC's CIDR blocks have/m,
    ],
    [
      'a duplicate network name',
      (c) => (c.networks[1].name = 'production'),
      /^ {2}networks\[1\]\.name: network name "production" is used twice/m,
    ],
    ['an unknown Object Lock mode', (c) => (c.vault.objectLock.mode = 'LEGAL_HOLD'), /^ {2}vault\.objectLock\.mode: /m],
    [
      "a lock period, which each backup's tier decides",
      (c) => (c.vault.objectLock.days = 7),
      /^ {2}vault\.objectLock: Unrecognized key: "days"/m,
    ],
    [
      'a shrink threshold no drop can exceed',
      (c) => (c.databases[0].shrinkAlarmPercent = 100),
      /^ {2}databases\[0\]\.shrinkAlarmPercent: /m,
    ],
    ['no approvers', (c) => (c.approval.emails = []), /^ {2}approval\.emails: /m],
    [
      'an application on an unknown database',
      (c) => (c.applications[0].database = 'orders'),
      /^ {2}applications\[0\]\.database: no database named "orders"/m,
    ],
    [
      'a health check that is not a URL',
      (c) => (c.applications[0].healthCheckUrl = 'shop/health'),
      /^ {2}applications\[0\]\.healthCheckUrl: /m,
    ],
    [
      'an application without a workload to restart',
      (c) => delete c.applications[0].ecs,
      /^ {2}applications\[0\]\.ecs: required: an ECS service or lambdaFunctions/m,
    ],
    ['an unknown freeze mode', (c) => (c.applications[0].freeze = { mode: 'maintenance' }), /^ {2}applications\[0\]\.freeze\.mode: /m],
    [
      'a parameter freeze without its parameter',
      (c) => (c.applications[0].freeze = { mode: 'parameter' }),
      /^ {2}applications\[0\]\.freeze\.parameterName: /m,
    ],
    [
      'a health check window over the ten minutes one check may run',
      (c) => (c.applications[0].healthCheckWindowSeconds = 3600),
      /^ {2}applications\[0\]\.healthCheckWindowSeconds: /m,
    ],
  ];

  it.each(cases)('%s', (_, change, expected) => {
    const message = problemsOf(change);
    expect(message).toMatch(/^lifeline\.config\.json is invalid:\n/);
    expect(message).toMatch(expected);
  });

  it('lists every problem at once', () => {
    const message = problemsOf((c) => {
      c.databases[0].port = 0;
      c.networks[0].vpcId = 'x';
    });
    expect(message).toMatch(/databases\[0\]\.port: /);
    expect(message).toMatch(/networks\[0\]\.vpcId: /);
  });

  it('too few backup stacks for the databases, with the count that fits', () => {
    const message = problemsOf((c) => {
      const [template] = c.databases;
      c.databases = Array.from({ length: 120 }, (_, i) => ({ ...template, name: `db-${i}` }));
      c.applications = [];
      c.backupStacks = 2;
    });
    expect(message).toMatch(/^ {2}backupStacks: 2 would put \d+ databases in one stack, over the 50 that fit; set it to (\d+) or more/m);
    const enough = Number(/set it to (\d+)/.exec(message)![1]);
    expect(() =>
      problemsOf((c) => {
        const [template] = c.databases;
        c.databases = Array.from({ length: 120 }, (_, i) => ({ ...template, name: `db-${i}` }));
        c.applications = [];
        c.backupStacks = enough;
      }),
    ).toThrow('the config was accepted');
  });
});

describe('a schedule at a time daylight saving skips', () => {
  /** The validation error for the first database on this schedule, or undefined when the config is accepted. */
  function scheduleProblem(cron: string, timeZone: string): string | undefined {
    const json = exampleJson();
    json.databases[0].schedule = { cron, timeZone };
    try {
      parseConfig(json);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }

  it.each([
    [
      '30 2 * * ? *',
      'America/New_York',
      /02:30 does not exist in America\/New_York on \d{4}-03-(0[89]|1[0-4]) \(clocks skip 02:00-03:00\)/,
    ],
    ['30 2 * * ? *', 'Pacific/Auckland', /02:30 does not exist in Pacific\/Auckland on \d{4}-09-(2[4-9]|30) \(clocks skip 02:00-03:00\)/],
    [
      '15 2 * * ? *',
      'Australia/Lord_Howe',
      /02:15 does not exist in Australia\/Lord_Howe on \d{4}-10-0[1-7] \(clocks skip 02:00-02:30\).*such as 02:45$/m,
    ],
    ['30 0 * * ? *', 'America/Santiago', /00:30 does not exist in America\/Santiago on \d{4}-09-0[2-8] \(clocks skip 00:00-01:00\)/],
    ['0 1-3 * * ? *', 'Europe/Berlin', /cron: 02:00 does not exist in Europe\/Berlin/],
    ['15 */2 * * ? *', 'Europe/Berlin', /cron: 02:15 does not exist in Europe\/Berlin/],
    [
      '0,45 0/2 * * ? *',
      'Europe/Berlin',
      /cron: 02:00, 02:45 do not exist in Europe\/Berlin .*, so EventBridge Scheduler would skip those runs;/,
    ],
  ])('refuses %s in %s', (cron, timeZone, expected) => {
    expect(scheduleProblem(cron, timeZone)).toMatch(expected);
  });

  it.each([
    ['30 3 * * ? *', 'Europe/Berlin'],
    ['15 0/5 * * ? *', 'Europe/Berlin'],
    ['0 2 * * ? *', 'Europe/London'],
    ['45 2 * * ? *', 'Australia/Lord_Howe'],
    ['30 2 * * ? *', 'UTC'],
    ['30 2 * * ? *', 'Asia/Kolkata'],
  ])('accepts %s in %s', (cron, timeZone) => {
    expect(scheduleProblem(cron, timeZone)).toBeUndefined();
  });
});

describe('loading a config file', () => {
  it('names the file when it is missing or not JSON', () => {
    expect(() => loadConfig(join(scratch, 'missing.json'))).toThrow(/cannot read the Lifeline config .*missing\.json/);
    const broken = join(scratch, 'broken.json');
    writeFileSync(broken, '{ "name": ');
    expect(() => loadConfig(broken)).toThrow(/broken\.json is not valid JSON/);
  });

  it('stops `cdk synth` with the field named and no stack trace', () => {
    const bad = exampleJson();
    bad.databases[0].schedule.timeZone = 'Mars/Olympus';
    const file = join(scratch, 'bad.json');
    writeFileSync(file, JSON.stringify(bad));
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
      cwd: root,
      env: { ...process.env, LIFELINE_CONFIG: file, CDK_OUTDIR: join(scratch, 'cdk.out') },
      encoding: 'utf8',
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('databases[0].schedule.timeZone: must be an IANA time zone');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('applications that would switch each other', () => {
  const SHOP_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-api/database-Xy12Ab';
  /** A second application beside the example's shop-api, on resources of its own unless `change` shares one. */
  const withAdmin = (change: (admin: Record<string, any>, shopApi: Record<string, any>) => void) =>
    problemsOf((c) => {
      const admin = {
        ...c.applications[0],
        name: 'shop-admin',
        connectionSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-admin/database-Ad34Ef',
        ecs: { cluster: 'production', service: 'shop-admin' },
      };
      change(admin, c.applications[0]);
      c.applications.push(admin);
    });

  it('refuses, at synth, two applications on one connection secret, naming both', () => {
    expect(withAdmin((admin) => (admin.connectionSecretArn = SHOP_SECRET))).toBe(
      'lifeline.config.json is invalid:\n' +
        `  applications[1].connectionSecretArn: shop-api and shop-admin are both configured on the connection secret ${SHOP_SECRET}: a cutover of one would switch the other too; give each application its own secret, or make them one application`,
    );
  });

  it('refuses two applications on one ECS service, by name or by ARN', () => {
    expect(
      withAdmin((admin) => (admin.ecs = { cluster: 'arn:aws:ecs:eu-west-1:123456789012:cluster/production', service: 'shop-api' })),
    ).toBe(
      'lifeline.config.json is invalid:\n' +
        "  applications[1].ecs: shop-api and shop-admin are both configured on the ECS service shop-api in cluster arn:aws:ecs:eu-west-1:123456789012:cluster/production: a cutover of one would restart the other's tasks onto its own connection; configure the service for one application only",
    );
    // The same service name in another cluster is another service.
    expect(() => withAdmin((admin) => (admin.ecs = { cluster: 'staging', service: 'shop-api' }))).toThrow('the config was accepted');
  });

  it('refuses two applications on one Lambda function, by name or by ARN', () => {
    const message = withAdmin((admin, shopApi) => {
      shopApi.lambdaFunctions = ['shop-worker'];
      admin.lambdaFunctions = ['shop-mailer', 'arn:aws:lambda:eu-west-1:123456789012:function:shop-worker'];
    });
    expect(message).toBe(
      'lifeline.config.json is invalid:\n' +
        "  applications[1].lambdaFunctions[1]: shop-api and shop-admin are both configured on the Lambda function arn:aws:lambda:eu-west-1:123456789012:function:shop-worker: a cutover of one would restart the other's function onto its own connection; configure the function for one application only",
    );
  });
});

describe('the pg_dump for a server', () => {
  it("is the server's own major version, or the oldest packaged one for older servers", () => {
    expect([12, 13, 14, 15, 16, 17].map(clientMajorFor)).toEqual([15, 15, 15, 15, 16, 17]);
    expect(() => clientMajorFor(18)).toThrow('no packaged pg_dump can back up PostgreSQL 18');
  });
});
