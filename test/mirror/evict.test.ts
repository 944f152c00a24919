// Eviction of cached content (the mirror-evict job, src/mirror/evict.ts): images not pulled for the
// TTL go, and the least recently pulled while the cache is over its budget; garbage collection then
// reclaims their blobs. Real upstream (docker-registry) behind the tap; the app clock moves time.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { backgroundOf } from '../../src/app.js';
import { indexServiceOf } from '../../src/index/service.js';
import { removeDir, startServer, type TestServer } from '../helpers/api-server.js';
import { Skopeo } from '../helpers/clients.js';
import { TestClock } from '../helpers/clock.js';
import { request } from '../helpers/http.js';
import { MANIFEST_ACCEPT } from '../helpers/oci.js';
import { tempDir } from '../helpers/shared.js';
import { fillUpstream, startUpstream, type Upstream, type UpstreamContent } from '../helpers/upstream.js';
import { startTap, type Tap } from '../helpers/upstream-tap.js';

const TLS_OFF = ['--src-tls-verify=false', '--dest-tls-verify=false'];
const MIN = 60_000;

let skopeo: Skopeo;
let work: string;
let up: Upstream;
let tap: Tap;
let content: UpstreamContent;
before(async () => {
  skopeo = new Skopeo('mirror-evict');
  work = tempDir('mirror-evict');
  up = await startUpstream({ name: 'mirror-evict-upstream' });
  content = await fillUpstream(up, { only: ['tiny', 'multi'] });
  tap = await startTap(up.url);
});
after(async () => {
  await tap?.close();
  await up?.dispose();
});

async function mirrorServer(clock: TestClock, mirror: Record<string, unknown>): Promise<TestServer> {
  return startServer({
    config: { mirror: { upstreams: { hub: { url: tap.url, tagttl: 60 * MIN } }, ...mirror }, storage: { gc: { delay: 1000 } } },
    parts: { now: clock.now },
  });
}

let n = 0;
async function pull(s: TestServer, ref: string, all = false): Promise<void> {
  const out = path.join(work, `pull-${++n}`);
  await skopeo.run(['copy', '--quiet', ...TLS_OFF, ...(all ? ['--all'] : []), `docker://${new URL(s.url).host}/${ref}`, `oci:${out}:latest`]);
}

/** How many upstream manifest GETs serving `repo`@digest from the cache takes (0 = still cached, 1 = fetched again). */
async function refetches(s: TestServer, repo: string, digest: string): Promise<number> {
  tap.reset();
  const r = await request(`${s.url}/v2/hub/${repo}/manifests/${digest}`, { headers: { Accept: MANIFEST_ACCEPT } });
  assert.equal(r.status, 200, r.body.toString());
  return tap.count({ method: 'GET', kind: 'manifest' });
}

describe('eviction', () => {
  test('mirror.ttl: an image not pulled for the TTL goes with its index children; one pulled since stays; GC reclaims the blobs', async () => {
    const clock = new TestClock();
    const s = await mirrorServer(clock, { ttl: 60 * MIN });
    try {
      await pull(s, 'hub/library/tiny:latest');
      await pull(s, 'hub/library/multi:latest', true);
      clock.advance(40 * MIN);
      await pull(s, 'hub/library/tiny:latest');
      await indexServiceOf(s.app)!.flush();
      clock.advance(30 * MIN);
      const evicted = await backgroundOf(s.app).mirrorEviction!.run();
      assert.deepEqual(evicted, { images: 1, manifests: 1 + content.multi.images.length });
      assert.equal(await refetches(s, 'library/tiny', content.tiny.digest), 0, 'tiny was pulled 30 minutes ago: cached');
      // multi's tag went with it: the tag list has only what the upstream says.
      const tags = await request(`${s.url}/v2/hub/library/multi/tags/list`);
      assert.deepEqual(JSON.parse(tags.body.toString()).tags, ['latest']);
      // Garbage collection takes the blobs only multi used (after storage.gc.delay).
      clock.advance(2000);
      const gc = await backgroundOf(s.app).collector.collect();
      const multiOnly = content.multi.blobs.filter((b) => !content.tiny.blobs.includes(b));
      assert.ok(gc.blobs >= multiOnly.length + content.multi.manifests.length, JSON.stringify(gc));
      assert.equal(await refetches(s, 'library/multi', content.multi.digest), 1, 'multi is fetched again');
      // A second run with nothing old: nothing goes.
      assert.deepEqual(await backgroundOf(s.app).mirrorEviction!.run(), { images: 0, manifests: 0 });
    } finally {
      await s.close();
      removeDir(s.dir);
    }
  });

  test('mirror.budget: the least recently pulled images go until the cache fits', async () => {
    const clock = new TestClock();
    // Room for multi, not for multi and tiny.
    const s = await mirrorServer(clock, { budget: content.multi.bytes + 1 });
    try {
      await pull(s, 'hub/library/tiny:latest');
      clock.advance(MIN);
      await pull(s, 'hub/library/multi:latest', true);
      await indexServiceOf(s.app)!.flush();
      const evicted = await backgroundOf(s.app).mirrorEviction!.run();
      assert.deepEqual(evicted, { images: 1, manifests: 1 });
      assert.equal(await refetches(s, 'library/multi', content.multi.digest), 0, 'multi, pulled last, stays');
      assert.equal(await refetches(s, 'library/tiny', content.tiny.digest), 1, 'tiny, pulled first, went');
    } finally {
      await s.close();
      removeDir(s.dir);
    }
  });
});
