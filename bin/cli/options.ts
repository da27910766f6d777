/** Commands' options as the schemas in core (lambdas/core/operator/options.ts) define and check them. */
import { Option } from 'commander';
import type { z } from 'zod';
import { LifelineError } from '../../lambdas/core/errors.js';
import { describeIssues } from '../../lambdas/core/validation.js';

/** A schema's field as the flag that sets it: `timeZone` → `--time-zone`. */
const flag = (key: string) => `--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;

/** A command's options as its schema in core reads them; InvalidInput names each offending flag. */
export function parseOptions<S extends z.ZodType>(schema: S, options: unknown): z.infer<S> {
  const result = schema.safeParse(options);
  if (result.success) return result.data;
  throw new LifelineError('InvalidInput', describeIssues(result.error, flag).join('; '));
}

type FieldSchema = z.ZodType & { options?: readonly string[]; unwrap?: () => FieldSchema };

/** An option whose choices and default come from its field's schema in core. */
export function schemaOption(flags: string, description: string, field: FieldSchema): Option {
  const option = new Option(flags, description);
  let inner = field;
  while (inner.unwrap) inner = inner.unwrap(); // past .default() and .optional() to the enum
  if (inner.options) option.choices(inner.options);
  const fallback = field.safeParse(undefined);
  return fallback.success && fallback.data !== undefined ? option.default(fallback.data) : option;
}
