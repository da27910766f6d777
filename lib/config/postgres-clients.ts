import { LifelineError } from '../../lambdas/core/errors.js';

/** AL2023 ships pg_dump 15, 16 and 17; pg_dump dumps servers older than itself, never newer. */
export const CLIENT_MAJORS = [15, 16, 17] as const;
export type ClientMajor = (typeof CLIENT_MAJORS)[number];

export const NEWEST_CLIENT = CLIENT_MAJORS[CLIENT_MAJORS.length - 1]!;

/** The pg_dump that can back up a server of this major version: its own, or the oldest packaged one. */
export function clientMajorFor(serverMajor: number): ClientMajor {
  const major = CLIENT_MAJORS.find((client) => client >= serverMajor);
  if (major === undefined) throw new LifelineError('InvalidConfig', `no packaged pg_dump can back up PostgreSQL ${serverMajor}`);
  return major;
}
