// Malformed requests: invalid names, tags, digests and ranges, bodies cut short,
// and the OCI error body on every error.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import {
  MT,
  api,
  asBody,
  assertErrorBody,
  digestOf,
  expectError,
  expectRawError,
  pushBlob,
  pushImage,
  randomBlob,
  rangeEnd,
  rawRequest,
  removeDir,
  startServer,
  withQuery,
  serverPerFile,
} from '../helpers/api-server.js';

const srv = serverPerFile();

const SOME_DIGEST = digestOf('some content');

describe('invalid repository names', () => {
  const names = [
    'Upper',
    'repo/Upper',
    'a/../b',
    '../a',
    'a/./b',
    'a//b',
    '/a',
    'a/',
    '-a',
    'a-',
    'a..b',
    'a/.b',
    '_a',
    'a!b',
    'a b',
    'a%2Fb',
    'x'.repeat(256),
    `${'a'.repeat(200)}/${'b'.repeat(55)}`,
  ];
  const endpoints = (name: string): [string, string][] => [
    ['GET', `/v2/${name}/tags/list`],
    ['GET', `/v2/${name}/manifests/latest`],
    ['HEAD', `/v2/${name}/manifests/latest`],
    ['PUT', `/v2/${name}/manifests/latest`],
    ['DELETE', `/v2/${name}/manifests/latest`],
    ['GET', `/v2/${name}/blobs/${SOME_DIGEST}`],
    ['DELETE', `/v2/${name}/blobs/${SOME_DIGEST}`],
    ['POST', `/v2/${name}/blobs/uploads/`],
    ['GET', `/v2/${name}/blobs/uploads/3f1e2b9a-0000-4000-8000-000000000000`],
    ['GET', `/v2/${name}/referrers/${SOME_DIGEST}`],
  ];

  it('every endpoint answers 400 NAME_INVALID', async () => {
    for (const name of names) {
      for (const [method, p] of endpoints(name)) {
        const body = method === 'PUT' ? '{}' : undefined;
        const res = await rawRequest(srv.url, method, p.replace(/ /g, '%20'), body ? { 'Content-Type': MT.ociManifest } : {}, body);
        const where = `${method} ${p.slice(0, 80)}`;
        if (method === 'HEAD') {
          assert.equal(res.status, 400, where);
          assert.equal(res.body.length, 0, `${where}: HEAD has no body`);
        } else {
          expectRawError(res, 400, 'NAME_INVALID', where);
        }
      }
    }
  });

  it('a 255-character name is valid (404 NAME_UNKNOWN, not 400)', async () => {
    const name = `${'a'.repeat(200)}/${'b'.repeat(54)}`;
    assert.equal(name.length, 255);
    expectRawError(await rawRequest(srv.url, 'GET', `/v2/${name}/tags/list`), 404, 'NAME_UNKNOWN', 'tags of a 255-char name');
    const b = await pushBlob(srv.url, name, randomBlob(5));
    assert.equal((await rawRequest(srv.url, 'GET', `/v2/${name}/blobs/${b.digest}`)).status, 200);
  });
});

describe('invalid tags', () => {
  // '.INVALID_MANIFEST_NAME' is what the OCI conformance suite (v1.1.1) asks for.
  const tags = ['-bad', '.bad', '.INVALID_MANIFEST_NAME', 'x'.repeat(129), 'bad!', 'bad%20tag', 'a+b', 'a@b'];

  it('GET/HEAD/DELETE with an invalid tag answer 404 MANIFEST_UNKNOWN: no manifest can have that tag', async () => {
    await pushImage(srv.url, 'bad/tags', { ref: 'latest' });
    for (const tag of tags) {
      expectRawError(await rawRequest(srv.url, 'GET', `/v2/bad/tags/manifests/${tag}`), 404, 'MANIFEST_UNKNOWN', `GET ${tag}`);
      expectRawError(await rawRequest(srv.url, 'DELETE', `/v2/bad/tags/manifests/${tag}`), 404, 'MANIFEST_UNKNOWN', `DELETE ${tag}`);
      const head = await rawRequest(srv.url, 'HEAD', `/v2/bad/tags/manifests/${tag}`);
      assert.equal(head.status, 404, `HEAD ${tag}`);
      assert.equal(head.body.length, 0, `HEAD ${tag} has no body`);
    }
    // The same in a repository that does not exist.
    expectRawError(await rawRequest(srv.url, 'GET', '/v2/bad/none/manifests/.INVALID_MANIFEST_NAME'), 404, 'MANIFEST_UNKNOWN', 'GET in a missing repository');
    assert.equal((await api(srv.url, '/v2/bad/tags/manifests/latest', { method: 'HEAD' })).status, 200, 'the valid tag is untouched');
  });

  it('PUT with an invalid tag answers 400 TAG_INVALID and creates nothing', async () => {
    const img = await pushImage(srv.url, 'bad/tags');
    for (const tag of tags) {
      const put = await rawRequest(srv.url, 'PUT', `/v2/bad/tags/manifests/${tag}`, { 'Content-Type': MT.ociManifest }, img.manifest.bytes);
      expectRawError(put, 400, 'TAG_INVALID', `PUT ${tag}`);
    }
    const list = await api(srv.url, '/v2/bad/tags/tags/list');
    assert.deepEqual(((await list.json()) as { tags: string[] | null }).tags ?? [], ['latest']);
  });

  it('a 128-character tag is valid', async () => {
    const tag = `v${'x'.repeat(127)}`;
    const img = await pushImage(srv.url, 'bad/tags', { ref: tag });
    const res = await api(srv.url, `/v2/bad/tags/manifests/${tag}`, { headers: { Accept: MT.ociManifest } });
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(img.manifest.bytes));
  });
});

describe('invalid digests', () => {
  const digests = [
    'sha256:abc',
    `sha256:${'A'.repeat(64)}`,
    `sha256:${'g'.repeat(64)}`,
    `sha256:${'a'.repeat(65)}`,
    `sha512:${'a'.repeat(64)}`,
    `md5:${'a'.repeat(32)}`,
    'sha256:',
    ':abc',
    'notadigest',
  ];

  it('blob GET/DELETE with an invalid digest answer 400 DIGEST_INVALID (HEAD 400)', async () => {
    for (const d of digests) {
      await expectError(await api(srv.url, `/v2/bad/digests/blobs/${d}`), 400, 'DIGEST_INVALID', `GET ${d}`);
      await expectError(await api(srv.url, `/v2/bad/digests/blobs/${d}`, { method: 'DELETE' }), 400, 'DIGEST_INVALID', `DELETE ${d}`);
      const head = await api(srv.url, `/v2/bad/digests/blobs/${d}`, { method: 'HEAD' });
      assert.equal(head.status, 400, `HEAD ${d}`);
      await head.arrayBuffer();
    }
  });

  it('manifest GET/PUT/DELETE by an invalid digest answer 400 DIGEST_INVALID', async () => {
    for (const d of digests.filter((x) => x.includes(':'))) {
      await expectError(await api(srv.url, `/v2/bad/digests/manifests/${d}`), 400, 'DIGEST_INVALID', `GET ${d}`);
      await expectError(await api(srv.url, `/v2/bad/digests/manifests/${d}`, { method: 'DELETE' }), 400, 'DIGEST_INVALID', `DELETE ${d}`);
      const put = await api(srv.url, `/v2/bad/digests/manifests/${d}`, { method: 'PUT', headers: { 'Content-Type': MT.ociManifest }, body: '{}' });
      await expectError(put, 400, 'DIGEST_INVALID', `PUT ${d}`);
    }
  });

  it('finishing an upload with an invalid ?digest= answers 400 DIGEST_INVALID', async () => {
    const start = await api(srv.url, '/v2/bad/digests/blobs/uploads/', { method: 'POST' });
    assert.equal(start.status, 202);
    const loc = new URL(start.headers.get('location') ?? '', srv.url).href;
    for (const d of digests) {
      await expectError(await fetch(withQuery(loc, { digest: d }), { method: 'PUT', body: Buffer.from('abc') }), 400, 'DIGEST_INVALID', d);
    }
    for (const d of digests) {
      const res = await api(srv.url, `/v2/bad/digests/blobs/uploads/?digest=${encodeURIComponent(d)}`, { method: 'POST', body: Buffer.from('abc') });
      await expectError(res, 400, 'DIGEST_INVALID', `POST ?digest=${d}`);
    }
  });

  it('a mount with an invalid digest falls back to a new upload session (202)', async () => {
    const b = await pushBlob(srv.url, 'bad/source', randomBlob(9));
    for (const d of ['garbage', 'sha256:abc']) {
      const res = await api(srv.url, `/v2/bad/mount/blobs/uploads/?mount=${d}&from=bad/source`, { method: 'POST' });
      assert.equal(res.status, 202, `mount=${d}: ${await res.text()}`);
      assert.ok(res.headers.get('location'));
    }
    assert.equal((await api(srv.url, `/v2/bad/mount/blobs/${b.digest}`, { method: 'HEAD' })).status, 404);
  });
});

describe('invalid Content-Range on uploads', () => {
  async function session(): Promise<string> {
    const res = await api(srv.url, '/v2/bad/range/blobs/uploads/', { method: 'POST' });
    assert.equal(res.status, 202);
    return new URL(res.headers.get('location') ?? '', srv.url).href;
  }

  it('malformed, reversed or length-mismatched ranges answer 416 (or 400) and leave the upload unchanged', async () => {
    const loc = await session();
    const first = await fetch(loc, { method: 'PATCH', headers: { 'Content-Range': '0-9' }, body: asBody(randomBlob(10)) });
    assert.equal(first.status, 202);
    for (const [range, size] of [
      ['garbage', 5],
      ['bytes', 5],
      ['14-10', 5],
      ['10-', 5],
      ['-10', 5],
      ['10-19', 5], // says 10 bytes, sends 5
      ['10-12', 5], // says 3 bytes, sends 5
    ] as const) {
      const res = await fetch(loc, { method: 'PATCH', headers: { 'Content-Range': range }, body: asBody(randomBlob(size)) });
      const text = await res.text();
      assert.ok(res.status === 416 || res.status === 400, `Content-Range ${range}: expected 416/400, got ${res.status} ${text}`);
      assertErrorBody(text, undefined, `Content-Range ${range}`);
    }
    const st = await fetch(loc);
    assert.equal(st.status, 204);
    assert.equal(rangeEnd(st.headers.get('range')), 9, 'the upload still has exactly the first chunk');
  });
});

describe('bodies cut short', () => {
  /** Sends headers announcing 1000 bytes, then 10 bytes, then closes the socket. */
  function sendShort(method: string, p: string, headers: Record<string, string> = {}): Promise<void> {
    const u = new URL(srv.url);
    return new Promise((resolve, reject) => {
      const sock = net.connect(Number(u.port), u.hostname, () => {
        const head = [
          `${method} ${p} HTTP/1.1`,
          `Host: ${u.host}`,
          'Content-Length: 1000',
          ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
          '',
          '',
        ].join('\r\n');
        sock.write(head);
        sock.write(randomBlob(10));
        setTimeout(() => sock.destroy(), Math.random() * 50);
      });
      sock.on('error', () => {});
      sock.on('close', () => resolve());
      sock.setTimeout(5000, () => reject(new Error('socket timeout')));
    });
  }

  /**
   * Runs `send` (requests whose clients go away mid-body: nobody gets an answer) and waits until
   * the server has run the handlers of all `n` of them to the end, cleanup included.
   */
  async function cutShort(n: number, send: () => Promise<unknown>): Promise<void> {
    const before = srv.handled();
    await send();
    await srv.settled(before + n);
  }

  async function serving(): Promise<void> {
    const res = await api(srv.url, '/v2/');
    assert.equal(res.status, 200, 'the server keeps serving');
    await res.arrayBuffer();
  }

  it('a monolithic POST ?digest= cut short stores nothing', async () => {
    const full = randomBlob(1000);
    const digest = digestOf(full);
    await cutShort(1, () => sendShort('POST', `/v2/short/mono/blobs/uploads/?digest=${digest}`, { 'Content-Type': 'application/octet-stream' }));
    assert.equal((await api(srv.url, `/v2/short/mono/blobs/${digest}`, { method: 'HEAD' })).status, 404);
    await serving();
  });

  it('a PUT ?digest= cut short stores nothing', async () => {
    const full = randomBlob(1000);
    const digest = digestOf(full);
    const start = await api(srv.url, '/v2/short/put/blobs/uploads/', { method: 'POST' });
    const loc = new URL(start.headers.get('location') ?? '', srv.url);
    await cutShort(1, () => sendShort('PUT', `${loc.pathname}?digest=${digest}`, { 'Content-Type': 'application/octet-stream' }));
    assert.equal((await api(srv.url, `/v2/short/put/blobs/${digest}`, { method: 'HEAD' })).status, 404);
    await serving();
  });

  it('a chunked PATCH cut short keeps at most the bytes received; the upload can resume', async () => {
    const full = randomBlob(1000);
    const digest = digestOf(full);
    const start = await api(srv.url, '/v2/short/patch/blobs/uploads/', { method: 'POST' });
    const loc = new URL(start.headers.get('location') ?? '', srv.url);
    // The 10 bytes sent are random, not full[0..9]: resuming must overwrite nothing, so
    // send the real first 10 bytes instead.
    await cutShort(
      1,
      () =>
        new Promise<void>((resolve) => {
          const sock = net.connect(Number(loc.port), loc.hostname, () => {
            sock.write(
              `PATCH ${loc.pathname} HTTP/1.1\r\nHost: ${loc.host}\r\nContent-Length: 1000\r\nContent-Range: 0-999\r\nContent-Type: application/octet-stream\r\n\r\n`,
            );
            sock.write(full.subarray(0, 10));
            setTimeout(() => sock.destroy(), 50);
          });
          sock.on('error', () => {});
          sock.on('close', () => resolve());
        }),
    );
    assert.equal((await api(srv.url, `/v2/short/patch/blobs/${digest}`, { method: 'HEAD' })).status, 404);
    const st = await fetch(loc);
    assert.equal(st.status, 204, 'the session still exists');
    const received = rangeEnd(st.headers.get('range')) + 1;
    const have = received === 1 ? 0 : received; // "0-0" means empty
    assert.ok(have === 0 || have === 10, `received ${have} bytes`);
    const rest = await fetch(loc, { method: 'PATCH', headers: { 'Content-Range': `${have}-999` }, body: asBody(full.subarray(have)) });
    assert.equal(rest.status, 202, await rest.text());
    const put = await fetch(withQuery(loc.href, { digest }), { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    const got = await api(srv.url, `/v2/short/patch/blobs/${digest}`);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(full));
  });

  it('a manifest PUT cut short stores nothing', async () => {
    await cutShort(1, () => sendShort('PUT', '/v2/short/manifest/manifests/cut', { 'Content-Type': MT.ociManifest }));
    const res = await api(srv.url, '/v2/short/manifest/manifests/cut');
    assert.equal(res.status, 404);
    await res.arrayBuffer();
    await serving();
  });

  it('many cut-short requests in parallel do not take the server down', async () => {
    // Regression: an abort while the upload was being set up was an uncaught 'error', and a
    // failed append closed its file descriptor twice (libuv then aborted the process).
    await cutShort(40, () =>
      Promise.all(Array.from({ length: 40 }, (_, i) => sendShort('POST', `/v2/short/many/blobs/uploads/?digest=${digestOf(String(i))}`))),
    );
    const start = await api(srv.url, '/v2/short/many/blobs/uploads/', { method: 'POST' });
    assert.equal(start.status, 202);
    const loc = new URL(start.headers.get('location') ?? '', srv.url);
    await cutShort(60, () => Promise.all(Array.from({ length: 60 }, () => sendShort('PATCH', loc.pathname, { 'Content-Type': 'application/octet-stream' }))));
    await serving();
    const b = await pushBlob(srv.url, 'short/many', randomBlob(100));
    assert.equal((await api(srv.url, `/v2/short/many/blobs/${b.digest}`, { method: 'HEAD' })).status, 200);
  });
});

describe('read-only mode', () => {
  it('rejects every write with 405 UNSUPPORTED and still serves reads', async () => {
    const ro = await startServer({ config: { storage: { maintenance: { readonly: { enabled: true } } } } });
    try {
      const writes: [string, string][] = [
        ['POST', '/v2/ro/repo/blobs/uploads/'],
        ['PATCH', '/v2/ro/repo/blobs/uploads/3f1e2b9a-0000-4000-8000-000000000000'],
        ['PUT', `/v2/ro/repo/blobs/uploads/3f1e2b9a-0000-4000-8000-000000000000?digest=${SOME_DIGEST}`],
        ['DELETE', '/v2/ro/repo/blobs/uploads/3f1e2b9a-0000-4000-8000-000000000000'],
        ['PUT', '/v2/ro/repo/manifests/latest'],
        ['DELETE', '/v2/ro/repo/manifests/latest'],
        ['DELETE', `/v2/ro/repo/blobs/${SOME_DIGEST}`],
      ];
      for (const [method, p] of writes) {
        const res = await api(ro.url, p, { method, ...(method === 'PUT' || method === 'PATCH' ? { body: '{}' } : {}) });
        await expectError(res, 405, 'UNSUPPORTED', `${method} ${p}`);
      }
      assert.equal((await api(ro.url, '/v2/')).status, 200);
    } finally {
      await ro.close();
      removeDir(ro.dir);
    }
  });
});

describe('error bodies', () => {
  it('every kind of error carries {"errors":[{code,message}]}', async () => {
    const cases: [string, RequestInit, number][] = [
      ['/v2/nope/nope/nope', {}, 404],
      ['/v2/x/tags/list', { method: 'POST' }, 405],
      ['/v2/x/blobs/uploads/', { method: 'GET' }, 405],
      ['/v2/Bad/tags/list', {}, 400],
      [`/v2/x/blobs/${SOME_DIGEST}`, {}, 404],
      ['/v2/x/blobs/uploads/nope', {}, 404],
      ['/v2/x/manifests/nope', {}, 404],
      ['/v2/x/tags/list?n=bad', {}, 400],
      ['/v2/x/manifests/latest', { method: 'PUT', body: 'not json', headers: { 'Content-Type': MT.ociManifest } }, 400],
    ];
    for (const [p, init, status] of cases) {
      const body = await expectError(await api(srv.url, p, init), status, undefined, `${init.method ?? 'GET'} ${p}`);
      assert.ok(body.errors[0].code.length > 0);
    }
  });
});
