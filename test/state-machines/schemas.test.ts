import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CUTOVER_INPUT_EXAMPLES, CutoverInput } from '../../lambdas/core/cutover/input.js';
import { WORKFLOW_INPUTS, workflowInputJsonSchema } from '../../lambdas/core/workflows/json-schemas.js';
import { RESTORE_INPUT_EXAMPLES, RestoreInput } from '../../lambdas/core/restore/input.js';

const names = Object.keys(WORKFLOW_INPUTS) as (keyof typeof WORKFLOW_INPUTS)[];

describe('workflow input JSON Schemas', () => {
  it.each(names)('state-machines/schemas/%s.schema.json is what the zod schema generates (run `npm run schemas`)', async (name) => {
    const committed = JSON.parse(await readFile(`state-machines/schemas/${name}.schema.json`, 'utf8'));
    expect(committed).toEqual(workflowInputJsonSchema(name));
  });

  it('lists the fields a person may send, refusing any other, with the console examples', () => {
    const schema = workflowInputJsonSchema('restore-input') as {
      properties: Record<string, unknown>;
      required: string[];
      additionalProperties: boolean;
      examples: unknown[];
    };
    expect(Object.keys(schema.properties).sort()).toEqual(Object.keys(RestoreInput.shape).sort());
    expect(schema.required).toEqual(['database']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.examples).toEqual(RESTORE_INPUT_EXAMPLES);
  });

  it('has console examples that the workflows accept', () => {
    for (const example of RESTORE_INPUT_EXAMPLES) expect(RestoreInput.safeParse(example).success, JSON.stringify(example)).toBe(true);
    for (const example of CUTOVER_INPUT_EXAMPLES) expect(CutoverInput.safeParse(example).success, JSON.stringify(example)).toBe(true);
  });
});
