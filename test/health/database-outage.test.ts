// PostgreSQL stops for 30 s under a Berth server process (htpasswd auth, decided from its file
// without the database): pulls this replica served before the outage keep working from the
// outage cache, by skopeo and over HTTP, with the pushed digests; an image it never served and
// every push answer 503 with Retry-After (never 500); /livez stays 200 and /readyz turns 503.
// When PostgreSQL is back, everything works again in the same process (the pool reconnects).
// The cluster is the test's own (test/health/private-postgres.ts): the shared one never stops.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import bcrypt from 'bcrypt';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { Skopeo } from '../helpers/clients.js';
import { withServerLog } from '../helpers/e2e.js';
import { request, type HttpResponse } from '../helpers/http.js';
import { assertLayoutMatches, digestOf, type Layout, writeUniqueLayout } from '../helpers/oci.js';
import { sleep, tempDir } from '../helpers/shared.js';
import { startPrivatePostgres, type PrivatePostgres } from './private-postgres.js';

const USER = 'ops';
const PASSWORD = 'outage-Passw0rd';
const OUTAGE_MS = 30_000;
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';

let pg: PrivatePostgres;
let reg: RegistryProcess;
let skopeo: Skopeo;
let work: string;
let cached: Layout;
let uncached: Layout;

const creds = ['--src-creds', `${USER}:${PASSWORD}`, '--src-tls-verify=false'];
const destCreds = ['--dest-creds', `${USER}:${PASSWORD}`, '--dest-tls-verify=false'];

function http(method: string, p: string, headers: Record<string, string> = {}): Promise<HttpResponse> {
  return request(reg.url + p, { method, headers: { Accept: ACCEPT, ...headers }, basicAuth: `${USER}:${PASSWORD}`, timeoutMs: 20_000 });
}

async function push(layout: Layout, ref: string): Promise<void> {
  await skopeo.run(['copy', ...destCreds, `oci:${layout.dir}:latest`, `docker://${reg.hostPort}/${ref}`], { timeoutMs: 60_000 });
}

async function pullAndCheck(ref: string, layout: Layout): Promise<void> {
  const out = path.join(work, `pull-${randomBytes(4).toString('hex')}`);
  await skopeo.run(['copy', ...creds, `docker://${reg.hostPort}/${ref}`, `oci:${out}:latest`], { timeoutMs: 60_000 });
  await assertLayoutMatches(out, layout);
  fs.rmSync(out, { recursive: true, force: true });
}

/** Manifest by tag and by digest, and every blob, over HTTP: 200 with the pushed bytes. */
async function httpPullAndCheck(repo: string, tag: string, layout: Layout): Promise<void> {
  const top = layout.top();
  for (const ref of [tag, top.digest]) {
    const head = await http('HEAD', `/v2/${repo}/manifests/${ref}`);
    assert.equal(head.status, 200, `HEAD manifest ${ref}: ${head.status}`);
    assert.equal(head.headers['docker-content-digest'], top.digest);
    const get = await http('GET', `/v2/${repo}/manifests/${ref}`);
    assert.equal(get.status, 200, `GET manifest ${ref}: ${get.status} ${get.body}`);
    assert.equal(digestOf(get.body), top.digest);
  }
  for (const d of layout.closure().filter((x) => x.digest !== top.digest)) {
    const head = await http('HEAD', `/v2/${repo}/blobs/${d.digest}`);
    assert.equal(head.status, 200, `HEAD blob ${d.digest}`);
    assert.equal(Number(head.headers['content-length']), d.size);
    const get = await http('GET', `/v2/${repo}/blobs/${d.digest}`);
    assert.equal(get.status, 200, `GET blob ${d.digest}: ${get.status}`);
    assert.equal(digestOf(get.body), d.digest);
  }
}

function assertUnavailable(r: HttpResponse, what: string): void {
  assert.equal(r.status, 503, `${what}: ${r.status} ${r.body.toString().slice(0, 200)}`);
  assert.match(String(r.headers['retry-after'] ?? ''), /^\d+$/, `${what}: Retry-After`);
  if (r.body.length > 0) assert.equal(JSON.parse(r.body.toString()).errors[0].code, 'UNAVAILABLE', what);
}

before(async () => {
  work = tempDir('berth-db-outage-');
  pg = await startPrivatePostgres();
  const htpasswd = path.join(work, 'htpasswd');
  fs.writeFileSync(htpasswd, `${USER}:${bcrypt.hashSync(PASSWORD, 4)}\n`);
  reg = await startBerth({
    name: 'database-outage',
    env: {
      REGISTRY_METADATA: 'postgres',
      REGISTRY_METADATA_POSTGRES_URL: pg.url,
      REGISTRY_METADATA_POSTGRES_POOLSIZE: '4',
      REGISTRY_AUTH: 'htpasswd',
      REGISTRY_AUTH_HTPASSWD_REALM: 'outage',
      REGISTRY_AUTH_HTPASSWD_PATH: htpasswd,
      REGISTRY_LOG_LEVEL: 'info',
    },
  });
  skopeo = new Skopeo('outage-skopeo');
  cached = writeUniqueLayout(path.join(work, 'cached'), `cached-${randomBytes(6).toString('hex')}`, randomBytes(256 * 1024));
  uncached = writeUniqueLayout(path.join(work, 'uncached'), `uncached-${randomBytes(6).toString('hex')}`, randomBytes(64 * 1024));
});

after(async () => {
  await reg?.dispose();
  pg?.dispose();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test('pulls served before a 30 s PostgreSQL outage keep working; the rest is 503 + Retry-After; all recovers without a restart', { timeout: 5 * 60_000 }, () =>
  withServerLog(
    () => reg,
    async () => {
      await push(cached, 'team/cached:v1');
      await push(uncached, 'team/uncached:v1');
      // Served once before the outage: by skopeo (by tag, then its blobs) and over HTTP.
      await pullAndCheck('team/cached:v1', cached);
      await httpPullAndCheck('team/cached', 'v1', cached);
      assert.equal((await http('GET', '/readyz')).status, 200);
      const pid = reg.process.pid;

      pg.stop();
      const stopped = Date.now();
      let rounds = 0;
      const statuses = new Set<number>();
      while (Date.now() - stopped < OUTAGE_MS) {
        // A real client: the cached image, whole, with the pushed digests.
        await pullAndCheck('team/cached:v1', cached);
        await httpPullAndCheck('team/cached', 'v1', cached);
        // Never served here: 503, not 500, and not a stale or empty answer.
        const m = await http('GET', `/v2/team/uncached/manifests/v1`);
        statuses.add(m.status);
        assertUnavailable(m, 'uncached manifest');
        assertUnavailable(await http('HEAD', `/v2/team/uncached/manifests/v1`), 'uncached manifest HEAD');
        assertUnavailable(await http('GET', `/v2/team/cached/blobs/${uncached.top().digest}`), 'a blob not served from this repository');
        assertUnavailable(await http('POST', '/v2/team/cached/blobs/uploads/'), 'push');
        assertUnavailable(await http('GET', '/v2/team/cached/tags/list'), 'tag list');
        assertUnavailable(await http('GET', '/v2/_catalog'), 'catalog');
        assert.equal((await http('GET', '/livez')).status, 200);
        const ready = await http('GET', '/readyz');
        assert.equal(ready.status, 503);
        assert.equal(JSON.parse(ready.body.toString()).checks.database.status, 'unavailable');
        rounds++;
      }
      // A failed push by a real client: it reports the server's answer, not a hang.
      const failed = await skopeo.runMayFail(['copy', ...destCreds, `oci:${uncached.dir}:latest`, `docker://${reg.hostPort}/team/during:v1`], {
        timeoutMs: 60_000,
      });
      assert.notEqual(failed.code, 0, 'a push during the outage fails');
      assert.ok(rounds >= 3, `only ${rounds} rounds in ${OUTAGE_MS} ms`);

      pg.start();
      // The pool reconnects by itself; readiness says so within a few seconds.
      const back = Date.now();
      while ((await http('GET', '/readyz')).status !== 200) {
        assert.ok(Date.now() - back < 20_000, 'ready again within 20 s of PostgreSQL starting');
        await sleep(200);
      }
      await pullAndCheck('team/uncached:v1', uncached);
      await push(uncached, 'team/after:v1');
      await pullAndCheck('team/after:v1', uncached);
      await httpPullAndCheck('team/cached', 'v1', cached);
      assert.equal(reg.process.pid, pid, 'the same Berth process throughout');
      assert.equal(reg.process.exitCode, null);
      const log = fs.readFileSync(reg.logFile, 'utf8');
      assert.ok(log.includes('served from the outage cache'), 'pulls during the outage came from the outage cache');
      assert.ok(!/"status":500/.test(log), 'no request answered 500');
    },
  ),
);
