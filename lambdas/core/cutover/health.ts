import { connectClient, describe, redact, type ConnectionSettings } from '../postgres/connection.js';
import type { HealthCheck, HealthReport, Side } from './state.js';

/**
 * The proof that an application runs on the database its secret names: its health URL answers 2xx `count`
 * times in a row within the window, AND that database has sessions of the application's role, whatever
 * the health endpoint says (an application that never re-read its secret is healthy on the old database).
 */

/** One probe never waits longer than this. */
const PROBE_TIMEOUT_MS = 5_000;

export interface HealthDeps {
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
}

async function probe(url: string, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    await response.body?.cancel();
    return { ok: response.status >= 200 && response.status < 300, detail: `HTTP ${response.status}` };
  } catch (error) {
    const cause = (error as Error).cause as Error | undefined;
    return { ok: false, detail: `no answer: ${cause?.message ?? (error as Error).message}` };
  }
}

/** The role's sessions on the database, not counting this one nor Lifeline's own (application_name lifeline). */
async function countSessions(settings: ConnectionSettings): Promise<{ count: number | null; detail: string }> {
  let client;
  try {
    client = await connectClient(settings);
  } catch (error) {
    return { count: null, detail: (error as Error).message };
  }
  try {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND usename = current_user AND pid <> pg_backend_pid()
          AND application_name IS DISTINCT FROM 'lifeline'`,
    );
    return { count: rows[0]?.n ?? 0, detail: `${rows[0]?.n ?? 0} sessions of ${settings.user} on ${describe(settings)}` };
  } catch (error) {
    return { count: null, detail: redact((error as Error).message, settings) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Probes until both proofs hold or the window closes; a failure is a report with `passed: false`, not an error. */
export async function proveHealth(
  side: Side,
  check: HealthCheck,
  database: ConnectionSettings,
  deps: HealthDeps,
): Promise<Omit<HealthReport, 'timing'>> {
  const deadline = deps.now().getTime() + check.windowSeconds * 1000;
  const remaining = () => deadline - deps.now().getTime();
  const http = { url: check.url, required: check.count, consecutive: 0, attempts: 0, last: null as string | null };
  while (http.consecutive < check.count && remaining() > 0) {
    if (http.attempts > 0) await deps.sleep(Math.min(check.intervalSeconds * 1000, Math.max(remaining(), 0)));
    // A probe started inside the window may finish after it: its answer is what the report needs.
    const { ok, detail } = await probe(check.url, PROBE_TIMEOUT_MS);
    http.attempts += 1;
    http.consecutive = ok ? http.consecutive + 1 : 0;
    http.last = detail;
  }
  const sessions = {
    database: database.database,
    role: database.user,
    count: null as number | null,
    detail: 'not checked: the health URL failed',
  };
  if (http.consecutive >= check.count) {
    // Connections may open lazily after the first requests: look again until the window closes.
    for (let first = true; first || remaining() > 0; first = false) {
      if (!first) await deps.sleep(Math.min(check.intervalSeconds * 1000, Math.max(remaining(), 0)));
      Object.assign(sessions, await countSessions(database));
      if ((sessions.count ?? 0) > 0) break;
    }
  }
  const where = `${database.database} on ${database.host}:${database.port}`;
  const httpPassed = http.consecutive >= check.count;
  const passed = httpPassed && (sessions.count ?? 0) > 0;
  const summary = passed
    ? `${check.url} answered 2xx ${http.consecutive} times in a row and ${where} has ${sessions.count} sessions of ${database.user}`
    : !httpPassed
      ? `${check.url} did not answer 2xx ${check.count} times in a row within ${check.windowSeconds} s (${http.attempts} probes, last: ${http.last ?? 'none'})`
      : `${check.url} is healthy but ${where} has no sessions of ${database.user} within ${check.windowSeconds} s: the application is not using it (${sessions.detail})`;
  return { side, passed, summary, http, sessions };
}
