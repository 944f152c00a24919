// OCI helpers for the e2e tests: read image layouts, talk to the registry API directly,
// and check that what a registry serves (or a client pulled) is exactly what was pushed.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { request, type HttpResponse } from './http.js';
import { sha256, sha256File } from './shared.js';

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

export const MANIFEST_ACCEPT = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
  artifactType?: string;
}

export interface ManifestDoc {
  schemaVersion: number;
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
}

export function isIndex(mediaType: string | undefined): boolean {
  return mediaType === MT.ociIndex || mediaType === MT.dockerList;
}

export function platformString(p: Descriptor['platform']): string {
  return p ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : '';
}

// ---------------------------------------------------------------------------------------
// OCI image layouts on disk

export class Layout {
  readonly index: { manifests: Descriptor[] };
  constructor(readonly dir: string) {
    this.index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
  }
  /** The descriptor tagged `ref` (org.opencontainers.image.ref.name), or the only one. */
  top(ref = 'latest'): Descriptor {
    const m = this.index.manifests;
    const d = m.find((x) => x.annotations?.['org.opencontainers.image.ref.name'] === ref) ?? (m.length === 1 ? m[0] : undefined);
    if (!d) throw new Error(`${this.dir}: no manifest tagged ${ref}`);
    return d;
  }
  blobPath(digest: string): string {
    const [alg, hex] = digest.split(':');
    return path.join(this.dir, 'blobs', alg, hex);
  }
  hasBlob(digest: string): boolean {
    return fs.existsSync(this.blobPath(digest));
  }
  blob(digest: string): Buffer {
    return fs.readFileSync(this.blobPath(digest));
  }
  json<T = ManifestDoc>(digest: string): T {
    return JSON.parse(this.blob(digest).toString('utf8')) as T;
  }
  /** Every descriptor reachable from `root` (root first; index → manifests → config, layers). */
  closure(root: Descriptor = this.top()): Descriptor[] {
    const out: Descriptor[] = [];
    const seen = new Set<string>();
    const walk = (d: Descriptor) => {
      if (seen.has(d.digest)) return;
      seen.add(d.digest);
      out.push(d);
      if (isIndex(d.mediaType) || d.mediaType === MT.ociManifest || d.mediaType === MT.dockerManifest) {
        const doc = this.json(d.digest);
        for (const m of doc.manifests ?? []) walk(m);
        if (doc.config) walk(doc.config);
        for (const l of doc.layers ?? []) walk(l);
      }
    };
    walk(root);
    return out;
  }
  /** The image manifests (one per platform for an index). */
  images(root: Descriptor = this.top()): { desc: Descriptor; manifest: ManifestDoc; config: ImageConfig }[] {
    if (isIndex(root.mediaType)) return this.json(root.digest).manifests!.flatMap((m) => this.images(m));
    const manifest = this.json(root.digest);
    return [{ desc: root, manifest, config: this.json<ImageConfig>(manifest.config!.digest) }];
  }
  totalSize(root: Descriptor = this.top()): number {
    return this.closure(root).reduce((a, d) => a + d.size, 0);
  }
}

export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  rootfs: { type: string; diff_ids: string[] };
}

/**
 * Assert that `actualDir` (an OCI layout written by a client that pulled) holds exactly the
 * content of `expected`: same top digest, and every blob of the closure present with the
 * same bytes (sha256 of the file recomputed).
 */
export async function assertLayoutMatches(actualDir: string, expected: Layout, opts: { topRef?: string } = {}): Promise<void> {
  const actual = new Layout(actualDir);
  const want = expected.top();
  const got = actual.top(opts.topRef ?? 'latest');
  assert.equal(got.digest, want.digest, `top-level digest of ${actualDir}`);
  assert.equal(got.size, want.size, `top-level size of ${actualDir}`);
  for (const d of expected.closure()) {
    assert.ok(actual.hasBlob(d.digest), `${actualDir} lacks blob ${d.digest} (${d.mediaType})`);
    const st = fs.statSync(actual.blobPath(d.digest));
    assert.equal(st.size, d.size, `size of ${d.digest}`);
    assert.equal(await sha256File(actual.blobPath(d.digest)), d.digest, `content of ${d.digest} in ${actualDir}`);
  }
}

// ---------------------------------------------------------------------------------------
// Registry API

export interface ApiOptions {
  basicAuth?: string;
}

export interface FetchedManifest {
  status: number;
  body: Buffer;
  digest: string; // sha256 of the body
  headerDigest?: string;
  contentType?: string;
  doc: ManifestDoc;
}

export class RegistryApi {
  constructor(
    readonly baseUrl: string,
    readonly opts: ApiOptions = {},
  ) {}

  req(method: string, p: string, extra: { headers?: Record<string, string | number>; body?: Buffer | string } = {}): Promise<HttpResponse> {
    return request(this.baseUrl + p, { method, basicAuth: this.opts.basicAuth, timeoutMs: 120_000, ...extra });
  }

  async getManifest(repo: string, ref: string, accept = MANIFEST_ACCEPT): Promise<FetchedManifest> {
    const r = await this.req('GET', `/v2/${repo}/manifests/${ref}`, { headers: { Accept: accept } });
    if (r.status !== 200) {
      throw new Error(`GET /v2/${repo}/manifests/${ref} → ${r.status}: ${r.body.toString().slice(0, 500)}`);
    }
    return {
      status: r.status,
      body: r.body,
      digest: sha256(r.body),
      headerDigest: r.headers['docker-content-digest'] as string | undefined,
      contentType: r.headers['content-type'],
      doc: JSON.parse(r.body.toString('utf8')) as ManifestDoc,
    };
  }

  async manifestStatus(repo: string, ref: string, method: 'GET' | 'HEAD' = 'GET'): Promise<number> {
    return (await this.req(method, `/v2/${repo}/manifests/${ref}`, { headers: { Accept: MANIFEST_ACCEPT } })).status;
  }

  async getBlob(repo: string, digest: string): Promise<Buffer> {
    let r = await this.req('GET', `/v2/${repo}/blobs/${digest}`);
    // a registry may redirect blob downloads (e.g. to storage); follow once
    if ((r.status === 307 || r.status === 302) && r.headers.location) {
      r = await request(new URL(r.headers.location, this.baseUrl), { timeoutMs: 120_000 });
    }
    if (r.status !== 200) throw new Error(`GET /v2/${repo}/blobs/${digest} → ${r.status}: ${r.body.toString().slice(0, 300)}`);
    return r.body;
  }

  async blobStatus(repo: string, digest: string, method: 'GET' | 'HEAD' = 'HEAD'): Promise<number> {
    return (await this.req(method, `/v2/${repo}/blobs/${digest}`)).status;
  }

  async tags(repo: string): Promise<string[]> {
    const r = await this.req('GET', `/v2/${repo}/tags/list`);
    if (r.status === 404) return [];
    assert.equal(r.status, 200, `tags/list of ${repo}: ${r.body.toString()}`);
    return (JSON.parse(r.body.toString()) as { tags: string[] | null }).tags ?? [];
  }
}

/**
 * Assert that the registry serves, under repo:ref, byte-for-byte the content of the layout's
 * top manifest (index, manifests, configs, layers), each verified by sha256.
 */
export async function assertRegistryHasLayout(api: RegistryApi, repo: string, ref: string, layout: Layout): Promise<void> {
  const top = layout.top();
  const m = await api.getManifest(repo, ref);
  assert.equal(m.digest, top.digest, `digest of ${repo}:${ref} (content-type ${m.contentType})`);
  if (m.headerDigest) assert.equal(m.headerDigest, top.digest, `Docker-Content-Digest of ${repo}:${ref}`);
  assert.ok(m.body.equals(layout.blob(top.digest)), `manifest bytes of ${repo}:${ref}`);
  for (const d of layout.closure()) {
    if (d.digest === top.digest) continue;
    const isManifest = d.mediaType === MT.ociManifest || d.mediaType === MT.dockerManifest || isIndex(d.mediaType);
    const body = isManifest ? (await api.getManifest(repo, d.digest)).body : await api.getBlob(repo, d.digest);
    assert.equal(body.length, d.size, `size of ${d.digest} in ${repo}`);
    assert.equal(sha256(body), d.digest, `content of ${d.digest} in ${repo}`);
  }
}

export interface RegistryImage {
  platform: string;
  manifestDigest: string;
  configDigest: string;
  layerDigests: string[];
  diffIds: string[];
}

/**
 * Walk repo:ref as served by the registry, download everything, and check it is
 * self-consistent: every blob matches its digest and size, and every layer decompresses to
 * the diff_id its config declares. Returns one entry per image (per platform of an index).
 */
export async function verifyRegistryImage(
  api: RegistryApi,
  repo: string,
  ref: string,
): Promise<{ digest: string; mediaType: string; images: RegistryImage[] }> {
  const top = await api.getManifest(repo, ref);
  const mediaType = top.doc.mediaType ?? top.contentType ?? '';
  if (ref.startsWith('sha256:')) assert.equal(top.digest, ref, `manifest ${ref} content`);
  const images: RegistryImage[] = [];
  const one = async (doc: ManifestDoc, manifestDigest: string) => {
    assert.ok(doc.config && doc.layers, `${repo}@${manifestDigest} is not an image manifest`);
    const cfgBody = await api.getBlob(repo, doc.config.digest);
    assert.equal(sha256(cfgBody), doc.config.digest, `config ${doc.config.digest}`);
    assert.equal(cfgBody.length, doc.config.size, `config size ${doc.config.digest}`);
    const config = JSON.parse(cfgBody.toString()) as ImageConfig;
    assert.equal(doc.layers.length, config.rootfs.diff_ids.length, 'layers vs diff_ids');
    for (const [i, l] of doc.layers.entries()) {
      const body = await api.getBlob(repo, l.digest);
      assert.equal(body.length, l.size, `size of layer ${l.digest}`);
      assert.equal(sha256(body), l.digest, `content of layer ${l.digest}`);
      assert.equal(uncompressedDigest(body, l.mediaType), config.rootfs.diff_ids[i], `diff_id of layer ${i} (${l.digest})`);
    }
    images.push({
      platform: [config.os, config.architecture, config.variant].filter(Boolean).join('/'),
      manifestDigest,
      configDigest: doc.config.digest,
      layerDigests: doc.layers.map((l) => l.digest),
      diffIds: config.rootfs.diff_ids,
    });
  };
  if (isIndex(mediaType)) {
    for (const d of top.doc.manifests ?? []) {
      const child = await api.getManifest(repo, d.digest);
      assert.equal(child.digest, d.digest, `child manifest ${d.digest}`);
      assert.equal(child.body.length, d.size, `child manifest size ${d.digest}`);
      await one(child.doc, d.digest);
    }
  } else {
    await one(top.doc, top.digest);
  }
  return { digest: top.digest, mediaType, images };
}

export function uncompressedDigest(body: Buffer, mediaType: string): string {
  if (/gzip/.test(mediaType)) return sha256(zlib.gunzipSync(body));
  if (/zstd/.test(mediaType)) {
    // node 20's zlib has no zstd: use the zstd CLI (Debian package zstd)
    return sha256(execFileSync('zstd', ['-d', '-c', '-q'], { input: body, maxBuffer: 1 << 30 }));
  }
  return sha256(body);
}

export function digestOf(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The bytes of an OCI image manifest listing `config` and `layers` (tar media type), as a client would push them. */
export function ociImageManifest(config: Buffer, layers: Buffer[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(l), size: l.length })),
    }),
  );
}

/** The layout's image for a given platform string ("linux/arm64/v8"). */
export function layoutImageFor(layout: Layout, platform: string) {
  const img = layout.images().find((i) => [i.config.os, i.config.architecture, i.config.variant].filter(Boolean).join('/') === platform);
  if (!img) throw new Error(`${layout.dir} has no ${platform} image`);
  return img;
}

/**
 * Write a small single-platform OCI image layout whose content is unique to `seed` (one
 * gzip layer holding one file), for tests that must not share blobs with anything else.
 * Returns the layout. The layer is a real tar so clients can unpack it.
 */
export function writeUniqueLayout(dir: string, seed: string, fileContent: Buffer): Layout {
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const put = (data: Buffer) => {
    const d = digestOf(data);
    fs.writeFileSync(path.join(dir, 'blobs', 'sha256', d.slice(7)), data);
    return { digest: d, size: data.length };
  };
  const tar = tarOneFile(`unique/${seed.replace(/[^\w.-]/g, '_')}.bin`, fileContent);
  const layer = put(zlib.gzipSync(tar));
  const config = put(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Labels: { 'dev.berth.e2e.seed': seed } },
        rootfs: { type: 'layers', diff_ids: [digestOf(tar)] },
      }),
    ),
  );
  const manifest = put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
      }),
    ),
  );
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [{ mediaType: MT.ociManifest, ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }),
  );
  return new Layout(dir);
}

/** A ustar archive with a single regular file (mode 0644, mtime 0). */
export function tarOneFile(name: string, content: Buffer): Buffer {
  if (Buffer.byteLength(name) > 99) throw new Error('name too long for a plain ustar header');
  const h = Buffer.alloc(512);
  const field = (off: number, len: number, value: string) => h.write(value, off, len, 'utf8');
  const octal = (off: number, len: number, n: number) => field(off, len, `${n.toString(8).padStart(len - 1, '0')}\0`);
  field(0, 100, name);
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, content.length);
  octal(136, 12, 0);
  h.fill(' ', 148, 156); // checksum placeholder
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  let sum = 0;
  for (const b of h) sum += b;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([h, content, pad, Buffer.alloc(1024)]);
}
