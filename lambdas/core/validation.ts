import type { z } from 'zod';
import { LifelineError } from './errors.js';

/** Parses `value` or throws InvalidInput naming every offending field, e.g. `database: must be ...`. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const field = issue.path.length > 0 ? issue.path.join('.') : '(input)';
    return `${field}: ${issue.message}`;
  });
  throw new LifelineError('InvalidInput', `invalid ${what}: ${problems.join('; ')}`);
}
