// TLS (self-signed certificate for 127.0.0.1/localhost) + htpasswd basic auth, with every
// client: wrong passwords are refused, right ones let the client push and pull, and
// logging out takes access away again.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Ctr, Docker, Podman, Skopeo, makeTlsAuthFixture, run, BIN, type TlsAuthFixture } from '../helpers/clients.js';
import { startRegistry, type RegistryProcess } from '../helpers/berth-process.js';
import { withServerLog } from '../helpers/e2e.js';
import { request } from '../helpers/http.js';
import { Layout, RegistryApi, assertLayoutMatches, assertRegistryHasLayout, verifyRegistryImage, writeUniqueLayout } from '../helpers/oci.js';
import { tempDir, testImages, type TestImages } from '../helpers/shared.js';

let tls: TlsAuthFixture;
let reg: RegistryProcess;
let api: RegistryApi;
let imgs: TestImages;
let work: string;
const UNAUTHORIZED = /unauthori[sz]ed|authentication required|invalid username\/password|401/i;

before(async () => {
  imgs = await testImages();
  work = tempDir('tls-work');
  tls = await makeTlsAuthFixture();
  reg = await startRegistry({ name: 'tls-auth', env: tls.env });
  api = new RegistryApi(reg.url, { basicAuth: `${tls.user}:${tls.password}` });
});
after(async () => {
  await reg?.dispose();
});

const step = (name: string, fn: () => Promise<void>) => test(name, { timeout: 3 * 60_000 }, () => withServerLog(() => reg, fn));

step('API: TLS with basic auth challenges, refuses wrong passwords, accepts the right one', async () => {
  assert.ok(reg.url.startsWith('https://'), reg.url);
  const anon = await request(`${reg.url}/v2/`);
  assert.equal(anon.status, 401);
  assert.match(String(anon.headers['www-authenticate']), /^Basic realm="berth-e2e"/i);
  assert.equal((await request(`${reg.url}/v2/`, { basicAuth: `${tls.user}:wrong` })).status, 401);
  assert.equal((await request(`${reg.url}/v2/`, { basicAuth: `nobody:${tls.password}` })).status, 401);
  assert.equal((await request(`${reg.url}/v2/`, { basicAuth: `${tls.user}:${tls.password}` })).status, 200);
  // the certificate is the one we configured (CN/SAN 127.0.0.1), verifiable with it as CA
  const r = await run(BIN.openssl, ['s_client', '-connect', reg.hostPort, '-CAfile', tls.certFile, '-verify_return_error', '-verify_ip', '127.0.0.1'], {
    input: 'Q\n',
    timeoutMs: 20_000,
  });
  assert.match(r.stdout, /Verify return code: 0 \(ok\)/);
});

step('skopeo: --creds required to push and pull', async () => {
  const skopeo = new Skopeo('tls-skopeo');
  const layout = new Layout(imgs.layout('tiny'));
  const dest = `docker://${reg.hostPort}/tls/skopeo:v1`;
  const bad = await skopeo.runMayFail([
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    '--dest-creds',
    `${tls.user}:wrong`,
    `oci:${imgs.layout('tiny')}:latest`,
    dest,
  ]);
  assert.notEqual(bad.code, 0, 'push with a wrong password must fail');
  assert.match(bad.stderr, UNAUTHORIZED);
  const none = await skopeo.runMayFail(['copy', '--quiet', '--dest-tls-verify=false', `oci:${imgs.layout('tiny')}:latest`, dest]);
  assert.notEqual(none.code, 0, 'anonymous push must fail');
  await skopeo.run(['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', `${tls.user}:${tls.password}`, `oci:${imgs.layout('tiny')}:latest`, dest]);
  await assertRegistryHasLayout(api, 'tls/skopeo', 'v1', layout);
  const out = path.join(work, 'skopeo-pull');
  const anonPull = await skopeo.runMayFail(['copy', '--quiet', '--src-tls-verify=false', dest, `oci:${out}-anon:latest`]);
  assert.notEqual(anonPull.code, 0, 'anonymous pull must fail');
  await skopeo.run(['copy', '--quiet', '--src-tls-verify=false', '--src-creds', `${tls.user}:${tls.password}`, dest, `oci:${out}:latest`]);
  await assertLayoutMatches(out, layout);
});

step('podman: login refuses a wrong password; login, push, pull, logout', async () => {
  const pusher = new Podman('tls-podman-push');
  const bad = await pusher.runMayFail(['login', '--tls-verify=false', '--username', tls.user, '--password-stdin', reg.hostPort], { input: 'wrong\n' });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, UNAUTHORIZED);
  assert.ok(!fs.readFileSync(pusher.sandbox.authFile, 'utf8').includes(reg.hostPort), 'no credentials stored after a failed login');
  const ok = await pusher.run(['login', '--tls-verify=false', '--username', tls.user, '--password-stdin', reg.hostPort], { input: `${tls.password}\n` });
  assert.match(ok.stdout + ok.stderr, /Login Succeeded/i);
  const auth = JSON.parse(fs.readFileSync(pusher.sandbox.authFile, 'utf8')) as { auths: Record<string, { auth: string }> };
  assert.equal(Buffer.from(auth.auths[reg.hostPort].auth, 'base64').toString(), `${tls.user}:${tls.password}`);

  const want = new Layout(imgs.layout('tiny')).images()[0];
  const id = want.manifest.config!.digest.replace('sha256:', '');
  await pusher.run(['pull', '--quiet', `oci:${imgs.layout('tiny')}:latest`]);
  const ref = `${reg.hostPort}/tls/podman:v1`;
  await pusher.run(['tag', id, ref]);
  await pusher.run(['push', '--quiet', '--tls-verify=false', ref]);
  const pushed = await verifyRegistryImage(api, 'tls/podman', 'v1');
  assert.equal(pushed.images[0].configDigest, want.manifest.config!.digest);

  const puller = new Podman('tls-podman-pull');
  const anon = await puller.runMayFail(['pull', '--quiet', '--tls-verify=false', ref]);
  assert.notEqual(anon.code, 0, 'anonymous pull must fail');
  assert.match(anon.stderr, UNAUTHORIZED);
  await puller.run(['pull', '--quiet', '--tls-verify=false', '--creds', `${tls.user}:${tls.password}`, ref]);
  const img = await puller.inspect(ref);
  assert.equal(img.Id, id);
  assert.equal(img.Digest, pushed.digest);

  await pusher.run(['logout', reg.hostPort]);
  await pusher.run(['rmi', '--force', ref]);
  const after = await pusher.runMayFail(['pull', '--quiet', '--tls-verify=false', ref]);
  assert.notEqual(after.code, 0, 'pull after logout must fail');
});

step('docker: login refuses a wrong password; login, push, pull, logout', async () => {
  const docker = await Docker.create('tls-docker');
  const bad = await docker.runMayFail(['login', '--username', tls.user, '--password-stdin', reg.hostPort], { input: 'wrong\n' });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, UNAUTHORIZED);
  const ok = await docker.run(['login', '--username', tls.user, '--password-stdin', reg.hostPort], { input: `${tls.password}\n` });
  assert.match(ok.stdout, /Login Succeeded/);

  // an image nobody else has: a one-layer `docker import` of random bytes
  const src = path.join(work, 'docker-rootfs');
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(path.join(src, 'random.bin'), randomBytes(256 * 1024));
  const tarball = await run(BIN.tar, ['-C', src, '-cf', path.join(work, 'docker-rootfs.tar'), '.']);
  assert.equal(tarball.code, 0);
  const ref = `${reg.hostPort}/tls/docker:v1`;
  const id = (await docker.run(['import', path.join(work, 'docker-rootfs.tar'), ref])).stdout.trim();
  const push = await docker.run(['push', ref]);
  const digest = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1];
  assert.ok(digest, push.stdout);
  const pushed = await verifyRegistryImage(api, 'tls/docker', 'v1');
  assert.equal(pushed.digest, digest);
  assert.equal(pushed.images[0].configDigest, id);

  await docker.removeImage(id);
  const r = await docker.run(['pull', ref]);
  assert.match(r.stdout, new RegExp(`Digest: ${digest}`));
  assert.equal((await docker.inspect(ref)).Id, id);

  await docker.run(['logout', reg.hostPort]);
  await docker.removeImage(id);
  const denied = await docker.runMayFail(['pull', ref]);
  assert.notEqual(denied.code, 0, 'pull after logout must fail');
  // dockerd retries an "insecure" (127.0.0.0/8) registry over plain HTTP after the 401 on
  // HTTPS and reports that last error (the TLS port resets or closes the plain connection);
  // logging in again must make the same pull work, so the refusal was about credentials
  assert.match(denied.stderr, /unauthori[sz]ed|authentication required|no basic auth credentials|connection reset|EOF/i);
  await docker.run(['login', '--username', tls.user, '--password-stdin', reg.hostPort], { input: `${tls.password}\n` });
  await docker.run(['pull', ref]);
  assert.equal((await docker.inspect(ref)).Id, id);
});

step('ctr: --user over TLS (hosts.toml skip_verify): wrong password refused, push and pull', async () => {
  const hostsDir = path.join(work, 'certs.d');
  fs.mkdirSync(path.join(hostsDir, reg.hostPort), { recursive: true });
  fs.writeFileSync(
    path.join(hostsDir, reg.hostPort, 'hosts.toml'),
    `[host."https://${reg.hostPort}"]\n  capabilities = ["pull", "resolve", "push"]\n  skip_verify = true\n`,
  );
  // content no other test has: containerd shares blobs across namespaces, and ctr.test.ts
  // checks that its pulls really download theirs
  const layout = writeUniqueLayout(path.join(work, 'ctr-layout'), `tls-ctr-${process.pid}-${Date.now()}`, randomBytes(64 * 1024));
  const tar = path.join(work, 'ctr-layout.tar');
  await run(BIN.tar, ['-C', layout.dir, '-cf', tar, '.']);
  const ref = `${reg.hostPort}/tls/ctr:v1`;
  const pusher = await Ctr.create('tlspush');
  try {
    await pusher.run(['images', 'import', '--all-platforms', '--base-name', 'berth-e2e/tls-ctr', tar]);
    const bad = await pusher.runMayFail(['images', 'push', '--hosts-dir', hostsDir, '--user', `${tls.user}:wrong`, ref, 'berth-e2e/tls-ctr:latest']);
    assert.notEqual(bad.code, 0, 'push with a wrong password must fail');
    assert.match(bad.stderr, UNAUTHORIZED);
    await pusher.run(['images', 'push', '--hosts-dir', hostsDir, '--user', `${tls.user}:${tls.password}`, ref, 'berth-e2e/tls-ctr:latest']);
  } finally {
    await pusher.destroy();
  }
  await assertRegistryHasLayout(api, 'tls/ctr', 'v1', layout);
  const puller = await Ctr.create('tlspull');
  try {
    const bad = await puller.runMayFail(['images', 'pull', '--all-platforms', '--hosts-dir', hostsDir, '--user', `${tls.user}:wrong`, ref]);
    assert.notEqual(bad.code, 0, 'pull with a wrong password must fail');
    await puller.run(['images', 'pull', '--all-platforms', '--hosts-dir', hostsDir, '--user', `${tls.user}:${tls.password}`, ref]);
    const ls = await puller.run(['images', 'ls']);
    assert.match(ls.stdout, new RegExp(`${ref.replace(/[.]/g, '\\.')}\\s+\\S+\\s+${layout.top().digest}`));
  } finally {
    await puller.destroy();
  }
});
