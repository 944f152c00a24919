// The fixture images are real images: skopeo reads their OCI layout, Berth accepts their push, and what
// Berth serves back analyses to what EXPECTED says.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { analyzeImage } from '../../src/scan/analyze/index.js';
import { serverPerFile } from '../helpers/api-server.js';
import { alpineImage, debianImage, EXPECTED, pushFixtureImage, rhelImage, writeOciLayout } from '../helpers/scan-images.js';

describe('fixture images', () => {
  const server = serverPerFile();

  it('form an OCI layout skopeo reads, zstd layer included', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-scan-layout-'));
    try {
      const images = [
        { image: await debianImage(), tag: 'debian' },
        { image: await alpineImage(), tag: 'alpine' },
        { image: await rhelImage(), tag: 'rhel' },
      ];
      writeOciLayout(dir, images);
      for (const { image, tag } of images) {
        const raw = execFileSync('/usr/bin/skopeo', ['inspect', '--raw', `oci:${dir}:${tag}`]);
        assert.ok(raw.equals(image.manifest), tag);
        const info = JSON.parse(execFileSync('/usr/bin/skopeo', ['inspect', `oci:${dir}:${tag}`], { encoding: 'utf8' }));
        assert.deepEqual(
          info.Layers,
          image.layers.map((l) => l.digest),
        );
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('push to Berth, and the layers Berth serves analyse to the expected packages', async () => {
    const image = await debianImage();
    const pushed = await pushFixtureImage(server.url, 'scan/debian-app', 'v1', image);
    assert.equal(pushed.digest, image.manifestDigest);
    const res = await fetch(`${server.url}/v2/scan/debian-app/manifests/v1`, { headers: { accept: pushed.mediaType } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), image.manifestDigest);
    const manifest = JSON.parse(await res.text()) as { layers: { digest: string; mediaType: string }[] };
    const layers = manifest.layers.map((l) => ({
      digest: l.digest,
      mediaType: l.mediaType,
      open: async () => {
        const blob = await fetch(`${server.url}/v2/scan/debian-app/blobs/${l.digest}`);
        assert.equal(blob.status, 200);
        return Readable.fromWeb(blob.body as import('node:stream/web').ReadableStream);
      },
    }));
    const r = await analyzeImage(layers, { maxFileBytes: 1 << 20 });
    assert.deepEqual(r.packages.map((p) => `${p.ecosystem}/${p.name}@${p.version}`).sort(), EXPECTED.debian.packages.slice().sort());
  });
});
