// Garbage collection and namespace usage (docs/quotas.md): a manifest the collector takes
// leaves its namespace's usage in the same transaction, so what was counted for it (its body
// and the blobs no other manifest of the namespace uses) is freed for the quota; collecting the
// blobs afterwards changes nothing more. The app's clock is advanced, not waited for.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backgroundOf } from '../../src/app.js';
import { QuotaStore } from '../../src/metadata/quota-store.js';
import { pushImage, serverPerFile, type PushedImage } from '../helpers/api-server.js';
import { TestClock } from '../helpers/clock.js';

const HOUR = 3600_000;
const bytesOf = (im: PushedImage) => im.config.size + im.layers.reduce((a, l) => a + l.size, 0) + im.manifest.bytes.length;

describe('garbage collection lowers namespace usage', () => {
  const clock = new TestClock();
  const s = serverPerFile({ exposeMeta: true, config: { storage: { gc: { delay: HOUR, untagged: true, restorewindow: HOUR } } }, parts: { now: clock.now } });

  test('an untagged image the collector takes is no longer counted; what another manifest uses stays counted', async () => {
    const usage = new QuotaStore(s.meta!.db);
    const collector = backgroundOf(s.app).collector;
    const old = await pushImage(s.url, 'gcq/app', { ref: 'v1', layers: 2, layerSize: 5000 });
    const kept = await pushImage(s.url, 'gcq/app', { ref: 'v1', layers: 1, layerSize: 7000 }); // moves v1: old is untagged
    const before = await usage.usage('gcq');
    assert.equal(before, bytesOf(old) + bytesOf(kept));

    clock.advance(HOUR + 1000);
    assert.equal((await collector.collect()).manifests, 1, 'the untagged image goes');
    assert.equal(await usage.usage('gcq'), bytesOf(kept), 'its body, config and layers are no longer counted');
    assert.equal(await usage.usage('gcq'), (await usage.computeUsage('gcq')).bytes);

    clock.advance(HOUR + 1000);
    await collector.collect(); // now its blobs go too
    assert.equal(await usage.usage('gcq'), bytesOf(kept));
  });
});
