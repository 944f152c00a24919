// fetch-based helpers for small pushes: blobs, manifests, mounts, and a tiny image generator.
import { createHash, randomBytes } from 'node:crypto';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** A Buffer as a fetch body (TypeScript's BodyInit does not name Buffer). */
// A Buffer typed as a fetch body (TS 5.9 wants Uint8Array<ArrayBuffer>; a Buffer is one at runtime).
const bodyOf = (b: Buffer) => b as unknown as BodyInit;

export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function ok(res: Response, want: number, what: string): Promise<Response> {
  if (res.status !== want) {
    const text = await res.text().catch(() => '');
    throw new Error(`${what}: expected HTTP ${want}, got ${res.status} ${text.slice(0, 300)}`);
  }
  return res;
}

/** POST, then PUT ?digest= with the body (the way containerd pushes). `auth`: e.g. an Authorization header. */
export async function pushBlob(base: string, repo: string, body: Buffer, auth: Record<string, string> = {}): Promise<string> {
  const digest = sha256(body);
  const post = await ok(await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: auth }), 202, `POST ${repo} upload`);
  await post.arrayBuffer();
  const loc = new URL(post.headers.get('location') ?? '', base).toString();
  const put = await fetch(`${loc}${loc.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`, {
    method: 'PUT',
    headers: { ...auth, 'Content-Type': 'application/octet-stream' },
    body: bodyOf(body),
  });
  await (await ok(put, 201, `PUT ${repo} blob`)).arrayBuffer();
  return digest;
}

/** Cross-repository mount; falls back to an upload if the server answers 202 instead of 201. */
export async function mountBlob(base: string, repo: string, from: string, body: Buffer): Promise<void> {
  const digest = sha256(body);
  const res = await fetch(`${base}/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, {
    method: 'POST',
  });
  await res.arrayBuffer();
  if (res.status === 201) return;
  if (res.status !== 202) throw new Error(`POST mount into ${repo}: HTTP ${res.status}`);
  await pushBlob(base, repo, body);
}

export async function putManifest(
  base: string,
  repo: string,
  ref: string,
  body: Buffer,
  mediaType = OCI_MANIFEST,
  auth: Record<string, string> = {},
): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${ref}`, { method: 'PUT', headers: { ...auth, 'Content-Type': mediaType }, body: bodyOf(body) });
  await (await ok(res, 201, `PUT manifest ${repo}:${ref}`)).arrayBuffer();
}

export interface Image {
  layer: Buffer;
  config: Buffer;
  manifest: Buffer;
  digest: string;
}

/** A unique one-layer OCI image: `layerBytes` random bytes, a config naming it, and the manifest. */
export function makeImage(layerBytes = 2048): Image {
  const layer = randomBytes(layerBytes);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] }, config: {} }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
    }),
  );
  return { layer, config, manifest, digest: sha256(manifest) };
}

export async function pushImage(base: string, repo: string, tag: string, img: Image, auth: Record<string, string> = {}): Promise<void> {
  await pushBlob(base, repo, img.layer, auth);
  await pushBlob(base, repo, img.config, auth);
  await putManifest(base, repo, tag, img.manifest, OCI_MANIFEST, auth);
}

/** Runs `count` tasks with at most `concurrency` in flight; returns elapsed seconds. */
export async function runPool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return (performance.now() - start) / 1000;
}
