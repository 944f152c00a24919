// Real clients against an enforce trust policy (a Berth child process configured through its
// config file, trust.policies): docker, podman and skopeo pulls of an unsigned image are refused
// with the policy's message in the client's output; a tampered signature and one by an untrusted
// key leave it refused; after a valid cosign legacy signature is pushed the same pulls succeed.
// A cosign v3 bundle and a notation signature (made byte for byte as the tools make them, by
// test/helpers/signatures.ts) let skopeo pull their images too.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { BIN, Docker, Podman, Skopeo, run, type RunResult } from '../helpers/clients.js';
import { withServerLog } from '../helpers/e2e.js';
import { type Layout, writeUniqueLayout } from '../helpers/oci.js';
import { tempDir } from '../helpers/shared.js';
import {
  type TestCert,
  type TestKey,
  cosignBundleSignature,
  cosignLegacySignature,
  makeCa,
  makeKey,
  makeSigningCert,
  notationSignature,
} from '../helpers/signatures.js';
import { pushSignature } from '../trust/helpers.js';

let reg: RegistryProcess;
let work: string;
let release: TestKey;
let stranger: TestKey;
let root: TestCert;
let leaf: TestCert;

const step = (name: string, fn: () => Promise<void>) => test(name, { timeout: 180_000 }, () => withServerLog(() => reg, fn));
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** What the client printed, without log prefixes. */
const output = (r: RunResult) => `${r.stderr}\n${r.stdout}`.replace(/time="[^"]*" /g, '').trim();

function assertRefused(r: RunResult, client: string, why: RegExp): void {
  const text = output(r);
  assert.notEqual(r.code, 0, `${client} pull must fail:\n${text}`);
  console.log(`${client} printed: ${text.split('\n').find((l) => /denied/i.test(l)) ?? text}`);
  assert.match(text, /denied/i, `${client} shows the DENIED code`);
  // skopeo's and podman's loggers escape the quotes (\"release\").
  assert.match(text, /trust policy \\?"release\\?" \(namespace e2e\) refuses/, `${client} shows the message naming the policy`);
  assert.match(text, why, `${client} shows why`);
}

function pushImage(name: string): Promise<Layout> {
  const layout = writeUniqueLayout(path.join(work, name), `trust-${name}-${process.pid}-${Date.now()}`, randomBytes(4096));
  return run(BIN.skopeo, [
    '--insecure-policy',
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    `oci:${layout.dir}:latest`,
    `docker://${reg.hostPort}/e2e/${name}:v1`,
  ]).then(() => layout);
}

const subjectOf = (l: Layout) => ({ digest: l.top().digest, mediaType: OCI_MANIFEST, size: l.top().size });

before(async () => {
  work = tempDir('trust-clients');
  release = makeKey('ecdsa', 'release');
  stranger = makeKey('ecdsa', 'stranger');
  root = makeCa('/C=US/ST=WA/O=Acme Rockets/CN=Acme Rockets Root');
  leaf = makeSigningCert(root, '/C=US/ST=WA/L=Seattle/O=Acme Rockets/CN=release');
  fs.writeFileSync(path.join(work, 'release.pub'), release.publicKeyPem);
  fs.writeFileSync(path.join(work, 'root.pem'), root.pem);
  const config = path.join(work, 'config.yml');
  fs.writeFileSync(
    config,
    [
      'trust:',
      '  policies:',
      '    release:',
      '      namespace: e2e',
      '      mode: enforce',
      '      keys:',
      `        release: ${path.join(work, 'release.pub')}`,
      '      notation:',
      `        truststore: [${path.join(work, 'root.pem')}]`,
      '        identities: ["x509.subject: C=US, ST=WA, O=Acme Rockets, CN=release"]',
      '',
    ].join('\n'),
  );
  reg = await startBerth({ name: 'trust-clients', env: { BERTH_CONFIG: config } });
});

after(async () => {
  await reg?.dispose();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

step(
  'cosign legacy: docker, podman and skopeo pulls are refused unsigned, with a tampered signature and an untrusted key, and succeed once validly signed',
  async () => {
    const image = await pushImage('app');
    const ref = `${reg.hostPort}/e2e/app:v1`;
    const skopeo = new Skopeo('trust-skopeo');
    const podman = new Podman('trust-podman');
    const docker = await Docker.create('trust-docker');
    const pulls = {
      skopeo: () =>
        skopeo.runMayFail([
          'copy',
          '--quiet',
          '--src-tls-verify=false',
          `docker://${ref}`,
          `oci:${path.join(work, `pulled-${randomBytes(4).toString('hex')}`)}:v1`,
        ]),
      podman: () => podman.runMayFail(['pull', '--quiet', '--tls-verify=false', ref]),
      docker: () => docker.runMayFail(['pull', ref]),
    };
    const allRefused = async (why: RegExp) => {
      for (const [client, pull] of Object.entries(pulls)) assertRefused(await pull(), client, why);
    };
    await allRefused(/has no signature/);

    const subject = image.top().digest;
    const reference = `${reg.hostPort}/e2e/app`;
    await pushSignature(reg.url, 'e2e/app', cosignLegacySignature({ subjectDigest: subject, reference, key: release, tamper: true }));
    await allRefused(/cosign signature sha256:[0-9a-f]{12}… is (untrusted|invalid)/);
    await pushSignature(reg.url, 'e2e/app', cosignLegacySignature({ subjectDigest: subject, reference, key: stranger }));
    await allRefused(/cosign signature sha256:[0-9a-f]{12}… is untrusted/);

    await pushSignature(reg.url, 'e2e/app', cosignLegacySignature({ subjectDigest: subject, reference, key: release }));
    for (const [client, pull] of Object.entries(pulls)) {
      const r = await pull();
      assert.equal(r.code, 0, `${client} pull of the signed image:\n${output(r)}`);
    }
    assert.equal(
      (await docker.inspect(ref)).RepoDigests.some((d) => d.endsWith(subject)),
      true,
      'docker pulled the signed digest',
    );
    await docker.removeImage(ref);
  },
);

step('a cosign v3 bundle and a notation signature let skopeo pull their images; before them it is refused', async () => {
  const skopeo = new Skopeo('trust-skopeo-formats');
  const pull = (name: string) =>
    skopeo.runMayFail(['copy', '--quiet', '--src-tls-verify=false', `docker://${reg.hostPort}/e2e/${name}:v1`, `oci:${path.join(work, `pulled-${name}`)}:v1`]);

  const bundled = await pushImage('bundled');
  assertRefused(await pull('bundled'), 'skopeo', /has no signature/);
  await pushSignature(reg.url, 'e2e/bundled', cosignBundleSignature({ subject: subjectOf(bundled), reference: `${reg.hostPort}/e2e/bundled`, key: stranger }));
  assertRefused(await pull('bundled'), 'skopeo', /cosign-bundle signature sha256:[0-9a-f]{12}… is untrusted/);
  await pushSignature(reg.url, 'e2e/bundled', cosignBundleSignature({ subject: subjectOf(bundled), reference: `${reg.hostPort}/e2e/bundled`, key: release }));
  const ok1 = await pull('bundled');
  assert.equal(ok1.code, 0, output(ok1));

  const notarized = await pushImage('notarized');
  assertRefused(await pull('notarized'), 'skopeo', /has no signature/);
  await pushSignature(reg.url, 'e2e/notarized', notationSignature({ subject: subjectOf(notarized), certificate: leaf, chain: [root] }));
  const ok2 = await pull('notarized');
  assert.equal(ok2.code, 0, output(ok2));
});
