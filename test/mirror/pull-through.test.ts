// The pull-through cache against a real upstream: Debian's docker-registry filled with skopeo,
// behind the counting, fault-injecting tap (test/helpers/upstream*.ts). Berth runs in this
// process with the app clock injected, so tag TTLs and maxstale pass by moving the clock.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { backgroundOf } from '../../src/app.js';
import { removeDir, startServer, tempDir as apiTempDir, type TestServer } from '../helpers/api-server.js';
import { Skopeo } from '../helpers/clients.js';
import { TestClock } from '../helpers/clock.js';
import { request } from '../helpers/http.js';
import { Layout, MANIFEST_ACCEPT, assertLayoutMatches } from '../helpers/oci.js';
import { tempDir, testImages, type TestImages } from '../helpers/shared.js';
import { fillUpstream, pushFixture, startUpstream, type Upstream, type UpstreamContent } from '../helpers/upstream.js';
import { startTap, type Tap } from '../helpers/upstream-tap.js';

const TLS_OFF = ['--src-tls-verify=false', '--dest-tls-verify=false'];
const MIN = 60_000;

let imgs: TestImages;
let skopeo: Skopeo;
let work: string;
let up: Upstream;
let tap: Tap;
let content: UpstreamContent;
let berth: TestServer;
let host: string;
const clock = new TestClock();

before(async () => {
  imgs = await testImages();
  skopeo = new Skopeo('mirror-pull-through');
  work = tempDir('mirror-pull-through');
  up = await startUpstream({ name: 'mirror-upstream' });
  content = await fillUpstream(up, { only: ['tiny', 'multi', 'referrer'] });
  tap = await startTap(up.url);
  berth = await startServer({
    dir: apiTempDir('berth-mirror-'),
    config: {
      mirror: {
        // timeout: an upstream that does not answer within 2 s counts as down (the 'hang' test below).
        upstreams: { hub: { url: tap.url, hosts: ['docker.io'], default: true, tagttl: 5 * MIN, maxstale: 60 * MIN, timeout: 2000 } },
        local: ['mine'],
      },
    },
    parts: { now: clock.now },
  });
  host = new URL(berth.url).host;
});

after(async () => {
  await berth?.close();
  if (berth) removeDir(berth.dir);
  await tap?.close();
  await up?.dispose();
});

let n = 0;
async function pull(ref: string, all = false): Promise<string> {
  const out = path.join(work, `pull-${++n}`);
  await skopeo.run(['copy', '--quiet', ...TLS_OFF, ...(all ? ['--all'] : []), `docker://${host}/${ref}`, `oci:${out}:latest`]);
  return out;
}

const tiny = () => new Layout(imgs.layout('tiny'));
const summary = () => JSON.stringify(tap.summary());

async function headTag(repo: string, tag: string, query = ''): Promise<{ status: number; digest: unknown; body: string }> {
  const r = await request(`${berth.url}/v2/${repo}/manifests/${tag}${query}`, { headers: { Accept: MANIFEST_ACCEPT } });
  return { status: r.status, digest: r.headers['docker-content-digest'], body: r.body.toString() };
}

describe('pull-through cache of one upstream', () => {
  test('a cold pull goes upstream and gives the same bytes and digests', async () => {
    const out = await pull('hub/library/tiny:latest');
    await assertLayoutMatches(out, tiny());
    assert.equal((await headTag('hub/library/tiny', 'latest')).digest, content.tiny.digest);
    assert.equal(tap.count({ kind: 'manifest', ref: 'latest' }), 1, summary());
    for (const b of content.tiny.blobs) assert.equal(tap.blobDownloads(b), 1, `${b}: ${summary()}`);
    // Client credentials stay here: the upstream asks for none, and sees none of the client's.
    tap.reset();
    for (const authorization of ['Basic Y2xpZW50OnNlY3JldA==', 'Bearer client-token']) {
      const r = await request(`${berth.url}/v2/hub/library/tiny/tags/list`, { headers: { Authorization: authorization } });
      assert.equal(r.status, 200);
    }
    assert.equal(tap.count({ kind: 'tags' }), 2, summary());
    assert.ok(
      tap.list().every((r) => !r.authorization),
      'a client Authorization header reached the upstream',
    );
  });

  test('a warm pull within tagttl asks the upstream nothing', async () => {
    await backgroundOf(berth.app).mirror!.idle();
    tap.reset();
    await assertLayoutMatches(await pull('hub/library/tiny:latest'), tiny());
    assert.equal(tap.count(), 0, summary());
  });

  test('a warm pull after tagttl makes exactly one HEAD and no blob GETs', async () => {
    clock.advance(6 * MIN);
    tap.reset();
    await assertLayoutMatches(await pull('hub/library/tiny:latest'), tiny());
    assert.equal(tap.count(), 1, summary());
    assert.equal(tap.count({ method: 'HEAD', kind: 'manifest', ref: 'latest' }), 1, summary());
    assert.equal(tap.blobDownloads(), 0, summary());
  });

  test('with the upstream stopped, a pull after tagttl is served from the cache', async () => {
    await up.stop();
    try {
      clock.advance(6 * MIN);
      tap.reset();
      await assertLayoutMatches(await pull('hub/library/tiny:latest'), tiny());
      assert.ok(tap.count({ method: 'HEAD', kind: 'manifest' }) >= 1, summary());
    } finally {
      await up.start();
    }
  });

  for (const mode of ['503', 'hang'] as const) {
    test(`with the upstream ${mode === '503' ? 'answering 503' : 'not answering within its timeout'}, a pull after tagttl is served from the cache`, async () => {
      await tap.setMode(mode, { kinds: ['manifest'] });
      try {
        clock.advance(6 * MIN);
        tap.reset();
        await assertLayoutMatches(await pull('hub/library/tiny:latest'), tiny());
        assert.ok(tap.count({ method: 'HEAD', kind: 'manifest' }) >= 1, summary());
        assert.equal(tap.blobDownloads(), 0, summary());
      } finally {
        await tap.setMode('pass');
      }
    });
  }

  test('with the upstream answering 429, a pull is served from the cache; past maxstale the answer is 503 UNAVAILABLE with Retry-After', async () => {
    await tap.setMode('429', { retryAfter: 7 });
    try {
      clock.advance(6 * MIN);
      await assertLayoutMatches(await pull('hub/library/tiny:latest'), tiny());
      // The last confirmation was the HEAD after the first tagttl: now more than maxstale ago.
      clock.advance(61 * MIN);
      const r = await request(`${berth.url}/v2/hub/library/tiny/manifests/latest`, { headers: { Accept: MANIFEST_ACCEPT } });
      assert.equal(r.status, 503, r.body.toString());
      assert.equal(JSON.parse(r.body.toString()).errors[0].code, 'UNAVAILABLE');
      assert.match(JSON.parse(r.body.toString()).errors[0].message, /upstream registry "hub" is unavailable; the cached copy is older than its maxstale/);
      assert.equal(r.headers['retry-after'], '7');
      // A name never cached: 503 too, never a 500.
      const cold = await request(`${berth.url}/v2/hub/library/multi/manifests/latest`, { headers: { Accept: MANIFEST_ACCEPT } });
      assert.equal(cold.status, 503, cold.body.toString());
    } finally {
      await tap.setMode('pass');
    }
    // Once the upstream answers again, the tag is confirmed and served.
    assert.equal((await headTag('hub/library/tiny', 'latest')).digest, content.tiny.digest);
  });

  test('a tag moved upstream is seen after tagttl, not before', async () => {
    await pushFixture(up, 'tiny', 'library/moving', 'v1');
    assert.equal((await headTag('hub/library/moving', 'v1')).digest, content.tiny.digest);
    await pushFixture(up, 'multiarch', 'library/moving', 'v1');
    tap.reset();
    assert.equal((await headTag('hub/library/moving', 'v1')).digest, content.tiny.digest, 'within tagttl: the cached digest');
    assert.equal(tap.count(), 0, summary());
    clock.advance(6 * MIN);
    assert.equal((await headTag('hub/library/moving', 'v1')).digest, content.multi.digest, 'after tagttl: the new digest');
  });

  test('a tag the upstream does not have is 404 MANIFEST_UNKNOWN; so is an unknown digest', async () => {
    const r = await headTag('hub/library/tiny', 'nope');
    assert.equal(r.status, 404, r.body);
    assert.equal(JSON.parse(r.body).errors[0].code, 'MANIFEST_UNKNOWN');
    const d = await headTag('hub/library/tiny', `sha256:${'0'.repeat(64)}`);
    assert.equal(d.status, 404, d.body);
    assert.equal(JSON.parse(d.body).errors[0].code, 'MANIFEST_UNKNOWN');
  });

  test("HEAD of a blob not cached yet asks the upstream's HEAD and downloads nothing", async () => {
    const layer = content.multi.images[0].layers.at(-1)!;
    tap.reset();
    const r = await request(`${berth.url}/v2/hub/library/multi/blobs/${layer}`, { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['docker-content-digest'], layer);
    assert.ok(Number(r.headers['content-length']) > 0);
    assert.equal(tap.count({ method: 'HEAD', kind: 'blob' }), 1, summary());
    assert.equal(tap.blobDownloads(), 0, summary());
  });

  test('skopeo copy --all of a multi-arch index through the mirror', async () => {
    const out = await pull('hub/library/multi:latest', true);
    await assertLayoutMatches(out, new Layout(imgs.layout('multiarch')));
  });

  test('referrers of a cached image are fetched with it and answered while the upstream is down', async () => {
    await backgroundOf(berth.app).mirror!.idle();
    const ask = async () => {
      const r = await request(`${berth.url}/v2/hub/library/tiny/referrers/${content.tiny.digest}`);
      assert.equal(r.status, 200, r.body.toString());
      return (JSON.parse(r.body.toString()) as { manifests: { digest: string; artifactType?: string }[] }).manifests;
    };
    assert.deepEqual(
      (await ask()).map((m) => [m.digest, m.artifactType]),
      [[content.referrer.digest, content.referrer.artifactType]],
    );
    await up.stop();
    try {
      assert.deepEqual(
        (await ask()).map((m) => m.digest),
        [content.referrer.digest],
      );
      // The artifact itself, with its blobs, pulls from the cache.
      const out = path.join(work, 'artifact');
      await skopeo.run(['copy', '--quiet', ...TLS_OFF, `docker://${host}/hub/library/tiny@${content.referrer.digest}`, `oci:${out}:latest`]);
      const got = new Layout(out);
      assert.equal(got.top().digest, content.referrer.digest);
    } finally {
      await up.start();
    }
  });

  test('tag lists merge the upstream and the cache; with the upstream down, the cached tags', async () => {
    const list = async () => {
      const r = await request(`${berth.url}/v2/hub/library/tiny/tags/list`);
      assert.equal(r.status, 200, r.body.toString());
      return JSON.parse(r.body.toString()) as { name: string; tags: string[] };
    };
    const all = await list();
    assert.equal(all.name, 'hub/library/tiny');
    assert.deepEqual(all.tags, ['1', content.referrer.fallbackTag, 'latest'].sort());
    await up.stop();
    try {
      assert.deepEqual((await list()).tags, ['latest']);
    } finally {
      await up.start();
    }
    const none = await request(`${berth.url}/v2/hub/library/absent/tags/list`);
    assert.equal(none.status, 404, none.body.toString());
  });

  test("routing: containerd's ns=, and the default upstream for names without a prefix", async () => {
    const viaNs = await headTag('library/tiny', 'latest', '?ns=docker.io');
    assert.equal(viaNs.status, 200, viaNs.body);
    assert.equal(viaNs.digest, content.tiny.digest);
    const viaDefault = await headTag('library/tiny', 'latest');
    assert.equal(viaDefault.digest, content.tiny.digest);
    await assertLayoutMatches(await pull('library/tiny:latest'), tiny());
  });

  test('mirrored names are read-only (405 UNSUPPORTED naming the upstream); local names work as usual', async () => {
    for (const [method, p] of [
      ['POST', '/v2/hub/library/tiny/blobs/uploads/'],
      ['PUT', '/v2/hub/library/tiny/manifests/latest'],
      ['DELETE', `/v2/hub/library/tiny/manifests/${content.tiny.digest}`],
      ['DELETE', `/v2/library/tiny/blobs/${content.tiny.blobs[0]}`],
      ['POST', '/v2/other/app/blobs/uploads/'],
    ] as const) {
      const r = await request(`${berth.url}${p}`, { method });
      assert.equal(r.status, 405, `${method} ${p}: ${r.body.toString()}`);
      const e = JSON.parse(r.body.toString()).errors[0];
      assert.equal(e.code, 'UNSUPPORTED');
      assert.match(e.message, new RegExp(`read-only mirror of ${tap.url} \\(upstream "hub"\\)`));
    }
    // mirror.local names are this registry's own.
    await skopeo.run(['copy', '--quiet', ...TLS_OFF, `oci:${imgs.layout('tiny')}:latest`, `docker://${host}/mine/tiny:1`]);
    assert.equal((await headTag('mine/tiny', '1')).digest, content.tiny.digest);
    // Pushed content makes a namespace local: `mine` stays local, and its pulls never go upstream.
    tap.reset();
    await assertLayoutMatches(await pull('mine/tiny:1'), tiny());
    assert.equal(tap.count(), 0, summary());
  });

  test('the catalog lists cached repositories', async () => {
    const r = await request(`${berth.url}/v2/_catalog`);
    const repos = (JSON.parse(r.body.toString()) as { repositories: string[] }).repositories;
    for (const name of ['hub/library/tiny', 'hub/library/multi', 'mine/tiny']) assert.ok(repos.includes(name), `${name} in ${repos}`);
  });
});

describe('mirror.catalog: false', () => {
  let hidden: TestServer;
  before(async () => {
    hidden = await startServer({ config: { mirror: { upstreams: { hub: { url: tap.url } }, catalog: false } } });
  });
  after(async () => {
    await hidden?.close();
    if (hidden) removeDir(hidden.dir);
  });

  test('cached repositories are left out of /v2/_catalog; pushed ones are listed', async () => {
    const h = new URL(hidden.url).host;
    await skopeo.run(['copy', '--quiet', ...TLS_OFF, `docker://${h}/hub/library/tiny:latest`, `oci:${path.join(work, 'hidden')}:latest`]);
    await skopeo.run(['copy', '--quiet', ...TLS_OFF, `oci:${imgs.layout('tiny')}:latest`, `docker://${h}/own/tiny:1`]);
    const r = await request(`${hidden.url}/v2/_catalog`);
    assert.deepEqual((JSON.parse(r.body.toString()) as { repositories: string[] }).repositories, ['own/tiny']);
    const page = await request(`${hidden.url}/v2/_catalog?n=1`);
    assert.deepEqual((JSON.parse(page.body.toString()) as { repositories: string[] }).repositories, ['own/tiny']);
  });
});

describe('adding a default upstream to a registry in use', () => {
  test('namespaces something was pushed to stay local: pulled and pushed here, never sent upstream', async () => {
    const dir = apiTempDir('berth-mirror-legacy-');
    const plain = await startServer({ dir });
    const push = async (s: TestServer, ref: string) =>
      skopeo.run(['copy', '--quiet', ...TLS_OFF, `oci:${imgs.layout('tiny')}:latest`, `docker://${new URL(s.url).host}/${ref}`]);
    await push(plain, 'legacy/tiny:1');
    await plain.close();
    const mirrored = await startServer({ dir, config: { mirror: { upstreams: { hub: { url: tap.url, default: true } } } } });
    try {
      tap.reset();
      const r = await request(`${mirrored.url}/v2/legacy/tiny/manifests/1`, { headers: { Accept: MANIFEST_ACCEPT } });
      assert.equal(r.status, 200, r.body.toString());
      assert.equal(r.headers['docker-content-digest'], content.tiny.digest);
      await push(mirrored, 'legacy/tiny:2');
      assert.equal(tap.count(), 0, summary());
      // A namespace nothing was pushed to is the default upstream's.
      const refused = await request(`${mirrored.url}/v2/fresh/tiny/blobs/uploads/`, { method: 'POST' });
      assert.equal(refused.status, 405, refused.body.toString());
    } finally {
      await mirrored.close();
      removeDir(dir);
    }
  });
});

describe('read-only maintenance (storage.maintenance.readonly)', () => {
  test('cached content is served as it is, nothing is fetched: 503 UNAVAILABLE for the rest', async () => {
    const dir = apiTempDir('berth-mirror-readonly-');
    const upstreams = { hub: { url: tap.url, tagttl: 60_000 } };
    const filling = await startServer({ dir, config: { mirror: { upstreams } } });
    await skopeo.run(['copy', '--quiet', ...TLS_OFF, `docker://${new URL(filling.url).host}/hub/library/tiny:latest`, `oci:${path.join(work, 'ro')}:latest`]);
    await backgroundOf(filling.app).mirror!.idle();
    await filling.close();
    const clock = new TestClock();
    clock.advance(10 * MIN); // past tagttl
    const ro = await startServer({
      dir,
      config: { mirror: { upstreams }, storage: { maintenance: { readonly: { enabled: true } } } },
      parts: { now: clock.now },
    });
    try {
      tap.reset();
      await assertLayoutMatches(await pullFrom(ro, 'hub/library/tiny:latest'), tiny());
      assert.equal(tap.count(), 0, summary());
      for (const p of ['manifests/1', `blobs/${content.multi.images[0].config}`]) {
        const r = await request(`${ro.url}/v2/hub/library/multi/${p}`, { headers: { Accept: MANIFEST_ACCEPT } });
        assert.equal(r.status, 503, `${p}: ${r.body.toString()}`);
        assert.match(JSON.parse(r.body.toString()).errors[0].message, /read-only mode: only content cached before is served/);
      }
      assert.equal(tap.count(), 0, summary());
    } finally {
      await ro.close();
      removeDir(dir);
    }
  });
});

async function pullFrom(s: TestServer, ref: string): Promise<string> {
  const out = path.join(work, `pull-${++n}`);
  await skopeo.run(['copy', '--quiet', ...TLS_OFF, `docker://${new URL(s.url).host}/${ref}`, `oci:${out}:latest`]);
  return out;
}
