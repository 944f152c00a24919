// Helpers of the replication tests: the metadata database of the test backend (SQLite, or
// PostgreSQL with BERTH_TEST_METADATA=postgres), token-mode Berth servers that replicate, policies,
// and remotes read through the upstream client.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { backgroundOf } from '../../src/app.js';
import type { BerthConfig, DeepPartial } from '../../src/config/index.js';
import type { MetadataDb } from '../../src/metadata/database.js';
import type { ReplicationPolicy } from '../../src/metadata/replication-store.js';
import type { Replication } from '../../src/replication/index.js';
import type { NewReplicationPolicy } from '../../src/replication/policy-fields.js';
import { UpstreamClient } from '../../src/upstream/client.js';
import { ADMIN } from '../api-v1/helpers.js';
import { startServer, type StartOptions, type TestServer } from '../helpers/api-server.js';
import { openSqlite } from '../../src/metadata/database.js';
import { openPostgres } from '../../src/metadata/postgres.js';
import { freshSchema } from '../helpers/postgres.js';

export const onPostgres = process.env.BERTH_TEST_METADATA === 'postgres';

/** A fresh, migrated metadata database; `open` gives another instance on it (another replica). */
export async function openTestMetadata(): Promise<{ meta: MetadataDb; open(): Promise<MetadataDb>; close(): Promise<void> }> {
  if (onPostgres) {
    const schema = await freshSchema('repl');
    const open = () => openPostgres(schema.url, 4);
    const meta = await open();
    return {
      meta,
      open,
      close: async () => {
        await meta.close();
        await schema.drop();
      },
    };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-repl-'));
  const open = () => openSqlite(path.join(dir, 'meta.db'));
  const meta = await open();
  return {
    meta,
    open,
    close: async () => {
      await meta.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------
// Engine tests: Berth servers with replication, policies, remotes read through the upstream client.

export const SIGNING_SECRET = 'replication-tests-signing-key-secret';

/** Settings of a source Berth: token mode (replication's mode), loopback remotes allowed, quick retries. */
export function replicationConfig(extra: DeepPartial<BerthConfig> = {}): DeepPartial<BerthConfig> {
  return merge(
    {
      auth: {
        token: { signingkeysecret: SIGNING_SECRET },
        accounts: { adminpassword: ADMIN.password, bcryptcost: 4, loginlimit: 1000, addresslimit: 1000 },
      },
      replication: { enabled: true, interval: 100, backoff: 50, maxbackoff: 400, allow: ['127.0.0.1'] },
    },
    extra,
  );
}

function merge<T>(a: T, b: unknown): T {
  if (!b || typeof b !== 'object' || Array.isArray(b)) return (b ?? a) as T;
  const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
  for (const [k, v] of Object.entries(b)) out[k] = k in out ? merge(out[k], v) : v;
  return out as T;
}

/** A token-mode Berth whose metadata the test can reach (TestServer.meta). */
export function startReplicating(extra: StartOptions = {}): Promise<TestServer> {
  return startServer({ ...extra, exposeMeta: true, config: replicationConfig(extra.config ?? {}) });
}

export function replicationOf(s: TestServer): Replication {
  const r = backgroundOf(s.app).replication;
  assert.ok(r, 'replication is wired in token mode');
  return r;
}

export async function createPolicy(s: TestServer, input: NewReplicationPolicy): Promise<ReplicationPolicy> {
  return s.meta!.transaction((tx) => replicationOf(s).store.create(tx, input, 'admin'));
}

/** A client of a registry (another Berth, docker-registry), as replication reaches it. */
export function clientOf(url: string, creds?: { user: string; password: string }): UpstreamClient {
  return new UpstreamClient({ url, ...(creds ? { username: creds.user, password: creds.password } : {}) }, { guard: null });
}

/** Polls until `fn` returns a value other than undefined (or fails after `ms`). */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
