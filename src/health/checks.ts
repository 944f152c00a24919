// Readiness checks: the database and storage each answer a trivial request within a timeout.
// A check never throws; it reports what it saw. The reason names an error code (ECONNREFUSED,
// 57P01, "timeout"), never a message: /readyz is unauthenticated and messages carry addresses.
import { sql } from 'kysely';
import type { MetadataDb } from '../metadata/database.js';
import type { StorageDriver } from '../storage/driver.js';
import { HEALTH_PROBE_KEY } from '../storage/layout.js';

export const CHECK_TIMEOUT_MS = 2000;

export interface CheckResult {
  status: 'ok' | 'unavailable';
  /** How long the check took (to its timeout at most). */
  ms: number;
  /** Why it failed: an error code, or "timeout". */
  reason?: string;
  /** The error, for the log only (never sent). */
  error?: unknown;
}

export class CheckTimeout extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'CheckTimeout';
  }
}

/** Runs `probe`, bounded by `timeoutMs`; a slow or failing probe is 'unavailable'. */
export async function runCheck(probe: () => Promise<unknown>, timeoutMs = CHECK_TIMEOUT_MS): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CheckTimeout(timeoutMs)), timeoutMs);
    });
    // A probe that fails after its timeout must not become an unhandled rejection.
    const run = probe();
    run.catch(() => {});
    await Promise.race([run, timeout]);
    return { status: 'ok', ms: Math.round(performance.now() - started) };
  } catch (error) {
    return { status: 'unavailable', ms: Math.round(performance.now() - started), reason: reasonOf(error), error };
  } finally {
    clearTimeout(timer);
  }
}

function reasonOf(error: unknown): string {
  if (error instanceof CheckTimeout) return 'timeout';
  const e = error as { code?: unknown; name?: unknown } | null;
  if (e && typeof e.code === 'string' && /^[A-Z0-9_]{2,40}$/.test(e.code)) return e.code;
  if (e && typeof e.name === 'string' && e.name !== 'Error' && /^[A-Za-z]{2,40}$/.test(e.name)) return e.name;
  return 'error';
}

/** The database answers a trivial query. */
export function databaseProbe(meta: MetadataDb): () => Promise<void> {
  return async () => {
    await sql`select 1`.execute(meta.db);
  };
}

/** Storage answers a stat of a fixed key (absent is fine: the store answered). One request on S3, one syscall on a filesystem. */
export function storageProbe(storage: StorageDriver): () => Promise<void> {
  return async () => {
    await storage.stat(HEALTH_PROBE_KEY);
  };
}
