// A real upstream registry for the mirror tests: Debian's docker-registry (distribution 2.8) on a free
// loopback port with its own config and data dir — optionally behind a token server (as Docker Hub
// is), or in registry:2 proxy mode (the reference mirror Berth is compared with) — and fillUpstream,
// which pushes the deterministic test images into it with skopeo.
//
//   const up = await startUpstream({ token: true });
//   const content = await fillUpstream(up);            // library/tiny, library/multi, team/app, the referrer
//   const ref = await startUpstream({ proxy: { remoteurl: up.url } });   // registry:2 pull-through cache
//   await up.stop(); …; await up.start();              // "upstream down", same port, same data
import fs from 'node:fs';
import path from 'node:path';
import { startReference, type RegistryProcess } from './berth-process.js';
import { Skopeo } from './clients.js';
import { request } from './http.js';
import { Layout, MT, type Descriptor, type ManifestDoc } from './oci.js';
import { sha256, tempDir, testImages, type FixtureName } from './shared.js';
import { startUpstreamTokenServer, type TokenServerOptions, type UpstreamTokenServer } from './upstream-token-server.js';

export interface UpstreamOptions {
  /** registry:2 proxy mode: a pull-through cache of remoteurl (REGISTRY_PROXY_*). */
  proxy?: { remoteurl: string; username?: string; password?: string };
  /** Token auth with a token server started for it (true: user "upstream" / "upstream-pass", anonymous pull). */
  token?: boolean | TokenServerOptions;
  /** A name for the log file. */
  name?: string;
}

export interface Upstream {
  /** http://127.0.0.1:PORT (the same after stop/start) */
  readonly url: string;
  readonly hostPort: string;
  readonly port: number;
  readonly root: string;
  readonly logFile: string;
  /** The token server (token: …), else null. */
  readonly token: UpstreamTokenServer | null;
  /** "user:password" that may push (token mode), else undefined (no auth: anyone may). */
  readonly creds: string | undefined;
  readonly process: RegistryProcess;
  /** Stop the registry (SIGTERM): connections are refused until start(). */
  stop(): Promise<void>;
  /** Start again on the same port and data. */
  start(): Promise<void>;
  /** Stop, remove its data, close the token server. */
  dispose(): Promise<void>;
  logTail(lines?: number): string;
}

export const UPSTREAM_USER = 'upstream';
export const UPSTREAM_PASSWORD = 'upstream-pass';

export async function startUpstream(opts: UpstreamOptions = {}): Promise<Upstream> {
  let token: UpstreamTokenServer | null = null;
  let creds: string | undefined;
  if (opts.token) {
    const t = opts.token === true ? {} : opts.token;
    const users = t.users ?? { [UPSTREAM_USER]: UPSTREAM_PASSWORD };
    token = await startUpstreamTokenServer({ ...t, users });
    const [u, p] = Object.entries(users)[0] ?? [];
    if (u) creds = `${u}:${p}`;
  }
  const env: Record<string, string> = { ...(token ? token.registryEnv() : {}) };
  if (opts.proxy) {
    env.REGISTRY_PROXY_REMOTEURL = opts.proxy.remoteurl;
    if (opts.proxy.username) env.REGISTRY_PROXY_USERNAME = opts.proxy.username;
    if (opts.proxy.password) env.REGISTRY_PROXY_PASSWORD = opts.proxy.password;
  }
  let reg: RegistryProcess;
  try {
    reg = await startReference({ env, name: opts.name ?? (opts.proxy ? 'upstream-proxy' : 'upstream') });
  } catch (e) {
    await token?.close();
    throw e;
  }
  return {
    get url() {
      return reg.url;
    },
    get hostPort() {
      return reg.hostPort;
    },
    get port() {
      return reg.port;
    },
    root: reg.root,
    logFile: reg.logFile,
    token,
    creds,
    process: reg,
    stop: () => reg.stop(),
    start: () => reg.restart(),
    dispose: async () => {
      await reg.dispose();
      await token?.close();
    },
    logTail: (lines) => reg.logTail(lines),
  };
}

// ---------------------------------------------------------------------------------------
// Content

/** One pushed image, with every digest a test may look for upstream or in the cache. */
export interface FilledImage {
  repo: string;
  tags: string[];
  /** repo:tag of the first tag */
  ref: string;
  /** the top manifest (or index) digest, its media type and size */
  digest: string;
  mediaType: string;
  size: number;
  /** image manifests: one, or one per platform of an index */
  images: { digest: string; platform: string; config: string; layers: string[] }[];
  /** every blob (configs and layers, no manifests), without duplicates */
  blobs: string[];
  /** every manifest (the top one first, then index children) */
  manifests: string[];
  /** total bytes of the closure (manifests and blobs) */
  bytes: number;
}

export interface FilledReferrer {
  /** the repository of the subject (library/tiny) */
  repo: string;
  subject: string;
  /** the artifact manifest */
  digest: string;
  artifactType: string;
  blobs: string[];
  /** the referrers tag schema fallback (sha256-<hex>), since docker-registry 2.8 has no referrers API */
  fallbackTag: string;
  fallbackIndex: string;
}

export interface UpstreamContent {
  /** library/tiny:latest and :1 — one small layer (the `docker pull tiny` of the tests) */
  tiny: FilledImage;
  /** library/multi:latest — an OCI index of linux/amd64 and linux/arm64/v8 sharing a base layer */
  multi: FilledImage;
  /** team/app:latest — three layers, one of them BIG_MIB MiB (namespaced, not under library/) */
  app: FilledImage;
  /** an artifact (fake SBOM) whose subject is library/tiny:latest */
  referrer: FilledReferrer;
}

export type FillPart = 'tiny' | 'multi' | 'app' | 'referrer';

export interface FillOptions {
  /** Which images (default all; 'referrer' implies 'tiny'). team/app carries a BIG_MIB MiB layer. */
  only?: FillPart[];
  /** "user:password" (default: the upstream's own creds when given an Upstream) */
  creds?: string;
}

const TLS_OFF = ['--src-tls-verify=false', '--dest-tls-verify=false'];

/** The digests of a test image as fillUpstream would push it, without pushing. */
export function describeFixture(layoutDir: string, repo: string, tags: string[]): FilledImage {
  const layout = new Layout(layoutDir);
  const top = layout.top();
  const closure = layout.closure();
  const isManifest = (d: Descriptor) =>
    d.mediaType === MT.ociManifest || d.mediaType === MT.dockerManifest || d.mediaType === MT.ociIndex || d.mediaType === MT.dockerList;
  return {
    repo,
    tags,
    ref: `${repo}:${tags[0]}`,
    digest: top.digest,
    mediaType: top.mediaType,
    size: top.size,
    images: layout.images().map((i) => ({
      digest: i.desc.digest,
      platform: [i.config.os, i.config.architecture, i.config.variant].filter(Boolean).join('/'),
      config: i.manifest.config!.digest,
      layers: i.manifest.layers!.map((l) => l.digest),
    })),
    blobs: closure.filter((d) => !isManifest(d)).map((d) => d.digest),
    manifests: closure.filter(isManifest).map((d) => d.digest),
    bytes: closure.reduce((a, d) => a + d.size, 0),
  };
}

/** Push one test image (by its fixture name) to `<upstream>/<repo>:<tag>` with skopeo. */
export async function pushFixture(target: string | Upstream, name: FixtureName, repo: string, tag: string, creds?: string): Promise<void> {
  const host = typeof target === 'string' ? new URL(target).host : target.hostPort;
  const c = creds ?? (typeof target === 'string' ? undefined : target.creds);
  const imgs = await testImages();
  await skopeo().run([
    'copy',
    '--quiet',
    ...TLS_OFF,
    ...(name === 'multiarch' ? ['--all'] : []),
    ...(c ? ['--dest-creds', c] : []),
    `oci:${imgs.layout(name)}:latest`,
    `docker://${host}/${repo}:${tag}`,
  ]);
}

let skopeoInstance: Skopeo | undefined;
function skopeo(): Skopeo {
  skopeoInstance ??= new Skopeo('upstream-fill');
  return skopeoInstance;
}

/** Fill an upstream with the test images (see UpstreamContent); returns their digests. */
export async function fillUpstream(target: string | Upstream, opts: FillOptions = {}): Promise<UpstreamContent> {
  const parts = new Set<FillPart>(opts.only ?? ['tiny', 'multi', 'app', 'referrer']);
  if (parts.has('referrer')) parts.add('tiny');
  const creds = opts.creds ?? (typeof target === 'string' ? undefined : target.creds);
  const imgs = await testImages();
  const out: Partial<UpstreamContent> = {};
  const push = async (name: FixtureName, repo: string, tags: string[]) => {
    for (const tag of tags) await pushFixture(target, name, repo, tag, creds);
    return describeFixture(imgs.layout(name), repo, tags);
  };
  if (parts.has('tiny')) out.tiny = await push('tiny', 'library/tiny', ['latest', '1']);
  if (parts.has('multi')) out.multi = await push('multiarch', 'library/multi', ['latest']);
  if (parts.has('app')) out.app = await push('multilayer', 'team/app', ['latest']);
  if (parts.has('referrer')) out.referrer = await pushReferrer(target, imgs.layout('artifact'), 'library/tiny', creds);
  return out as UpstreamContent;
}

/**
 * Push the artifact into the repository of its subject as the referrers tag schema has it: an index
 * tagged sha256-<subject hex> listing the artifact (docker-registry 2.8 has no referrers API, so
 * this is how clients, and a mirror, find referrers there).
 */
async function pushReferrer(target: string | Upstream, artifactDir: string, repo: string, creds: string | undefined): Promise<FilledReferrer> {
  const art = new Layout(artifactDir);
  const top = art.top();
  const doc = art.json<ManifestDoc & { annotations?: Record<string, string> }>(top.digest);
  const subject = doc.subject!.digest;
  const artifactType = doc.artifactType!;
  // an OCI layout holding the fallback index, the artifact and its blobs
  const dir = tempDir('referrers-layout');
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  for (const d of art.closure()) fs.copyFileSync(art.blobPath(d.digest), path.join(dir, 'blobs', 'sha256', d.digest.slice(7)));
  const entry = { mediaType: MT.ociManifest, digest: top.digest, size: top.size, artifactType, ...(doc.annotations ? { annotations: doc.annotations } : {}) };
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [entry] }));
  const indexDigest = sha256(index);
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', indexDigest.slice(7)), index);
  const fallbackTag = subject.replace(':', '-');
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [{ mediaType: MT.ociIndex, digest: indexDigest, size: index.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }),
  );
  const host = typeof target === 'string' ? new URL(target).host : target.hostPort;
  await skopeo().run([
    'copy',
    '--quiet',
    ...TLS_OFF,
    '--all',
    ...(creds ? ['--dest-creds', creds] : []),
    `oci:${dir}:latest`,
    `docker://${host}/${repo}:${fallbackTag}`,
  ]);
  // skopeo 1.9 rewrites the index without the entries' artifactType: put the exact bytes over it
  await putManifest(`http://${host}`, repo, fallbackTag, MT.ociIndex, index, creds);
  return {
    repo,
    subject,
    digest: top.digest,
    artifactType,
    blobs: art
      .closure()
      .slice(1)
      .filter((d) => d.digest !== subject)
      .map((d) => d.digest),
    fallbackTag,
    fallbackIndex: indexDigest,
  };
}

/** PUT a manifest's exact bytes, answering a Bearer challenge with a token fetched with `creds` (or anonymously). */
export async function putManifest(base: string, repo: string, ref: string, mediaType: string, body: Buffer, creds?: string): Promise<void> {
  const url = `${base}/v2/${repo}/manifests/${ref}`;
  const put = (headers: Record<string, string> = {}) =>
    request(url, { method: 'PUT', headers: { 'Content-Type': mediaType, ...headers }, body, timeoutMs: 30_000 });
  let r = await put();
  const challenge = /^Bearer (.+)$/i.exec(String(r.headers['www-authenticate'] ?? ''));
  if (r.status === 401 && challenge) {
    const params = Object.fromEntries([...challenge[1].matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const u = new URL(params.realm);
    if (params.service) u.searchParams.set('service', params.service);
    if (params.scope) u.searchParams.set('scope', params.scope);
    const t = await request(u, { basicAuth: creds, timeoutMs: 10_000 });
    if (t.status !== 200) throw new Error(`token for ${params.scope}: ${t.status} ${t.body.toString()}`);
    const token = (JSON.parse(t.body.toString()) as { token?: string; access_token?: string }).token;
    r = await put({ Authorization: `Bearer ${token}` });
  } else if (r.status === 401 && creds) {
    r = await put({ Authorization: `Basic ${Buffer.from(creds).toString('base64')}` });
  }
  if (r.status !== 201) throw new Error(`PUT ${url}: ${r.status} ${r.body.toString().slice(0, 300)}`);
}
