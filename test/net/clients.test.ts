// Network rules with real clients (skopeo, podman, docker through dockerd): the test's own address,
// 127.0.0.1, first allowed, then denied pulls, then denied pushes, by three Berth processes
// on one storage root. A refused pull or push fails with the DENIED message in the client's
// output; the other surface keeps working.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { BIN, Docker, Podman, Skopeo, run } from '../helpers/clients.js';
import { withServerLog } from '../helpers/e2e.js';
import { Layout } from '../helpers/oci.js';
import { derivedFile, sleep, tempDir, testImages, type TestImages } from '../helpers/shared.js';

const TLS_OFF = ['--src-tls-verify=false', '--dest-tls-verify=false'];
let imgs: TestImages;
let skopeo: Skopeo;
let podman: Podman;
let docker: Docker;
let root: string;
let work: string;
let configDigest: string;

before(async () => {
  imgs = await testImages();
  skopeo = new Skopeo('netrules-skopeo');
  podman = new Podman('netrules-podman');
  docker = await Docker.create('netrules-docker');
  root = tempDir('netrules-root');
  work = tempDir('netrules-out');
  configDigest = new Layout(imgs.layout('tiny')).images()[0].manifest.config!.digest;
  // Docker's own image of the fixture, to push (docker pushes what `docker load` put in its store).
  archive = await derivedFile('tiny.docker-archive.tar', async (out) => {
    await run(BIN.skopeo, ['--insecure-policy', 'copy', '--quiet', `oci:${imgs.layout('tiny')}:latest`, `docker-archive:${out}:berth-fixture/tiny:latest`]);
  });
});
let archive: string;

/** One Berth on the shared root with these network rules, for one describe block. */
function berthWith(env: Record<string, string>): () => RegistryProcess {
  let reg: RegistryProcess | undefined;
  before(async () => {
    reg = await startBerth({ name: 'netrules', root, env });
  });
  after(async () => {
    await reg?.stop();
  });
  return () => reg!;
}

const step = (reg: () => RegistryProcess, name: string, fn: () => Promise<void>) => test(name, { timeout: 3 * 60_000 }, () => withServerLog(reg, fn));

const skopeoPush = (reg: RegistryProcess, ref: string) =>
  skopeo.runMayFail(['copy', '--quiet', ...TLS_OFF, `oci:${imgs.layout('tiny')}:latest`, `docker://${reg.hostPort}/${ref}`]);
const skopeoPull = (reg: RegistryProcess, ref: string, out: string) =>
  skopeo.runMayFail(['copy', '--quiet', ...TLS_OFF, `docker://${reg.hostPort}/${ref}`, `oci:${path.join(work, out)}:latest`]);

async function dockerPush(reg: RegistryProcess, ref: string) {
  await docker.run(['load', '--quiet', '--input', archive]);
  await docker.run(['tag', 'berth-fixture/tiny:latest', `${reg.hostPort}/${ref}`]);
  return docker.runMayFail(['push', `${reg.hostPort}/${ref}`]);
}
async function dockerPull(reg: RegistryProcess, ref: string) {
  // The image must not be in dockerd already, or the pull would ask only for the manifest.
  await docker.removeImage(configDigest);
  return docker.runMayFail(['pull', `${reg.hostPort}/${ref}`]);
}

function assertOk(r: { code: number | null; command: string; stderr: string; stdout: string }) {
  assert.equal(r.code, 0, `${r.command}\n${r.stderr}\n${r.stdout}`);
}
function assertDenied(r: { code: number | null; command: string; stderr: string; stdout: string }, message: string) {
  assert.notEqual(r.code, 0, `${r.command} should have been refused:\n${r.stdout}`);
  // skopeo quotes its error message, escaping the quotes inside it.
  const out = `${r.stderr}\n${r.stdout}`.replaceAll('\\"', '"');
  assert.ok(out.includes(message), `${r.command}: the client's output should show "${message}":\n${out}`);
  assert.match(out, /denied/i);
}

describe('127.0.0.1 allowed', () => {
  const reg = berthWith({ REGISTRY_NETWORK_PULL_ALLOW: '127.0.0.1', REGISTRY_NETWORK_PUSH_ALLOW: '10.0.0.0/8,127.0.0.0/8' });

  step(reg, 'skopeo pushes and pulls', async () => {
    assertOk(await skopeoPush(reg(), 'net/skopeo:v1'));
    assertOk(await skopeoPull(reg(), 'net/skopeo:v1', 'allowed'));
  });

  step(reg, 'docker pushes and pulls', async () => {
    assertOk(await dockerPush(reg(), 'net/docker:v1'));
    const r = await dockerPull(reg(), 'net/docker:v1');
    assertOk(r);
    assert.match(r.stdout, /Digest: sha256:/);
  });
});

describe('pulls from 127.0.0.1 denied', () => {
  const reg = berthWith({ REGISTRY_NETWORK_PULL_DENY: '127.0.0.1', REGISTRY_NETWORK_PUSH_ALLOW: '127.0.0.0/8', REGISTRY_LOG_LEVEL: 'info' });
  const message = 'pull to namespace "net" from 127.0.0.1 is denied by network rule network.pull.deny (127.0.0.1)';

  step(reg, 'the start-up log line names the rules', async () => {
    // Written just after the server listens: possibly after it first answered.
    const deadline = Date.now() + 10_000;
    let line: { msg?: string; network?: string } | undefined;
    while (!line && Date.now() < deadline) {
      line = readFileSync(reg().logFile, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg?: string; network?: string })
        .find((l) => l.msg?.startsWith('Berth serving'));
      if (!line) await sleep(50);
    }
    assert.equal(line?.network, 'pull deny 127.0.0.1; push allow 127.0.0.0/8');
    assert.match(line?.msg ?? '', /; network rules: pull deny 127\.0\.0\.1; push allow 127\.0\.0\.0\/8$/);
  });

  step(reg, 'skopeo: the pull is refused with the message; a push still works', async () => {
    assertDenied(await skopeoPull(reg(), 'net/skopeo:v1', 'refused'), message);
    assertOk(await skopeoPush(reg(), 'net/skopeo:v2'));
  });

  step(reg, 'podman: the pull is refused with the message', async () => {
    assertDenied(await podmanPull(reg(), 'net/skopeo:v1'), message);
  });

  step(reg, 'docker: the pull is refused with the message; a push still works', async () => {
    assertDenied(await dockerPull(reg(), 'net/docker:v1'), message);
    assertOk(await dockerPush(reg(), 'net/docker:v2'));
  });
});

const podmanPull = (reg: RegistryProcess, ref: string) => podman.runMayFail(['pull', '--quiet', '--tls-verify=false', `${reg.hostPort}/${ref}`]);

describe('pushes from 127.0.0.1 denied', () => {
  const reg = berthWith({ REGISTRY_NETWORK_PUSH_DENY: '127.0.0.0/8' });
  const message = 'push to namespace "net" from 127.0.0.1 is denied by network rule network.push.deny (127.0.0.0/8)';

  step(reg, 'skopeo: the push is refused with the message; a pull (of what was pushed while pulls were denied) still works', async () => {
    assertDenied(await skopeoPush(reg(), 'net/skopeo:v3'), message);
    assertOk(await skopeoPull(reg(), 'net/skopeo:v2', 'v2'));
  });

  step(reg, 'podman: a pull works; the push is refused with the message', async () => {
    assertOk(await podmanPull(reg(), 'net/skopeo:v2'));
    await podman.run(['tag', `${reg().hostPort}/net/skopeo:v2`, `${reg().hostPort}/net/podman:v3`]);
    assertDenied(await podman.runMayFail(['push', '--quiet', '--tls-verify=false', `${reg().hostPort}/net/podman:v3`]), message);
  });

  step(reg, 'docker: the push is refused with the message; a pull still works', async () => {
    assertDenied(await dockerPush(reg(), 'net/docker:v3'), message);
    assertOk(await dockerPull(reg(), 'net/docker:v2'));
  });
});
