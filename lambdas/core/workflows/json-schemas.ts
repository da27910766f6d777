import { z } from 'zod';
import { CutoverInput } from '../cutover/input.js';
import { RestoreInput } from '../restore/input.js';
import { PitrInput } from '../pitr/input.js';
import { DrillInput } from '../drill/input.js';

/** Every workflow input schema, by the file name its JSON Schema gets in state-machines/schemas/. */
export const WORKFLOW_INPUTS = {
  'restore-input': RestoreInput,
  'cutover-input': CutoverInput,
  'pitr-input': PitrInput,
  'drill-input': DrillInput,
} as const;

/**
 * The JSON Schema of what a person may send (defaults optional), from zod's own converter. Cross-field rules
 * (key or at, inPlace without target, ...) have no JSON Schema form: the first state checks them with zod.
 */
export function workflowInputJsonSchema(name: keyof typeof WORKFLOW_INPUTS): Record<string, unknown> {
  return z.toJSONSchema(WORKFLOW_INPUTS[name], { io: 'input' });
}
