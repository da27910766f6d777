import { describe, expect, it } from 'vitest';
import { tableCheckLog } from '../../../../lambdas/core/restore/validation.js';

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
