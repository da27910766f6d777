import { z } from 'zod';
import { DatabaseLabel } from '../vault/keys.js';
import { SmokeCheck } from './drill.js';

/** The longest a drill's restore and checks may take, in minutes: the RunDrill state's timeout (drill.asl.json) is this and 15 minutes for the task's start. */
export const MAX_DRILL_MINUTES = 720;

/** Inputs a person can paste into the Step Functions console. */
export const DRILL_INPUT_EXAMPLES = [
  { database: 'shop' },
  { database: 'shop', backup: 'random', withinDays: 30 },
  {
    database: 'shop',
    smokeChecks: [{ name: 'orders this year', sql: "SELECT count(*) > 0 FROM orders WHERE created_at > now() - interval '1 year'" }],
    timeoutMinutes: 120,
  },
];

/**
 * The drill workflow's input, as its schedule sends it (`{"database": "shop"}`) or a person pastes it into the console.
 * `backup`: the latest backup (default), or one picked at random among those taken within `withinDays`.
 */
export const DrillInput = z
  .strictObject({
    database: DatabaseLabel,
    backup: z.enum(['latest', 'random']).default('latest'),
    /** With `backup: "random"`: how far back the pick may go, in days. */
    withinDays: z.number().int().min(1).max(400).default(90),
    /** Checks of the restored database, as a restore's: one read-only statement each, passing when it returns true. */
    smokeChecks: z.array(SmokeCheck).max(20).default([]),
    /** The restore and its checks end TIMED_OUT past this. */
    timeoutMinutes: z.number().int().min(1).max(MAX_DRILL_MINUTES).default(240),
  })
  .meta({ title: 'Lifeline restore drill input', examples: DRILL_INPUT_EXAMPLES });
export type DrillInput = z.infer<typeof DrillInput>;
