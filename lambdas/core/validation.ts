import { z } from 'zod';
import { LifelineError, type LifelineErrorName } from './errors.js';

/**
 * `databases[3].schedule.cron: must ...`: one line per problem, each led by the field it is about (if any);
 * `fieldName` renames a top-level field as the caller knows it (the CLI's `--time-zone` for `timeZone`).
 */
export function describeIssues(error: z.ZodError, fieldName: (key: string) => string = (key) => key): string[] {
  return error.issues.map((issue) => {
    const field = issue.path.reduce<string>(
      (out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : fieldName(String(key))),
      '',
    );
    return field ? `${field}: ${issue.message}` : issue.message;
  });
}

/**
 * Parses `value` at a boundary (event, CLI option, workflow input) or throws InvalidInput naming every
 * offending field, e.g. `invalid backup request: database: must be ...; tier: ...`.
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  name: LifelineErrorName = 'InvalidInput',
): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new LifelineError(name, `invalid ${what}: ${describeIssues(result.error).join('; ')}`);
}

/** An instant as people type it, with its zone: without one, a laptop and a Lambda would read it differently. */
export const IsoTime = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 time with a zone, such as "2026-11-23T10:50:00Z"' });
