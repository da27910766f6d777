import { describe, expect, it } from 'vitest';
import { MAX_SMOKE_CHECK_ERROR_LENGTH, smokeCheckError, tableCheckLog } from '../../../../lambdas/core/restore/validation.js';

describe("a validation's table checks, kept in the log", () => {
  it('are written in pages that each fit a log event, and the report says where', () => {
    const lines: { page: number; pages: number; tables: unknown[] }[] = [];
    const log = tableCheckLog((line) => lines.push(line), 'CloudWatch Logs /aws/lambda/lifeline-restore1-private');
    const table = { schema: 'public', name: 't', rows: 1, expectedRows: 1, exact: true, ok: true };
    const where = log(
      'arn:aws:states:eu-west-1:123456789012:execution:lifeline-restore:x',
      Array.from({ length: 1001 }, () => table),
    );
    expect(lines.map(({ page, pages, tables }) => [page, pages, tables.length])).toEqual([
      [1, 3, 500],
      [2, 3, 500],
      [3, 3, 1],
    ]);
    expect(where).toBe(
      'CloudWatch Logs /aws/lambda/lifeline-restore1-private: the 3 "validation tables" lines of execution arn:aws:states:eu-west-1:123456789012:execution:lifeline-restore:x',
    );
  });
});

describe("a failed smoke check's error, as the report tells it", () => {
  const settings = {
    host: 'db.internal',
    port: 5432,
    user: 'shop_app',
    password: 'hunter2-secret',
    database: 'shop_restored',
    sslMode: 'prefer' as const,
  };
  const pgError = (message: string, fields: Record<string, string> = {}) => Object.assign(new Error(message), fields);

  it("keeps PostgreSQL's message line and SQLSTATE, without what it quotes: a bad cast quotes the value", () => {
    const cast = pgError('invalid input syntax for type integer: "sk_live_4eC39HqLyjWDarjtT1zdp7dc"', { code: '22P02' });
    expect(smokeCheckError(cast, settings)).toBe('failed: invalid input syntax for type integer: "..." (SQLSTATE 22P02)');
    // A value with quotes of its own is left out whole, from the first quote to the last.
    const quoted = pgError('value "a "quoted" sk_live_x" is out of range for type integer', { code: '22003' });
    expect(smokeCheckError(quoted, settings)).toBe('failed: value "..." is out of range for type integer (SQLSTATE 22003)');
    const unclosed = pgError('invalid input syntax for type json: "sk_live_first line\nsecond line"', { code: '22P02' });
    expect(smokeCheckError(unclosed, settings)).toBe('failed: invalid input syntax for type json: "..." (SQLSTATE 22P02)');
  });

  it('never tells DETAIL (a unique violation quotes the key and its value), nor a function raising what it read', () => {
    const unique = pgError('duplicate key value violates unique constraint "accounts_email_key"', {
      code: '23505',
      detail: 'Key (email)=(alice@example.com) already exists.',
    });
    expect(smokeCheckError(unique, settings)).toBe('failed: duplicate key value violates unique constraint "..." (SQLSTATE 23505)');
    const raised = pgError('found sk_live_4eC39HqLyjWDarjtT1zdp7dc in accounts', {
      code: 'P0001',
      where: 'PL/pgSQL function leak() line 3 at RAISE',
    });
    expect(smokeCheckError(raised, settings)).toBe(
      'failed: a function raised an error (SQLSTATE P0001); its message is left out, since it may quote the rows',
    );
    const customCode = pgError('sk_live_4eC39HqLyjWDarjtT1zdp7dc', { code: '22000', where: 'PL/pgSQL function leak() line 3 at RAISE' });
    expect(smokeCheckError(customCode, settings)).not.toContain('sk_live');
  });

  it('is at most 200 characters of message, with the password redacted', () => {
    const long = pgError(`syntax error at or near ${'x'.repeat(500)}`, { code: '42601' });
    const told = smokeCheckError(long, settings);
    expect(told).toBe(
      `failed: ${`syntax error at or near ${'x'.repeat(500)}`.slice(0, MAX_SMOKE_CHECK_ERROR_LENGTH - 3)}... (SQLSTATE 42601)`,
    );
    expect(smokeCheckError(pgError('password hunter2-secret was refused'), settings)).not.toContain('hunter2-secret');
  });
});
