import { readFileSync } from 'node:fs';
import { LifelineError } from '../../lambdas/core/errors.js';
import { describeIssues } from '../../lambdas/core/validation.js';
import { LifelineConfig } from './schema.js';

/** Validates a parsed config; the InvalidConfig error lists every problem, each led by the field it is about. */
export function parseConfig(input: unknown, source = 'config'): LifelineConfig {
  const result = LifelineConfig.safeParse(input);
  if (result.success) return result.data;
  const problems = describeIssues(result.error).map((line) => `  ${line}`);
  throw new LifelineError('InvalidConfig', `${source} is invalid:\n${problems.join('\n')}`);
}

export function loadConfig(path: string): LifelineConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new LifelineError('InvalidConfig', `cannot read the Lifeline config ${path}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new LifelineError('InvalidConfig', `${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(json, path);
}
