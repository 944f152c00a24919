// Helpers of the retention tests: a token-auth server on a TestClock, images, multi-arch
// indexes and referrers pushed over /v2, pulls, and policy calls.
import assert from 'node:assert/strict';
import { indexServiceOf } from '../../src/index/service.js';
import { MT, digestOf, type StartOptions, type TestServer } from '../helpers/api-server.js';
import { TestClock } from '../helpers/clock.js';
import type { TokenClient } from '../helpers/token-client.js';
import { type Creds, accountsServer, call, expect } from '../api-v1/helpers.js';

export { TestClock };
export const DAY = 86_400_000;

/** A token-auth server whose clock is `clock` (one per file). */
export function retentionServer(clock: TestClock, extra: StartOptions = {}): TestServer {
  return accountsServer({}, { ...extra, parts: { ...extra.parts, now: clock.now } });
}

export interface Image {
  digest: string;
  /** Bytes collection frees when the image goes and nothing else uses its blobs. */
  bytes: number;
}

/** Pushes config + one layer + manifest under `ref` (a tag, or by digest when omitted). */
export async function pushImage(c: TokenClient, repo: string, ref?: string, extra: Record<string, unknown> = {}): Promise<Image> {
  const p = await c.pushImage(repo, ref ?? null, extra);
  return { digest: p.manifest, bytes: p.total };
}

export async function putManifest(c: TokenClient, repo: string, doc: Record<string, unknown>, ref?: string): Promise<{ digest: string; size: number }> {
  const bytes = Buffer.from(JSON.stringify(doc));
  const digest = digestOf(bytes);
  const res = await c.fetch(`/v2/${repo}/manifests/${ref ?? digest}`, { method: 'PUT', headers: { 'Content-Type': doc.mediaType as string }, body: bytes });
  assert.equal(res.status, 201, `PUT manifest ${repo}:${ref ?? digest}: ${await res.text()}`);
  return { digest, size: bytes.length };
}

/** A multi-arch index under `tag` over two untagged images; returns the index and its children. */
export async function pushIndex(c: TokenClient, repo: string, tag: string): Promise<{ index: { digest: string; size: number }; children: Image[] }> {
  const children = [await pushImage(c, repo), await pushImage(c, repo)];
  const doc = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: children.map((ch, i) => ({
      mediaType: MT.ociManifest,
      digest: ch.digest,
      size: 0,
      platform: { os: 'linux', architecture: i === 0 ? 'amd64' : 'arm64' },
    })),
  };
  // Descriptor sizes must match: read each child's size back from its bytes.
  for (const [i, ch] of children.entries()) {
    const res = await c.fetch(`/v2/${repo}/manifests/${ch.digest}`, { headers: { Accept: MT.ociManifest } });
    doc.manifests[i].size = (await res.arrayBuffer()).byteLength;
  }
  return { index: await putManifest(c, repo, doc, tag), children };
}

/** An untagged artifact whose subject is `subject` (a signature or an SBOM, found through the referrers API). */
export async function pushReferrer(c: TokenClient, repo: string, subject: string): Promise<Image> {
  const res = await c.fetch(`/v2/${repo}/manifests/${subject}`, { headers: { Accept: `${MT.ociManifest}, ${MT.ociIndex}` } });
  const body = Buffer.from(await res.arrayBuffer());
  return pushImage(c, repo, undefined, {
    artifactType: 'application/vnd.example.sbom',
    subject: { mediaType: res.headers.get('content-type'), digest: subject, size: body.length },
  });
}

/** GET of a manifest (a pull), then the index's pull flush, so the pull time is in the database. */
export async function pull(s: TestServer, c: TokenClient, repo: string, ref: string): Promise<void> {
  const res = await c.fetch(`/v2/${repo}/manifests/${ref}`, { headers: { Accept: `${MT.ociManifest}, ${MT.ociIndex}` } });
  assert.equal(res.status, 200, `pull ${repo}:${ref}`);
  await res.arrayBuffer();
  await indexServiceOf(s.app)!.flush();
}

/** HTTP status of a manifest HEAD (200 present, 404 gone). */
export async function head(c: TokenClient, repo: string, ref: string): Promise<number> {
  const res = await c.fetch(`/v2/${repo}/manifests/${ref}`, { method: 'HEAD', headers: { Accept: `${MT.ociManifest}, ${MT.ociIndex}` } });
  return res.status;
}

export async function tagsOf(c: TokenClient, repo: string): Promise<string[]> {
  const res = await c.fetch(`/v2/${repo}/tags/list`);
  assert.equal(res.status, 200);
  return (((await res.json()) as { tags: string[] | null }).tags ?? []).sort();
}

export const policies = (ns: string) => `/namespaces/${ns}/retention-policies`;

export async function createPolicy(s: TestServer, ns: string, who: Creds, body: Record<string, unknown>): Promise<any> {
  return expect(await call(s, 'POST', policies(ns), who, body), 201, undefined, `create policy ${String(body.name)}`).body;
}

export async function run(s: TestServer, ns: string, name: string, who: Creds, dryRun: boolean): Promise<any> {
  return expect(await call(s, 'POST', `${policies(ns)}/${name}/run`, who, { dryRun }), 200, undefined, `run ${name}`).body;
}
