import { describe, expect, it } from 'vitest';
import { LifelineError } from '../../../../lambdas/core/errors.js';
import { parseInput } from '../../../../lambdas/core/validation.js';
import { CutoverInput } from '../../../../lambdas/core/cutover/input.js';
import { defaultTargetName, RestoreInput } from '../../../../lambdas/core/restore/input.js';

const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:lifeline/replica-admin-AbC123';
const KEY = 'daily/shop/2026/11/23/shop-20261123T105037.123Z.dump';

/** The InvalidInput message parseInput throws for `value`, or undefined when it parses. */
function refusal(value: unknown, schema: typeof RestoreInput | typeof CutoverInput = RestoreInput): string | undefined {
  try {
    parseInput(schema, value, 'restore input');
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(LifelineError);
    expect((error as LifelineError).name).toBe('InvalidInput');
    return (error as Error).message;
  }
}

describe('restore workflow input', () => {
  it('takes {"database": "shop"} alone, with nothing kept on failure and nothing in place', () => {
    expect(parseInput(RestoreInput, { database: 'shop' }, 'restore input')).toEqual({
      database: 'shop',
      askApproval: false,
      inPlace: false,
      keepOnFailure: false,
      runMigrations: true,
    });
  });

  it('takes every option together', () => {
    const input = {
      database: 'shop',
      at: '2026-11-23T11:50:00+01:00',
      target: { database: 'shop_investigation', serverSecretArn: SECRET },
      tables: ['orders', 'order_lines'],
      schemas: ['public'],
      jobs: 4,
      smokeChecks: [{ name: 'orders exist', sql: 'SELECT count(*) > 0 FROM orders' }],
      keepOnFailure: true,
    };
    expect(parseInput(RestoreInput, input, 'restore input')).toEqual({ ...input, askApproval: false, inPlace: false, runMigrations: true });
    expect(
      parseInput(RestoreInput, { database: 'shop', key: KEY, cutover: 'shop-api', approvalTimeoutHours: 4 }, 'restore input'),
    ).toMatchObject({
      key: KEY,
      cutover: 'shop-api',
    });
    expect(parseInput(RestoreInput, { database: 'shop', inPlace: true, approvalTimeoutHours: 2 }, 'restore input')).toMatchObject({
      inPlace: true,
    });
    expect(parseInput(RestoreInput, { database: 'shop', askApproval: true, approvalTimeoutHours: 2 }, 'restore input')).toMatchObject({
      askApproval: true,
      approvalTimeoutHours: 2,
    });
  });

  it('names the field of each kind of bad input', () => {
    const cases: [unknown, RegExp][] = [
      [undefined, /expected object/],
      [{}, /database: .*expected string/i],
      [{ database: 'shop/eu' }, /database: must be 1-63 letters/],
      [{ database: 'shop', colour: 'red' }, /Unrecognized key: "colour"/],
      [{ database: 'shop', target: { database: 'x', host: 'db.example.com' } }, /target: Unrecognized key: "host"/],
      [{ database: 'shop', key: KEY, at: '2026-11-23T10:50:00Z' }, /at: give key or at, not both/],
      [{ database: 'shop', key: 'daily/other/2026/11/23/other-20261123T105037.123Z.dump' }, /key: must be a backup key of "shop"/],
      [{ database: 'shop', key: 'shop.dump' }, /key: must be a backup key of "shop"/],
      [{ database: 'shop', at: '2026-11-23T10:50:00' }, /at: must be an ISO 8601 time with a zone/],
      [{ database: 'shop', at: 'yesterday' }, /at: must be an ISO 8601 time with a zone/],
      [
        { database: 'shop', target: { database: 'shop' } },
        /target\.database: is the source database: restoring into it needs "inPlace": true/,
      ],
      [{ database: 'shop', target: { database: '1st"; DROP' } }, /target\.database: must be 1-63 letters/],
      [
        { database: 'shop', target: { serverSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:admin' } },
        /target\.serverSecretArn: must be the complete Secrets Manager secret ARN/,
      ],
      [{ database: 'shop', inPlace: true, target: { database: 'other' } }, /target: must be left out with inPlace/],
      [{ database: 'shop', inPlace: true, tables: ['orders'] }, /tables: table-level recovery goes into a side database/],
      [{ database: 'shop', inPlace: 'yes' }, /inPlace: .*expected boolean/i],
      [{ database: 'shop', tables: [] }, /tables: .*>=1 items/],
      [{ database: 'shop', schemas: [''] }, /schemas\[0\]: /],
      [{ database: 'shop', tables: ['orders'], cutover: 'shop-api' }, /cutover: a table-level restore is a side database/],
      [{ database: 'shop', jobs: 0 }, /jobs: .*>=1/],
      [{ database: 'shop', jobs: 2.5 }, /jobs: .*int/i],
      [{ database: 'shop', smokeChecks: [{ name: 'ok', sql: '   ' }] }, /smokeChecks\[0\]\.sql: must not be empty/],
      [{ database: 'shop', smokeChecks: [{ name: 'ok', query: 'SELECT true' }] }, /smokeChecks\[0\]: Unrecognized key: "query"/],
      [
        {
          database: 'shop',
          smokeChecks: [
            { name: 'a', sql: 'SELECT true' },
            { name: 'a', sql: 'SELECT 1 = 1' },
          ],
        },
        /smokeChecks\[1\]\.name: "a" is used twice/,
      ],
      [{ database: 'shop', approvalTimeoutHours: 4 }, /approvalTimeoutHours: applies only with cutover, inPlace or askApproval/],
      [{ database: 'shop', askApproval: true, cutover: 'shop-api' }, /askApproval: must be left out with cutover, which always asks/],
      [
        { database: 'shop', askApproval: true, inPlace: true },
        /askApproval: must be left out with inPlace, which asks its approval before/,
      ],
      [{ database: 'shop', cutover: 'shop-api', approvalTimeoutHours: 200 }, /approvalTimeoutHours: .*<=168/],
      [{ database: 'shop', cutover: 'Shop API' }, /cutover: must be 1-32 lowercase letters/],
      [
        { database: 'a'.repeat(40) },
        /target\.database: required: the default name "a{40}_restored_<yyyymmddhhmmss>" would pass PostgreSQL's 63 characters/,
      ],
      [{ database: 'shop', tables: ['billing.invoices.lines'] }, /tables\[0\]: must be a table name or schema\.table/],
      [{ database: 'shop', tables: ['"Billing"."Invoice Line'] }, /tables\[0\]: must be a table name or schema\.table/],
      [{ database: 'shop', schemas: ['a.b'] }, /schemas\[0\]: must be a schema name/],
      [{ database: 'shop', target: { database: 'postgres' } }, /target\.database: "postgres" is the server's maintenance database/],
      [{ database: 'shop', target: { database: 'template1' } }, /target\.database: "template1" is a template database/],
      [{ database: 'shop', target: { database: 'template0' } }, /a restore never writes into it: name a new database/],
      [{ database: 'shop', keepOnFailure: 'true' }, /keepOnFailure: .*expected boolean/i],
      [{ database: 'shop', markRolledBack: [] }, /markRolledBack: .*>=1 items/],
      [{ database: 'shop', markRolledBack: ['x'.repeat(256)] }, /markRolledBack\[0\]: .*<=255 characters/],
      [{ database: 'shop', markRolledBack: ['a', 'b', 'a'] }, /markRolledBack\[2\]: "a" is named twice/],
      [{ database: 'shop', schemas: ['app'], markRolledBack: ['a'] }, /markRolledBack: a table-level restore leaves out/],
    ];
    for (const [input, expected] of cases) {
      expect(refusal(input), JSON.stringify(input)).toMatch(expected);
    }
  });

  it('reports every problem of one input at once', () => {
    const message = refusal({ database: 'shop', key: KEY, at: '2026-11-23T10:50:00Z', jobs: 100, extra: 1 });
    expect(message).toMatch(/Unrecognized key: "extra"/);
    expect(message).toMatch(/jobs: /);
  });

  it('names the default target after the source and the UTC second the execution started', () => {
    expect(defaultTargetName('shop', new Date('2026-11-23T10:50:37.123Z'))).toBe('shop_restored_20261123105037');
    // Two executions of one minute: a database each.
    expect(defaultTargetName('shop', new Date('2026-11-23T10:50:38.001Z'))).toBe('shop_restored_20261123105038');
    expect(defaultTargetName('a'.repeat(39), new Date('2026-01-02T03:04:05Z'))).toHaveLength(63);
    expect(parseInput(RestoreInput, { database: 'a'.repeat(39) }, 'restore input')).toMatchObject({ database: 'a'.repeat(39) });
  });

  it('takes schema-qualified table names, quoted where a part holds a dot, a quote or a space', () => {
    const tables = [
      'orders',
      'billing.invoices',
      '"Billing"."Invoice Line"',
      '"odd.schema"."say ""hi"""',
      `${'s'.repeat(63)}.${'t'.repeat(63)}`,
    ];
    expect(parseInput(RestoreInput, { database: 'shop', tables, schemas: ['"Billing"', 'billing'] }, 'restore input')).toMatchObject({
      tables,
      schemas: ['"Billing"', 'billing'],
    });
  });
});

describe('cutover hand-over input', () => {
  it('takes a database by its own secret or by name on a server', () => {
    expect(CutoverInput.parse({ application: 'shop-api', database: { secretArn: SECRET } })).toEqual({
      application: 'shop-api',
      database: { secretArn: SECRET },
    });
    const handOver = {
      application: 'shop-api',
      database: { serverSecretArn: SECRET, name: 'shop_restored_202611231050' },
      origin: { workflow: 'restore', executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:restore:x', backupKey: KEY },
      approval: { approver: 'arn:aws:sts::123456789012:assumed-role/oncall/alice', comment: null, decidedAt: '2026-11-23T11:00:00Z' },
    };
    // Left out, the application's configured freeze decides.
    expect(CutoverInput.parse(handOver)).toEqual(handOver);
  });

  it('names the field of each kind of bad input', () => {
    const cases: [unknown, RegExp][] = [
      [{ database: { secretArn: SECRET } }, /application: /],
      [{ application: 'shop-api' }, /database: /],
      [{ application: 'shop-api', database: { secretArn: SECRET, name: 'x' } }, /database: /],
      [{ application: 'shop-api', database: { name: 'x' } }, /database: /],
      [
        { application: 'shop-api', database: { secretArn: SECRET }, origin: { workflow: 'drill', executionArn: null, backupKey: null } },
        /origin\.workflow: /,
      ],
      [
        {
          application: 'shop-api',
          database: { secretArn: SECRET },
          approval: { approver: '', comment: null, decidedAt: '2026-11-23T11:00:00Z' },
        },
        /approval\.approver: /,
      ],
      [{ application: 'shop-api', database: { secretArn: SECRET }, freeze: true }, /Unrecognized key: "freeze"/],
    ];
    for (const [input, expected] of cases) {
      expect(refusal(input, CutoverInput), JSON.stringify(input)).toMatch(expected);
    }
  });
});
