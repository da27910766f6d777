import { fromUrl, type ConnectionSettings } from '../../lambdas/core/postgres/connection.js';
import { LifelineError } from '../../lambdas/core/errors.js';

/** A URL from a flag or the environment. A password typed into argv is visible to every local user. */
export function connectionFrom(flag: string, value: string | undefined, envName: string): ConnectionSettings {
  const url = value ?? process.env[envName];
  if (!url) throw new LifelineError('InvalidInput', `${flag}: give ${flag} or set ${envName}`);
  const settings = fromUrl(url);
  if (value !== undefined && new URL(value).password) {
    process.stderr.write(`lifeline: warning: ${flag} carries a password on the command line; prefer ${envName} or PGPASSWORD\n`);
  }
  return settings;
}
