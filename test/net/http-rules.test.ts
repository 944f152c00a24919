// Network rules over HTTP (docs/network-rules.md): each surface refused with its own body
// (OCI on /v2 and /token, REST on /api, an HTML page on /ui), the other surfaces untouched,
// namespace rules over the global ones, refusals before authentication, and the client
// address from http.trustproxy (X-Forwarded-For only from trusted proxies).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, expectError, pushImage, removeDir, startServer, tempDir, type TestServer } from '../helpers/api-server.js';
import { TOKEN_AUTH } from '../helpers/token-client.js';

function started(opts: Parameters<typeof startServer>[0]): () => TestServer {
  let s: TestServer | undefined;
  before(async () => {
    s = await startServer(opts);
  });
  after(async () => {
    if (!s) return;
    await s.close();
    removeDir(s.dir);
  });
  return () => s!;
}

describe('pull and push rules on /v2', () => {
  // Pulls from the office only, except namespace "public"; pushes from the office, and to "team" from this host.
  const srv = started({
    config: {
      network: {
        pull: { allow: ['10.0.0.0/8'] },
        push: { allow: ['10.0.0.0/8'] },
        namespaces: { public: { pull: { allow: ['127.0.0.1', '::1'] }, push: { allow: ['127.0.0.1'] } }, team: { push: { allow: ['127.0.0.0/8'] } } },
      },
    },
  });

  it('a pull outside the allow list is refused with 403 DENIED naming the rule and the address', async () => {
    const team = await pushImage(srv().url, 'team/app', { ref: 'v1' });
    const body = await expectError(await api(srv().url, '/v2/team/app/manifests/v1'), 403, 'DENIED');
    assert.equal(body.errors[0].message, 'pull to namespace "team" from 127.0.0.1 is denied: the address is not in network rule network.pull.allow');
    assert.deepEqual(body.errors[0].detail, { rule: 'network.pull.allow' });
    await expectError(await api(srv().url, `/v2/team/app/blobs/${team.config.digest}`), 403, 'DENIED');
    await expectError(await api(srv().url, '/v2/team/app/tags/list'), 403, 'DENIED');
    await expectError(await api(srv().url, `/v2/team/app/referrers/${team.manifest.digest}`), 403, 'DENIED');
    // HEAD (what every pusher asks first) needs a pull or a push: team admits this address's pushes.
    const head = await api(srv().url, '/v2/team/app/manifests/v1', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('docker-content-digest'), team.manifest.digest);
    const refused = await api(srv().url, '/v2/other/app/manifests/v1', { method: 'HEAD' });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('docker-distribution-api-version'), 'registry/2.0');
    // A mount into public (pushes admitted) from team (pulls refused) would copy around the pull rule.
    const mount = await api(srv().url, `/v2/public/app/blobs/uploads/?mount=${team.config.digest}&from=team/app`, { method: 'POST' });
    const mountBody = await expectError(mount, 403, 'DENIED');
    assert.match(mountBody.errors[0].message, /^pull to namespace "team" from 127\.0\.0\.1 is denied/);
    // The catalog is a pull of no namespace: the global rules.
    await expectError(await api(srv().url, '/v2/_catalog'), 403, 'DENIED');
  });

  it("a namespace's allow list admits what the global one does not", async () => {
    const img = await pushImage(srv().url, 'public/app', { ref: 'v1' });
    const res = await api(srv().url, '/v2/public/app/manifests/v1', { headers: { Accept: img.manifest.mediaType } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), img.manifest.digest);
    await res.arrayBuffer();
  });

  it('a push outside the allow list is refused at the upload, the manifest PUT and DELETE; pulls stay as they were', async () => {
    const start = await api(srv().url, '/v2/other/app/blobs/uploads/', { method: 'POST' });
    const body = await expectError(start, 403, 'DENIED');
    assert.match(body.errors[0].message, /^push to namespace "other" from 127\.0\.0\.1 is denied: the address is not in network rule network\.push\.allow$/);
    await expectError(await api(srv().url, '/v2/other/app/manifests/v1', { method: 'PUT', body: '{}' }), 403, 'DENIED');
    await expectError(await api(srv().url, `/v2/other/app/manifests/sha256:${'0'.repeat(64)}`, { method: 'DELETE' }), 403, 'DENIED');
    await expectError(await api(srv().url, `/v2/other/app/blobs/sha256:${'0'.repeat(64)}`, { method: 'DELETE' }), 403, 'DENIED');
    // Pushes to team are admitted by its own allow list (pushImage in the first test), and deletes there are pushes too.
    await expectError(await api(srv().url, `/v2/team/app/manifests/sha256:${'0'.repeat(64)}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    // /v2/ answers: this address may push to team and pull from public.
    const base = await api(srv().url, '/v2/');
    assert.equal(base.status, 200);
    await base.arrayBuffer();
  });
});

describe('refusals come before authentication', () => {
  const htpasswd = path.join(tempDir(), 'htpasswd');
  writeFileSync(htpasswd, '');
  after(() => removeDir(path.dirname(htpasswd)));
  const srv = started({ config: { auth: { htpasswd: { path: htpasswd } }, network: { pull: { deny: ['127.0.0.1'] } } } });

  it('a refused pull gets 403 DENIED, not the 401 challenge', async () => {
    const res = await api(srv().url, '/v2/team/app/manifests/v1');
    assert.equal(res.headers.get('www-authenticate'), null);
    const body = await expectError(res, 403, 'DENIED');
    assert.equal(body.errors[0].message, 'pull to namespace "team" from 127.0.0.1 is denied by network rule network.pull.deny (127.0.0.1)');
    assert.deepEqual(body.errors[0].detail, { rule: 'network.pull.deny', entry: '127.0.0.1' });
  });

  it('a push is not a pull: it reaches authentication (401)', async () => {
    const res = await api(srv().url, '/v2/team/app/blobs/uploads/', { method: 'POST' });
    await expectError(res, 401, 'UNAUTHORIZED');
  });

  it('/healthz is never refused', async () => {
    const res = await api(srv().url, '/healthz');
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  });
});

describe('the client address and http.trustproxy', () => {
  describe('behind a trusted proxy', () => {
    const srv = started({ config: { http: { trustproxy: '127.0.0.1' }, network: { pull: { deny: ['203.0.113.7'] } } } });

    it("X-Forwarded-For from a trusted proxy is the client's address", async () => {
      const refused = await api(srv().url, '/v2/team/app/manifests/v1', { headers: { 'X-Forwarded-For': '203.0.113.7' } });
      const body = await expectError(refused, 403, 'DENIED');
      assert.match(body.errors[0].message, /from 203\.0\.113\.7 is denied by network rule network\.pull\.deny/);
      await expectError(await api(srv().url, '/v2/team/app/manifests/v1', { headers: { 'X-Forwarded-For': '203.0.113.8' } }), 404, 'MANIFEST_UNKNOWN');
      await expectError(await api(srv().url, '/v2/team/app/manifests/v1'), 404, 'MANIFEST_UNKNOWN');
    });

    it('an address the client prepends is not its own: the nearest untrusted hop counts', async () => {
      await expectError(await api(srv().url, '/v2/team/app/manifests/v1', { headers: { 'X-Forwarded-For': '198.51.100.1, 203.0.113.7' } }), 403, 'DENIED');
      await expectError(
        await api(srv().url, '/v2/team/app/manifests/v1', { headers: { 'X-Forwarded-For': '203.0.113.7, 198.51.100.1' } }),
        404,
        'MANIFEST_UNKNOWN',
      );
    });

    it('an IPv4-mapped forwarded address is its IPv4 address', async () => {
      await expectError(await api(srv().url, '/v2/team/app/manifests/v1', { headers: { 'X-Forwarded-For': '::ffff:203.0.113.7' } }), 403, 'DENIED');
    });
  });

  describe('from an untrusted peer', () => {
    const srv = started({ config: { http: { trustproxy: '192.0.2.1' }, network: { pull: { allow: ['203.0.113.0/24'] } } } });

    it('a spoofed X-Forwarded-For is ignored: the peer address decides', async () => {
      const res = await api(srv().url, '/v2/team/app/manifests/v1', { headers: { 'X-Forwarded-For': '203.0.113.7' } });
      const body = await expectError(res, 403, 'DENIED');
      assert.match(body.errors[0].message, /from 127\.0\.0\.1 is denied: the address is not in network rule network\.pull\.allow/);
    });
  });
});

describe('api and ui rules (token mode)', () => {
  describe('the API refused, the UI allowed', () => {
    const srv = started({ config: { ...TOKEN_AUTH, network: { api: { deny: ['127.0.0.0/8'] } } } });

    it('/api answers 403 with the REST body; /v2, /token and the UI are untouched', async () => {
      const body = await expectError(await api(srv().url, '/api/v1/users'), 403, 'DENIED');
      assert.equal(body.errors[0].message, 'API access from 127.0.0.1 is denied by network rule network.api.deny (127.0.0.0/8)');
      const page = await api(srv().url, '/ui/', { headers: { Accept: 'text/html' } });
      assert.equal(page.status, 200);
      await page.arrayBuffer();
      // The UI's own calls to the API (they carry X-Berth-CSRF) are UI traffic.
      const viaUi = await api(srv().url, '/api/v1/repositories', { headers: { 'x-berth-csrf': 'x' } });
      assert.notEqual(viaUi.status, 403, await viaUi.text());
      const token = await api(srv().url, '/token?service=berth&scope=repository:team/app:pull');
      assert.equal(token.status, 200, await token.text());
      await expectError(await api(srv().url, '/v2/team/app/manifests/v1'), 401, 'UNAUTHORIZED');
    });
  });

  describe('the UI refused', () => {
    const srv = started({ config: { ...TOKEN_AUTH, network: { ui: { deny: ['127.0.0.1'] }, namespaces: { team: { api: { deny: ['127.0.0.1'] } } } } } });

    it('a page answers 403 with an HTML page naming the rule; the UI JSON reads answer the REST body', async () => {
      const page = await api(srv().url, '/ui/repositories/team/app', { headers: { Accept: 'text/html,application/xhtml+xml' } });
      assert.equal(page.status, 403);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      const html = await page.text();
      assert.match(html, /<h1>Access denied<\/h1>/);
      assert.match(html, /UI access from 127\.0\.0\.1 is denied by network rule network\.ui\.deny \(127\.0\.0\.1\)/);
      await expectError(await api(srv().url, '/ui/session'), 403, 'DENIED');
      await expectError(await api(srv().url, '/api/v1/users', { headers: { 'x-berth-csrf': 'x' } }), 403, 'DENIED');
      const other = await api(srv().url, '/api/v1/users');
      assert.notEqual(other.status, 403, await other.text());
    });

    it("a namespace's API rules apply to its repository and namespace paths only", async () => {
      const body = await expectError(await api(srv().url, '/api/v1/repositories/team/app'), 403, 'DENIED');
      assert.equal(
        body.errors[0].message,
        'API access to namespace "team" from 127.0.0.1 is denied by network rule network.namespaces.team.api.deny (127.0.0.1)',
      );
      await expectError(await api(srv().url, '/api/v1/namespaces/team/quota'), 403, 'DENIED');
      // The API decodes %2F in a repository's name: still team's.
      await expectError(await api(srv().url, '/api/v1/repositories/team%2Fapp'), 403, 'DENIED');
      await expectError(await api(srv().url, '/api/v1/orgs/team'), 403, 'DENIED');
      const other = await api(srv().url, '/api/v1/repositories/other/app');
      assert.notEqual(other.status, 403, await other.text());
    });
  });

  describe('pull and push both refused', () => {
    const srv = started({ config: { ...TOKEN_AUTH, network: { pull: { deny: ['127.0.0.1'] }, push: { deny: ['127.0.0.1'] } } } });

    it('/v2/ and /token refuse the address before any password is checked; the API does not', async () => {
      await expectError(await api(srv().url, '/v2/'), 403, 'DENIED');
      const token = await api(srv().url, '/token?service=berth&scope=repository:team/app:pull', {
        headers: { Authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` },
      });
      const body = await expectError(token, 403, 'DENIED');
      assert.equal(body.errors[0].message, 'pull and push from 127.0.0.1 are denied everywhere (network.pull.deny)');
      const users = await api(srv().url, '/api/v1/users');
      assert.notEqual(users.status, 403, await users.text());
    });
  });
});
