// The runner with fake registries over a real store (the test metadata backend): a run that
// outlasts its lease keeps its claim (renewed on a timer, not between items), so no other runner
// starts the policy meanwhile; a run whose claim was taken stops and says so; a run whose
// remote cannot even list its catalog fails with the remote's error.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MetadataDb } from '../../src/metadata/database.js';
import { ReplicationStore } from '../../src/metadata/replication-store.js';
import type { RegistrySide } from '../../src/replication/copier.js';
import { ReplicationBusyError, ReplicationRunner } from '../../src/replication/runner.js';
import { UpstreamError } from '../../src/upstream/errors.js';
import { openTestMetadata } from './helpers.js';

const LEASE = 300;

/** A registry with nothing in it whose catalog answers after `gate` resolves (or fails with `fail`). */
function emptySide(gate: () => Promise<void>, fail?: Error, onCatalog: () => void = () => {}): RegistrySide & { close(): void } {
  const none = async () => null;
  return {
    async catalog() {
      onCatalog();
      await gate();
      if (fail) throw fail;
      return [];
    },
    tags: async () => [],
    headManifest: none,
    headBlob: none,
    referrers: async () => [],
    getManifest: () => Promise.reject(new Error('unexpected')),
    getBlob: () => Promise.reject(new Error('unexpected')),
    mountBlob: async () => false,
    pushBlob: () => Promise.reject(new Error('unexpected')),
    putManifest: () => Promise.reject(new Error('unexpected')),
    deleteManifest: async () => false,
    close() {},
  };
}

describe('replication runner (fake registries)', () => {
  let meta: MetadataDb;
  let close: () => Promise<void>;
  let store: ReplicationStore;
  // The remote's catalog waits until the gate opens.
  let open = false;
  let waiters: (() => void)[] = [];
  const gate = () => (open ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve)));
  const release = () => {
    open = true;
    for (const w of waiters) w();
    waiters = [];
  };
  let fail: Error | undefined;
  let catalogCalls = 0;
  before(async () => {
    ({ meta, close } = await openTestMetadata());
    store = new ReplicationStore(meta, { sealer: null, now: Date.now });
  });
  after(() => close());

  const runner = () =>
    new ReplicationRunner({
      store,
      local: () => emptySide(async () => {}),
      remote: () =>
        emptySide(gate, fail, () => {
          catalogCalls++;
        }),
      now: Date.now,
      settings: { attempts: 3, backoff: 10, maxbackoff: 20 },
      leaseMs: LEASE,
    });

  it('a run that outlasts its lease keeps the claim: another runner is refused until it ends', async () => {
    const p = await meta.transaction((tx) =>
      store.create(tx, { name: 'slow', direction: 'pull', remoteUrl: 'https://r.example.com', trigger: 'manual' }, null),
    );
    open = false;
    const one = runner();
    const two = runner();
    const run = await one.runNow(p.id);
    // Three leases later the claim still holds, renewed while the remote's catalog is pending.
    await new Promise((r) => setTimeout(r, 3 * LEASE));
    await assert.rejects(two.runNow(p.id), ReplicationBusyError);
    release();
    const done = await one.finished(run.id);
    assert.deepEqual([done?.status, done?.error], ['succeeded', null]);
    assert.equal((await store.get(p.id))?.running, false);
    const next = await two.runNow(p.id);
    assert.equal((await two.finished(next.id))?.status, 'succeeded');
  });

  it('a remote that cannot list its catalog: tried again, then the run fails with its error', async () => {
    const p = await meta.transaction((tx) =>
      store.create(tx, { name: 'down', direction: 'pull', remoteUrl: 'https://r.example.com', trigger: 'manual' }, null),
    );
    fail = new UpstreamError('unavailable', 'GET https://r.example.com/v2/_catalog: connection refused');
    catalogCalls = 0;
    try {
      const done = await runner().runAndWait(p.id);
      assert.equal(catalogCalls, 3, 'three tries');
      assert.deepEqual([done.status, done.error], ['failed', 'GET https://r.example.com/v2/_catalog: connection refused']);
    } finally {
      fail = undefined;
    }
  });
});
