// The mirror tests' fixtures checked on their own (test/helpers/upstream*.ts): docker-registry as an
// upstream filled with skopeo, the same behind a token server, docker-registry in proxy mode pulling
// through (the reference mirror), and the counting tap with its failure modes.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Skopeo } from '../helpers/clients.js';
import { request } from '../helpers/http.js';
import { Layout, MANIFEST_ACCEPT, assertLayoutMatches } from '../helpers/oci.js';
import { tempDir, testImages, type TestImages } from '../helpers/shared.js';
import { type UpstreamContent, UPSTREAM_PASSWORD, UPSTREAM_USER, type Upstream, fillUpstream, startUpstream } from '../helpers/upstream.js';
import { type Tap, startTap } from '../helpers/upstream-tap.js';

const TLS_OFF = ['--src-tls-verify=false', '--dest-tls-verify=false'];
let imgs: TestImages;
let skopeo: Skopeo;
let work: string;

before(async () => {
  imgs = await testImages();
  skopeo = new Skopeo('upstream-fixtures');
  work = tempDir('upstream-fixtures');
});

let n = 0;
async function pull(src: string, creds?: string): Promise<string> {
  const out = path.join(work, `pull-${++n}`);
  await skopeo.run(['copy', '--quiet', ...TLS_OFF, ...(creds ? ['--src-creds', creds] : []), `docker://${src}`, `oci:${out}:latest`]);
  return out;
}

describe('plain upstream, docker-registry in proxy mode in front of it, through the tap', () => {
  let up: Upstream;
  let tap: Tap;
  let mirror: Upstream;
  let content: UpstreamContent;
  before(async () => {
    up = await startUpstream();
    content = await fillUpstream(up, { only: ['tiny', 'multi', 'referrer'] });
    tap = await startTap(up.url);
    mirror = await startUpstream({ proxy: { remoteurl: tap.url } });
  });
  after(async () => {
    await mirror?.dispose();
    await tap?.close();
    await up?.dispose();
  });

  test('fillUpstream pushed the images and the referrers fallback index, with the digests it reports', async () => {
    const tiny = new Layout(imgs.layout('tiny'));
    assert.equal(content.tiny.digest, tiny.top().digest);
    assert.deepEqual(content.tiny.blobs, [tiny.images()[0].manifest.config!.digest, ...tiny.images()[0].manifest.layers!.map((l) => l.digest)]);
    assert.equal(content.multi.images.length, 2);
    for (const tag of ['latest', '1']) {
      const r = await request(`${up.url}/v2/library/tiny/manifests/${tag}`, { method: 'HEAD', headers: { Accept: MANIFEST_ACCEPT } });
      assert.equal(r.headers['docker-content-digest'], content.tiny.digest, `library/tiny:${tag}`);
    }
    const idx = await request(`${up.url}/v2/library/tiny/manifests/${content.referrer.fallbackTag}`, { headers: { Accept: MANIFEST_ACCEPT } });
    assert.equal(idx.status, 200);
    assert.equal(idx.headers['docker-content-digest'], content.referrer.fallbackIndex);
    const doc = JSON.parse(idx.body.toString()) as { manifests: { digest: string; artifactType: string }[] };
    assert.deepEqual(
      doc.manifests.map((m) => [m.digest, m.artifactType]),
      [[content.referrer.digest, content.referrer.artifactType]],
    );
    assert.equal(content.referrer.subject, content.tiny.digest);
  });

  test('a pull through docker-registry in proxy mode downloads each blob upstream; a second pull none', async () => {
    const out = await pull(`${mirror.hostPort}/library/tiny:latest`);
    await assertLayoutMatches(out, new Layout(imgs.layout('tiny')));
    // distribution 2.8 streams a cold blob to the client and fetches it again to store it: two GETs
    for (const b of content.tiny.blobs) assert.ok(tap.blobDownloads(b) >= 1, `${b}: ${JSON.stringify(tap.summary())}`);
    tap.reset();
    const again = await pull(`${mirror.hostPort}/library/tiny:latest`);
    await assertLayoutMatches(again, new Layout(imgs.layout('tiny')));
    assert.equal(tap.blobDownloads(), 0, JSON.stringify(tap.summary()));
    // registry:2 resolves tags upstream on every pull
    assert.ok(tap.count({ kind: 'manifest', upstream: true }) >= 1, JSON.stringify(tap.summary()));
  });

  test('the tap answers 429 with Retry-After, 503, refuses, hangs and cuts bodies; then passes again', async () => {
    const head = () => request(`${tap.url}/v2/library/tiny/manifests/latest`, { method: 'HEAD', headers: { Accept: MANIFEST_ACCEPT }, timeoutMs: 2000 });
    await tap.setMode('429', { retryAfter: 7 });
    let r = await head();
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after'], '7');
    await tap.setMode('503', { kinds: ['manifest'] });
    assert.equal((await head()).status, 503);
    assert.equal((await request(`${tap.url}/v2/`)).status, 200, 'other kinds pass');
    await tap.setMode('refuse');
    await assert.rejects(head(), /ECONNREFUSED/);
    await tap.setMode('hang');
    await assert.rejects(head(), /timeout/);
    assert.equal(tap.list({ kind: 'manifest' }).at(-1)?.status, 0, 'hung request never answered');
    await tap.setMode('cut', { kinds: ['blob'] });
    const layer = content.tiny.images[0].layers[0];
    const size = new Layout(imgs.layout('tiny')).images()[0].manifest.layers![0].size;
    await assert.rejects(request(`${tap.url}/v2/library/tiny/blobs/${layer}`, { timeoutMs: 5000 }), /aborted|socket hang up|ECONNRESET/);
    const cut = tap.list({ kind: 'blob', ref: layer }).at(-1)!;
    assert.equal(cut.status, 200);
    assert.ok(cut.bytesOut < size, `${cut.bytesOut} of ${size} bytes sent`);
    await tap.setMode('pass');
    r = await head();
    assert.equal(r.status, 200);
    assert.equal(r.headers['docker-content-digest'], content.tiny.digest);
  });

  test('stop() makes the upstream unreachable; start() brings it back on the same port with its data', async () => {
    const url = up.url;
    await up.stop();
    await assert.rejects(request(`${url}/v2/`, { timeoutMs: 2000 }), /ECONNREFUSED/);
    assert.equal((await request(`${tap.url}/v2/`)).status, 502, 'the tap reports the upstream down');
    await up.start();
    assert.equal(up.url, url);
    const r = await request(`${url}/v2/library/tiny/manifests/latest`, { method: 'HEAD', headers: { Accept: MANIFEST_ACCEPT } });
    assert.equal(r.headers['docker-content-digest'], content.tiny.digest);
  });
});

describe('token upstream', () => {
  let up: Upstream;
  let mirror: Upstream;
  let content: UpstreamContent;
  before(async () => {
    up = await startUpstream({ token: true });
    content = await fillUpstream(up, { only: ['tiny', 'referrer'] });
    mirror = await startUpstream({ proxy: { remoteurl: up.url, username: UPSTREAM_USER, password: UPSTREAM_PASSWORD } });
  });
  after(async () => {
    await mirror?.dispose();
    await up?.dispose();
  });

  test('challenges with Bearer; anonymous callers may pull but not push', async () => {
    const r = await request(`${up.url}/v2/library/tiny/blobs/uploads/`, { method: 'POST' });
    assert.equal(r.status, 401);
    const challenge = String(r.headers['www-authenticate']);
    // docker-registry lists the actions in either order (a Go map)
    assert.match(
      challenge,
      new RegExp(`^Bearer realm="${up.token!.realm}",service="${up.token!.service}",scope="repository:library/tiny:(pull,push|push,pull)"`),
    );
    const tok = await request(`${up.token!.realm}?service=${up.token!.service}&scope=repository:library/tiny:pull,push`);
    assert.equal(tok.status, 200);
    const token = (JSON.parse(tok.body.toString()) as { token: string }).token;
    const asked = up.token!.requests.filter((q) => q.user === '' && q.scopes.includes('repository:library/tiny:pull,push'));
    assert.deepEqual(
      asked.map((q) => q.granted),
      [['repository:library/tiny:pull']],
      JSON.stringify(up.token!.requests),
    );
    const bearer = { Authorization: `Bearer ${token}` };
    assert.equal((await request(`${up.url}/v2/library/tiny/blobs/uploads/`, { method: 'POST', headers: bearer })).status, 401, 'no push for anonymous');
    const m = await request(`${up.url}/v2/library/tiny/manifests/latest`, { method: 'HEAD', headers: { ...bearer, Accept: MANIFEST_ACCEPT } });
    assert.equal(m.status, 200);
    assert.equal(m.headers['docker-content-digest'], content.tiny.digest);
    const wrong = await request(`${up.token!.realm}?service=x&scope=repository:library/tiny:pull`, { basicAuth: `${UPSTREAM_USER}:wrong` });
    assert.equal(wrong.status, 401);
    const anon = await skopeo.runMayFail(['copy', '--quiet', ...TLS_OFF, `oci:${imgs.layout('tiny')}:latest`, `docker://${up.hostPort}/library/anon:latest`]);
    assert.notEqual(anon.code, 0, 'skopeo push without credentials is refused');
    assert.match(anon.stderr, /unauthorized|denied|authentication required/i);
  });

  test('docker-registry in proxy mode pulls through it with the configured credentials', async () => {
    const before = up.token!.count(UPSTREAM_USER);
    const out = await pull(`${mirror.hostPort}/library/tiny:1`);
    await assertLayoutMatches(out, new Layout(imgs.layout('tiny')));
    assert.ok(up.token!.count(UPSTREAM_USER) > before, 'the proxy fetched tokens as the configured user');
  });
});
