// Authenticating to upstreams: docker-registry behind the fixtures' token server (anonymously, and
// with the configured credentials when anonymous pulls are refused), and chaining: a Berth in token
// mode as the upstream of another Berth in token mode (edge → central). Client credentials never go
// upstream, and the upstream's credentials and tokens never reach clients.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { removeDir, startServer, type TestServer } from '../helpers/api-server.js';
import { Skopeo } from '../helpers/clients.js';
import { request } from '../helpers/http.js';
import { Layout, MANIFEST_ACCEPT, assertLayoutMatches } from '../helpers/oci.js';
import { tempDir, testImages, type TestImages } from '../helpers/shared.js';
import { accountsOf, TOKEN_AUTH } from '../helpers/token-client.js';
import { UPSTREAM_PASSWORD, UPSTREAM_USER, fillUpstream, startUpstream, type Upstream, type UpstreamContent } from '../helpers/upstream.js';

const TLS_OFF = ['--src-tls-verify=false', '--dest-tls-verify=false'];

let imgs: TestImages;
let skopeo: Skopeo;
let work: string;
before(async () => {
  imgs = await testImages();
  skopeo = new Skopeo('mirror-upstream-auth');
  work = tempDir('mirror-upstream-auth');
});

let n = 0;
async function pull(host: string, ref: string, creds?: string): Promise<string> {
  const out = path.join(work, `pull-${++n}`);
  await skopeo.run(['copy', '--quiet', ...TLS_OFF, ...(creds ? ['--src-creds', creds] : []), `docker://${host}/${ref}`, `oci:${out}:latest`]);
  return out;
}

describe('a token-authenticated upstream (docker-registry and its token server)', () => {
  let open: Upstream;
  let closed: Upstream;
  let openContent: UpstreamContent;
  let berth: TestServer;
  before(async () => {
    open = await startUpstream({ token: true, name: 'mirror-token-open' });
    closed = await startUpstream({ token: { anonymousPull: false }, name: 'mirror-token-closed' });
    openContent = await fillUpstream(open, { only: ['tiny'] });
    await fillUpstream(closed, { only: ['tiny'] });
    berth = await startServer({
      config: {
        mirror: {
          upstreams: {
            open: { url: open.url },
            closed: { url: closed.url, username: UPSTREAM_USER, password: UPSTREAM_PASSWORD },
            nocreds: { url: closed.url },
          },
        },
      },
    });
  });
  after(async () => {
    await berth?.close();
    if (berth) removeDir(berth.dir);
    await open?.dispose();
    await closed?.dispose();
  });

  test('anonymously, when the upstream allows anonymous pulls', async () => {
    const before = open.token!.requests.length;
    await assertLayoutMatches(await pull(new URL(berth.url).host, 'open/library/tiny:latest'), new Layout(imgs.layout('tiny')));
    const asked = open.token!.requests.slice(before);
    assert.ok(asked.length >= 1, 'a token was fetched');
    assert.deepEqual([...new Set(asked.map((r) => r.user))], [''], 'anonymously');
    assert.ok(asked.every((r) => r.status === 200));
    const head = await request(`${berth.url}/v2/open/library/tiny/manifests/latest`, { method: 'HEAD', headers: { Accept: MANIFEST_ACCEPT } });
    assert.equal(head.headers['docker-content-digest'], openContent.tiny.digest);
  });

  test('with the configured credentials; without them the answer is 502 UPSTREAM_FAILED, never the credentials', async () => {
    const before = closed.token!.requests.length;
    await assertLayoutMatches(await pull(new URL(berth.url).host, 'closed/library/tiny:latest'), new Layout(imgs.layout('tiny')));
    const asked = closed.token!.requests.slice(before);
    assert.ok(asked.length >= 1);
    assert.deepEqual([...new Set(asked.map((r) => r.user))], [UPSTREAM_USER]);

    const r = await request(`${berth.url}/v2/nocreds/library/tiny/manifests/latest`, { headers: { Accept: MANIFEST_ACCEPT } });
    assert.equal(r.status, 502, r.body.toString());
    const e = JSON.parse(r.body.toString()).errors[0];
    assert.equal(e.code, 'UPSTREAM_FAILED');
    assert.match(e.message, /upstream registry "nocreds" refused the mirror's credentials/);
    for (const [k, v] of Object.entries(r.headers)) assert.ok(!String(v).includes(closed.token!.realm), `${k} names the upstream's realm`);
  });
});

/** An HTTP proxy that records every request's Authorization and the tokens handed out, passing Host through. */
async function startRecorder(target: string) {
  const t = new URL(target);
  const seen: { method: string; url: string; authorization?: string }[] = [];
  const tokens: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization });
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode!, r.headers);
      if (!req.url!.startsWith('/token')) return void r.pipe(res);
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => {
        const body = Buffer.concat(chunks);
        try {
          const doc = JSON.parse(body.toString()) as { token?: string; access_token?: string };
          for (const x of [doc.token, doc.access_token]) if (x) tokens.push(x);
        } catch {}
        res.end(body);
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, tokens, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('chaining: an edge Berth mirrors a central Berth, both in token mode', () => {
  const centralAdmin = { user: 'admin', password: 'central-admin-pass-9' };
  const alice = { user: 'alice', password: 'alice-edge-pass-7' };
  let central: TestServer;
  let edge: TestServer;
  let recorder: Awaited<ReturnType<typeof startRecorder>>;
  let tinyDigest: string;
  before(async () => {
    central = await startServer({ config: { auth: { token: {}, accounts: { ...TOKEN_AUTH.auth.accounts, adminpassword: centralAdmin.password } } } });
    const centralHost = new URL(central.url).host;
    await skopeo.run([
      'copy',
      '--quiet',
      ...TLS_OFF,
      '--dest-creds',
      `${centralAdmin.user}:${centralAdmin.password}`,
      `oci:${imgs.layout('tiny')}:latest`,
      `docker://${centralHost}/team/tiny:1`,
    ]);
    tinyDigest = new Layout(imgs.layout('tiny')).top().digest;
    recorder = await startRecorder(central.url);
    edge = await startServer({
      config: {
        ...TOKEN_AUTH,
        mirror: { upstreams: { central: { url: recorder.url, username: centralAdmin.user, password: centralAdmin.password, default: true } } },
      },
    });
    const accounts = await accountsOf(edge);
    await accounts.service.createUser({ username: alice.user, password: alice.password }, { actor: 'test', action: 'user.create', target: alice.user });
    await accounts.close();
  });
  after(async () => {
    await edge?.close();
    await recorder?.close();
    await central?.close();
    for (const s of [edge, central]) if (s) removeDir(s.dir);
  });

  test('a signed-in user of the edge pulls central content through it; anonymous callers may not', async () => {
    const edgeHost = new URL(edge.url).host;
    await assertLayoutMatches(await pull(edgeHost, 'central/team/tiny:1', `${alice.user}:${alice.password}`), new Layout(imgs.layout('tiny')));
    assert.ok(
      recorder.seen.some((r) => r.url.startsWith('/v2/team/tiny/blobs/')),
      'blobs came from central',
    );
    await assert.rejects(pull(edgeHost, 'central/team/tiny:1'), /unauthorized|authentication required|denied/i);
  });

  test('only the configured upstream credentials reach central; its tokens and password never reach the client', async () => {
    assert.ok(recorder.seen.length > 0);
    for (const r of recorder.seen) {
      const a = r.authorization ?? '';
      assert.ok(!a.includes(Buffer.from(`${alice.user}:${alice.password}`).toString('base64')), `${r.method} ${r.url} carried alice's password`);
      if (a.startsWith('Basic ')) assert.equal(Buffer.from(a.slice(6), 'base64').toString(), `${centralAdmin.user}:${centralAdmin.password}`, r.url);
      if (a.startsWith('Bearer ')) {
        const claims = JSON.parse(Buffer.from(a.slice(7).split('.')[1], 'base64url').toString()) as { sub: string };
        assert.equal(claims.sub, centralAdmin.user, `${r.url}: a token central issued to the configured user`);
        assert.ok(recorder.tokens.includes(a.slice(7)), `${r.url}: a token from central's realm, not the edge's`);
      }
    }
    assert.ok(recorder.tokens.length > 0, 'central issued tokens');
    // What alice sees from the edge: its own challenge, and nothing of central's.
    const tokenRes = await request(`${edge.url}/token?service=berth&scope=repository:central/team/tiny:pull`, { basicAuth: `${alice.user}:${alice.password}` });
    assert.equal(tokenRes.status, 200, tokenRes.body.toString());
    const aliceToken = (JSON.parse(tokenRes.body.toString()) as { token: string }).token;
    const auth = { Authorization: `Bearer ${aliceToken}`, Accept: MANIFEST_ACCEPT };
    const answers = [
      await request(`${edge.url}/v2/central/team/tiny/manifests/1`, { headers: auth }),
      await request(`${edge.url}/v2/central/team/tiny/manifests/missing`, { headers: auth }),
      await request(`${edge.url}/v2/central/team/tiny/blobs/${tinyDigest}`, { headers: auth }),
      await request(`${edge.url}/v2/central/team/tiny/tags/list`, { headers: auth }),
      await request(`${edge.url}/v2/central/team/other/manifests/1`),
    ];
    assert.equal(answers[0].status, 200);
    assert.equal(answers[1].status, 404);
    assert.deepEqual(JSON.parse(answers[3].body.toString()).tags, ['1']);
    assert.match(String(answers[4].headers['www-authenticate']), new RegExp(`realm="${edge.url}/token"`));
    for (const r of answers) {
      const text = JSON.stringify(r.headers) + r.body.toString('latin1');
      assert.ok(!text.includes(centralAdmin.password), 'the upstream password');
      assert.ok(!text.includes(recorder.url) || r.status === 200, 'the upstream URL in an error');
      for (const t of recorder.tokens) assert.ok(!text.includes(t), 'a token central issued');
    }
  });

  test("token grants follow the routing: the default upstream for a namespace no account owns, ns= on the cache's name", async () => {
    const token = async (scope: string) => {
      const r = await request(`${edge.url}/token?service=berth&scope=${scope}`, { basicAuth: `${alice.user}:${alice.password}` });
      return (JSON.parse(r.body.toString()) as { token: string }).token;
    };
    // docker's registry-mirrors: team/tiny has no prefix; "team" is nobody's namespace on the edge, so it is central's.
    const viaDefault = await request(`${edge.url}/v2/team/tiny/manifests/1`, {
      headers: { Authorization: `Bearer ${await token('repository:team/tiny:pull')}`, Accept: MANIFEST_ACCEPT },
    });
    assert.equal(viaDefault.status, 200, viaDefault.body.toString());
    assert.equal(viaDefault.headers['docker-content-digest'], tinyDigest);
    // containerd's ns=: the challenge names the cache (central/team/tiny), and a token for it is what counts.
    const ns = new URL(recorder.url).host;
    const challenge = await request(`${edge.url}/v2/team/tiny/manifests/1?ns=${ns}`, { method: 'HEAD' });
    assert.equal(challenge.status, 401);
    assert.match(String(challenge.headers['www-authenticate']), /scope="repository:central\/team\/tiny:pull"/);
    const viaNs = await request(`${edge.url}/v2/team/tiny/manifests/1?ns=${ns}`, {
      headers: { Authorization: `Bearer ${await token('repository:central/team/tiny:pull')}`, Accept: MANIFEST_ACCEPT },
    });
    assert.equal(viaNs.status, 200, viaNs.body.toString());
    // alice's own namespace stays hers: she may push there.
    const own = await request(`${edge.url}/token?service=berth&scope=repository:alice/app:pull,push`, { basicAuth: `${alice.user}:${alice.password}` });
    const claims = JSON.parse(Buffer.from((JSON.parse(own.body.toString()) as { token: string }).token.split('.')[1], 'base64url').toString()) as {
      access: { actions: string[] }[];
    };
    assert.deepEqual(claims.access[0].actions.sort(), ['pull', 'push']);
  });

  test('the catalog lists the caches to a signed-in user of the edge, with her own repositories', async () => {
    await skopeo.run([
      'copy',
      '--quiet',
      ...TLS_OFF,
      '--dest-creds',
      `${alice.user}:${alice.password}`,
      `oci:${imgs.layout('tiny')}:latest`,
      `docker://${new URL(edge.url).host}/alice/own:1`,
    ]);
    const t = await request(`${edge.url}/token?service=berth&scope=registry:catalog:*`, { basicAuth: `${alice.user}:${alice.password}` });
    const r = await request(`${edge.url}/v2/_catalog`, { headers: { Authorization: `Bearer ${(JSON.parse(t.body.toString()) as { token: string }).token}` } });
    assert.equal(r.status, 200, r.body.toString());
    assert.deepEqual((JSON.parse(r.body.toString()) as { repositories: string[] }).repositories, ['alice/own', 'central/team/tiny']);
    const page = await request(`${edge.url}/v2/_catalog?n=1`, {
      headers: { Authorization: `Bearer ${(JSON.parse(t.body.toString()) as { token: string }).token}` },
    });
    assert.deepEqual((JSON.parse(page.body.toString()) as { repositories: string[] }).repositories, ['alice/own']);
  });

  test('pushing to the mirrored name is refused with 405 before any token, even for the edge admin', async () => {
    const r = await request(`${edge.url}/v2/central/team/tiny/blobs/uploads/`, { method: 'POST' });
    assert.equal(r.status, 405, r.body.toString());
    assert.equal(JSON.parse(r.body.toString()).errors[0].code, 'UNSUPPORTED');
    const token = await request(`${edge.url}/token?service=berth&scope=repository:central/team/tiny:pull,push`, {
      basicAuth: `admin:${TOKEN_AUTH.auth.accounts.adminpassword}`,
    });
    const granted = JSON.parse(Buffer.from((JSON.parse(token.body.toString()) as { token: string }).token.split('.')[1], 'base64url').toString()) as {
      access: { name: string; actions: string[] }[];
    };
    assert.deepEqual(granted.access, [{ type: 'repository', name: 'central/team/tiny', actions: ['pull'] }]);
  });
});
