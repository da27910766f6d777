/** `npm run schemas`: writes state-machines/schemas/<name>.schema.json from core's zod schemas. */
import { writeFile } from 'node:fs/promises';
import { format, resolveConfig } from 'prettier';
import { WORKFLOW_INPUTS, workflowInputJsonSchema } from '../lambdas/core/workflows/json-schemas.js';

const names = Object.keys(WORKFLOW_INPUTS) as (keyof typeof WORKFLOW_INPUTS)[];
for (const name of names) {
  const file = new URL(`../state-machines/schemas/${name}.schema.json`, import.meta.url);
  const text = await format(JSON.stringify(workflowInputJsonSchema(name)), { ...(await resolveConfig(file)), parser: 'json' });
  await writeFile(file, text);
  process.stdout.write(`wrote state-machines/schemas/${name}.schema.json\n`);
}
