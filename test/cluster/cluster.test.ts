// Three Berth replicas behind nginx (deploy/nginx/berth.conf), on one PostgreSQL and
// one Ceph RGW, with token auth: real clients push and pull through the load balancer,
// an upload session moves between replicas, two clients race for one tag, and a
// replica is killed in the middle of a push.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { BIN, Docker, Skopeo, requireBinary, run } from '../helpers/clients.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';
import { freshSchema, type PgSchema } from '../helpers/postgres.js';
import { rgw } from '../helpers/s3.js';
import { derivedFile, removeTree, sleep, tempDir, testImages } from '../helpers/shared.js';

const ADMIN = { user: 'admin', password: 'cluster-admin-pw' };
const REPLICAS = 3;
let schema: PgSchema;
let replicas: RegistryProcess[] = [];
let lb: Nginx;
let work: string;
let skopeo: Skopeo;
const creds = ['--creds', `${ADMIN.user}:${ADMIN.password}`];
const TLS_OFF = ['--src-tls-verify=false', '--dest-tls-verify=false'];

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

async function token(base: string, scopes: string[]): Promise<string> {
  const u = new URL('/token', base);
  u.searchParams.set('service', 'berth');
  for (const s of scopes) u.searchParams.append('scope', s);
  const res = await fetch(u, { headers: { Authorization: `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}` } });
  assert.equal(res.status, 200, `token from ${base}`);
  return ((await res.json()) as { token: string }).token;
}

/** The upstream replica ports that served requests whose URI matches `re`. */
function servedBy(re: RegExp): Set<string> {
  return new Set(
    lb
      .accessLog()
      .filter((l) => re.test(l.split(' ')[1] ?? ''))
      .map((l) => l.split(' ')[3]),
  );
}

before(async () => {
  requireBinary('/usr/bin/skopeo');
  work = tempDir('cluster');
  const [s3, pg] = await Promise.all([rgw(), freshSchema('cluster')]);
  schema = pg;
  const rootdirectory = `cluster-${randomBytes(6).toString('hex')}`;
  const env = {
    REGISTRY_LOG_LEVEL: 'warn',
    REGISTRY_HTTP_TRUSTPROXY: '127.0.0.1',
    REGISTRY_METADATA: 'postgres',
    REGISTRY_METADATA_POSTGRES_URL: schema.url,
    REGISTRY_METADATA_POSTGRES_POOLSIZE: '4',
    REGISTRY_STORAGE: 's3',
    REGISTRY_STORAGE_S3_BUCKET: s3.bucket,
    REGISTRY_STORAGE_S3_REGION: s3.region,
    REGISTRY_STORAGE_S3_REGIONENDPOINT: s3.endpoint,
    REGISTRY_STORAGE_S3_ACCESSKEY: s3.accessKey,
    REGISTRY_STORAGE_S3_SECRETKEY: s3.secretKey,
    REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
    REGISTRY_STORAGE_S3_ROOTDIRECTORY: rootdirectory,
    REGISTRY_STORAGE_REDIRECT_DISABLE: 'true',
    REGISTRY_AUTH: 'token',
    BERTH_AUTH_ACCOUNTS_ADMINPASSWORD: ADMIN.password,
    BERTH_AUTH_ACCOUNTS_BCRYPTCOST: '4',
  };
  // Started together, as a Deployment would: migrations, the first admin and the first
  // signing key are raced for through the database.
  replicas = await Promise.all(Array.from({ length: REPLICAS }, (_, i) => startBerth({ name: `cluster-${i + 1}`, env, readyTimeoutMs: 60_000 })));
  lb = await startNginx(
    path.join(work, 'nginx'),
    replicas.map((r) => r.port),
  );
  skopeo = new Skopeo('cluster');
});

after(async () => {
  await lb?.stop();
  await Promise.all(replicas.map((r) => r.stop().catch(() => {})));
  await schema?.drop();
  if (work) removeTree(work);
});

describe('a cluster of three replicas behind nginx', () => {
  it('serves tokens from any replica that every other replica accepts', async () => {
    for (const issuer of replicas) {
      const t = await token(issuer.url, ['repository:admin/probe:pull,push']);
      for (const r of replicas) {
        const res = await fetch(`${r.url}/v2/`, { headers: { Authorization: `Bearer ${t}` } });
        assert.equal(res.status, 200, `token of ${issuer.port} at ${r.port}`);
      }
    }
  });

  it('skopeo pushes and pulls a 100 MiB multi-layer image through the load balancer, spread over the replicas', async () => {
    const imgs = await testImages();
    await skopeo.run([
      'copy',
      '--quiet',
      ...TLS_OFF,
      ...creds.map((c, i) => (i === 0 ? '--dest-creds' : c)),
      `oci:${imgs.layout('multilayer')}:latest`,
      `docker://${lb.hostPort}/admin/multilayer:v1`,
    ]);
    const out = path.join(work, 'pulled');
    await skopeo.run(['copy', '--quiet', ...TLS_OFF, '--src-creds', creds[1], `docker://${lb.hostPort}/admin/multilayer:v1`, `oci:${out}:latest`]);
    const index = JSON.parse(fs.readFileSync(path.join(imgs.layout('multilayer'), 'index.json'), 'utf8'));
    const pulledIndex = JSON.parse(fs.readFileSync(path.join(out, 'index.json'), 'utf8'));
    assert.equal(pulledIndex.manifests[0].digest, index.manifests[0].digest, 'the same manifest digest came back');
    for (const f of fs.readdirSync(path.join(out, 'blobs/sha256'))) {
      const bytes = fs.readFileSync(path.join(out, 'blobs/sha256', f));
      assert.equal(sha256(bytes), `sha256:${f}`, `pulled blob ${f} matches its digest`);
    }
    const used = servedBy(/^\/v2\/admin\/multilayer\//);
    assert.ok(used.size >= 2, `requests spread over replicas: ${[...used].join(', ')}`);
  });

  it('an upload started on one replica, continued on a second and committed on a third gives the same blob', async () => {
    const t = await token(replicas[0].url, ['repository:admin/chunked:pull,push']);
    const auth = { Authorization: `Bearer ${t}` };
    const start = await fetch(`${replicas[0].url}/v2/admin/chunked/blobs/uploads/`, { method: 'POST', headers: auth });
    assert.equal(start.status, 202);
    const min = Number(start.headers.get('oci-chunk-min-length') ?? 0);
    assert.ok(min >= 5 * 1024 * 1024, `S3 advertises its minimum chunk: ${min}`);
    const data = randomBytes(min + 3 * 1024 * 1024);
    const loc = new URL(start.headers.get('location')!);
    const at = (r: RegistryProcess) => `${r.url}${loc.pathname}${loc.search}`;
    const p1 = await fetch(at(replicas[1]), {
      method: 'PATCH',
      headers: { ...auth, 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${min - 1}` },
      body: data.subarray(0, min),
    });
    assert.equal(p1.status, 202, await p1.text());
    const status = await fetch(at(replicas[2]), { headers: auth });
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${min - 1}`);
    const next = new URL(p1.headers.get('location')!);
    const p2 = await fetch(`${replicas[2].url}${next.pathname}${next.search}`, {
      method: 'PATCH',
      headers: { ...auth, 'Content-Type': 'application/octet-stream', 'Content-Range': `${min}-${data.length - 1}` },
      body: data.subarray(min),
    });
    assert.equal(p2.status, 202, await p2.text());
    const fin = new URL(p2.headers.get('location')!);
    fin.searchParams.set('digest', sha256(data));
    const put = await fetch(`${replicas[0].url}${fin.pathname}${fin.search}`, { method: 'PUT', headers: auth });
    assert.equal(put.status, 201, await put.text());
    for (const r of replicas) {
      const get = await fetch(`${r.url}/v2/admin/chunked/blobs/${sha256(data)}`, { headers: auth });
      assert.equal(get.status, 200);
      assert.equal(sha256(Buffer.from(await get.arrayBuffer())), sha256(data), `replica ${r.port} serves the bytes`);
    }
  });

  it('two clients pushing the same tag at once: both succeed, the tag names one of them, nothing is corrupt', async () => {
    const imgs = await testImages();
    const push = (layout: string) =>
      skopeo.run([
        'copy',
        '--quiet',
        ...TLS_OFF,
        '--dest-creds',
        creds[1],
        `oci:${imgs.layout(layout as 'tiny')}:latest`,
        `docker://${lb.hostPort}/admin/race:latest`,
      ]);
    await Promise.all([push('tiny'), push('artifact')]);
    const digests = ['tiny', 'artifact'].map(
      (l) => JSON.parse(fs.readFileSync(path.join(imgs.layout(l as 'tiny'), 'index.json'), 'utf8')).manifests[0].digest as string,
    );
    const t = await token(lb.url, ['repository:admin/race:pull']);
    const seen = new Set<string>();
    for (const r of replicas) {
      const head = await fetch(`${r.url}/v2/admin/race/manifests/latest`, {
        method: 'HEAD',
        headers: { Authorization: `Bearer ${t}`, Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json' },
      });
      assert.equal(head.status, 200);
      seen.add(head.headers.get('docker-content-digest')!);
    }
    assert.equal(seen.size, 1, `every replica names the same manifest: ${[...seen]}`);
    assert.ok(digests.includes([...seen][0]), 'the tag points at one of the two pushed manifests');
    for (const d of digests) {
      const res = await fetch(`${lb.url}/v2/admin/race/manifests/${d}`, { headers: { Authorization: `Bearer ${t}`, Accept: '*/*' } });
      assert.equal(res.status, 200, `both manifests are intact (${d})`);
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), d);
    }
  });

  it('a replica killed in the middle of a push: docker retries and succeeds, nothing is lost', async () => {
    const imgs = await testImages();
    const docker = await Docker.create('cluster-docker');
    const archive = await derivedFile('multilayer.docker-archive.tar', async (out) => {
      await run(BIN.skopeo, [
        '--insecure-policy',
        'copy',
        '--quiet',
        `oci:${imgs.layout('multilayer')}:latest`,
        `docker-archive:${out}:berth-fixture/multilayer:latest`,
      ]);
    });
    await docker.run(['load', '-i', archive]);
    const ref = `${lb.hostPort}/admin/killed:v1`;
    await docker.run(['tag', 'berth-fixture/multilayer:latest', ref]);
    await docker.run(['login', '--username', ADMIN.user, '--password-stdin', lb.hostPort], { input: `${ADMIN.password}\n` });
    const pushing = docker.run(['push', ref]);
    // Kill the replica that is receiving the 100 MiB layer: the one whose read counter races ahead.
    const rchar = (r: RegistryProcess) => Number(/rchar: (\d+)/.exec(fs.readFileSync(`/proc/${r.process.pid}/io`, 'utf8'))?.[1] ?? 0);
    let victim: RegistryProcess | undefined;
    let last = replicas.map(rchar);
    for (let i = 0; i < 600 && !victim; i++) {
      await sleep(50);
      const now = replicas.map(rchar);
      const busy = replicas.findIndex((_, k) => now[k] - last[k] > 4 * 1024 * 1024);
      if (busy >= 0) victim = replicas[busy];
      last = now;
    }
    assert.ok(victim, 'no replica was seen receiving the layer');
    await victim.kill9();
    const pushed = await pushing;
    assert.match(pushed.stdout, /Retrying|Pushed/, pushed.stdout);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)?.[1];
    assert.ok(digest, `docker printed the pushed digest: ${pushed.stdout}`);
    const t = await token(lb.url, ['repository:admin/killed:pull']);
    const res = await fetch(`${lb.url}/v2/admin/killed/manifests/v1`, {
      headers: { Authorization: `Bearer ${t}`, Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    const manifest = JSON.parse(Buffer.from(await res.arrayBuffer()).toString('utf8'));
    for (const layer of manifest.layers as { digest: string; size: number }[]) {
      const blob = await fetch(`${lb.url}/v2/admin/killed/blobs/${layer.digest}`, { headers: { Authorization: `Bearer ${t}` } });
      assert.equal(blob.status, 200);
      assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), layer.digest, 'every layer is complete and verified');
    }
    // Earlier pushes are untouched, and the replica comes back into service.
    await victim.restart();
    const old = await fetch(`${victim.url}/v2/admin/multilayer/manifests/v1`, {
      method: 'HEAD',
      headers: { Authorization: `Bearer ${await token(victim.url, ['repository:admin/multilayer:pull'])}`, Accept: '*/*' },
    });
    assert.equal(old.status, 200);
  });
});
