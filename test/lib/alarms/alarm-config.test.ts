import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../lib/config/load.js';
import { exampleJson } from '../../support/stacks.js';

/** The config's problems once `change` bent the example, or a failure when it is accepted. */
function problemsOf(change: (config: Record<string, any>) => void): string {
  const json = exampleJson();
  change(json);
  try {
    parseConfig(json, 'lifeline.config.json');
  } catch (error) {
    expect(error).toMatchObject({ name: 'InvalidConfig' });
    return (error as Error).message;
  }
  throw new Error('the config was accepted');
}

const shopAlarm = (alarm: Record<string, unknown>) => (json: Record<string, any>) => {
  json.databases[0].alarms = [alarm];
};

describe("a database's alarms in the config", () => {
  it('default to none, and an alarm to no look back', () => {
    const json = exampleJson();
    delete json.databases[1].alarms;
    json.databases[0].alarms = [{ alarmName: 'shop-api-5xx-rate', action: 'prepare-pitr' }];
    const config = parseConfig(json);
    expect(config.databases[1]!.alarms).toEqual([]);
    expect(config.databases[0]!.alarms).toEqual([{ alarmName: 'shop-api-5xx-rate', action: 'prepare-pitr', lookbackMinutes: 0 }]);
  });

  it('refuse prepare-pitr without `pitr` and prepare-restore without `restore`, at the action', () => {
    expect(
      problemsOf((json) => {
        delete json.pitr;
        shopAlarm({ alarmName: 'shop-api-5xx-rate', action: 'prepare-pitr' })(json);
      }),
    ).toContain('databases[0].alarms[0].action: "prepare-pitr" needs `pitr`: it starts the point-in-time recovery workflow');
    expect(
      problemsOf((json) => {
        delete json.pitr;
        delete json.restore;
        shopAlarm({ alarmName: 'shop-api-5xx-rate', action: 'prepare-restore' })(json);
      }),
    ).toContain('databases[0].alarms[0].action: "prepare-restore" needs `restore`: it starts the restore workflow');
  });

  it('refuse a backup alarm on a Fargate database, and a look back or cutover on a backup', () => {
    expect(
      problemsOf((json) => {
        json.databases[0].runner = 'fargate';
        shopAlarm({ alarmName: 'shop-replication-lag', action: 'backup', lookbackMinutes: 5, cutover: 'shop-api' })(json);
      }),
    ).toMatch(
      /databases\[0\]\.alarms\[0\]\.action: "backup" invokes the backup function, and a database with "runner": "fargate" has none\n.*databases\[0\]\.alarms\[0\]\.lookbackMinutes: applies to "prepare-restore" and "prepare-pitr" only\n.*databases\[0\]\.alarms\[0\]\.cutover: applies to "prepare-restore" and "prepare-pitr" only/s,
    );
  });

  it('refuse an alarm configured twice, and one of Lifeline’s own staleness alarms', () => {
    expect(
      problemsOf((json) => {
        json.databases[0].alarms = [{ alarmName: 'db-errors', action: 'backup' }];
        json.databases[1].alarms = [{ alarmName: 'db-errors', action: 'prepare-pitr' }];
      }),
    ).toMatch(
      /databases\[0\]\.alarms\[0\]\.alarmName: "db-errors" is configured twice.*\n.*databases\[1\]\.alarms\[0\]\.alarmName: "db-errors" is configured twice/,
    );
    expect(problemsOf(shopAlarm({ alarmName: 'lifeline-warehouse-backup-stale', action: 'prepare-pitr' }))).toContain(
      `databases[0].alarms[0].alarmName: "lifeline-warehouse-backup-stale" is Lifeline's own staleness alarm, which starts a backup already`,
    );
  });

  it('refuse a cutover of an application of another database, and leave no choice open between several', () => {
    expect(problemsOf(shopAlarm({ alarmName: 'a', action: 'prepare-pitr', cutover: 'billing' }))).toContain(
      'databases[0].alarms[0].cutover: no application named "billing" uses database "shop"',
    );
    expect(
      problemsOf((json) => {
        json.applications.push({
          ...json.applications[0],
          name: 'shop-admin',
          connectionSecretArn: json.applications[0].connectionSecretArn.replace('shop-api', 'shop-admin'),
          ecs: { cluster: 'production', service: 'shop-admin' },
        });
        shopAlarm({ alarmName: 'a', action: 'prepare-restore' })(json);
      }),
    ).toContain('databases[0].alarms[0].cutover: required: "shop-api" and "shop-admin" use "shop"; name the one to switch');
  });

  it('refuse an alarm whose workflow input the workflow would refuse, with its reason', () => {
    expect(
      problemsOf((json) => {
        json.databases[0].name = `shop_${'x'.repeat(40)}`;
        json.applications[0].database = json.databases[0].name;
        shopAlarm({ alarmName: 'a', action: 'prepare-restore' })(json);
      }),
    ).toMatch(
      /databases\[0\]\.alarms\[0\]\.action: "prepare-restore" cannot start for database "shop_x+": invalid restore input: target\.database: required/,
    );
  });

  it('refuse an alarm name CloudWatch would not take, and a look back past a week', () => {
    expect(problemsOf(shopAlarm({ alarmName: 'x'.repeat(256), action: 'backup' }))).toContain('databases[0].alarms[0].alarmName');
    expect(problemsOf(shopAlarm({ alarmName: 'shop\nalarm', action: 'backup' }))).toContain('databases[0].alarms[0].alarmName');
    expect(problemsOf(shopAlarm({ alarmName: 'a', action: 'prepare-pitr', lookbackMinutes: 10_081 }))).toContain(
      'databases[0].alarms[0].lookbackMinutes',
    );
    expect(problemsOf(shopAlarm({ alarmName: 'a', action: 'restore' }))).toContain('databases[0].alarms[0].action');
  });
});
