// A registry:2 storage root to import: Debian's docker-registry (distribution 2.8, deletes enabled) filled
// by skopeo and docker with what an old registry holds — a multi-arch index, an artifact with a subject
// (and its referrers-tag-schema index), a tag moved twice, a deleted manifest, a corrupt blob and an
// abandoned upload — plus what each should become in Berth, worked out from what was pushed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { loadConfig } from '../../src/config/index.js';
import { openMetadata } from '../../src/metadata/open.js';
import { TagHistoryStore } from '../../src/metadata/tag-history.js';
import { commandRun, envWithoutSettings, type CommandRun } from '../helpers/berth-process.js';
import { BIN, Docker, Skopeo, run } from '../helpers/clients.js';
import { request } from '../helpers/http.js';
import { isIndex, MANIFEST_ACCEPT, RegistryApi, writeUniqueLayout, type Layout, type ManifestDoc } from '../helpers/oci.js';
import { derivedFile, REPO_ROOT, tempDir, testImages } from '../helpers/shared.js';
import { fillUpstream, startUpstream, type Upstream, type UpstreamContent } from '../helpers/upstream.js';

export interface Source {
  up: Upstream;
  content: UpstreamContent;
  /** library/moved:v, oldest first (tiny as OCI, the multi-arch index, tiny as Docker schema 2). */
  moved: string[];
  /** docker/pushed:1 (docker push of tiny). */
  pushed: string;
  /** library/gone:1 (kept) and the manifest deleted from library/gone (was :2). */
  gone: { kept: string; deleted: string };
  /** library/broken:1 and its layer, whose bytes were flipped after the push. */
  broken: { manifest: string; layer: string; layerSize: number };
  /** library/dangling:1, whose layer's data file was removed after the push (its link stays). */
  dangling: { manifest: string; layer: string };
  /** Repositories whose one image cannot be imported (library/broken, library/dangling). */
  unimportable: string[];
  /** The abandoned upload's id (in library/tiny). */
  staleUpload: string;
  /** What the import should find: repositories, tags, manifests, distinct blobs in the source and their bytes. */
  expected: { repositories: number; tags: number; manifests: number; blobs: number; bytes: number; history: number };
  /** Every tag and what it points at in the source (the broken one included). */
  refs: { repo: string; tag: string; digest: string }[];
}

const TLS = ['--src-tls-verify=false', '--dest-tls-verify=false'];

export async function fillSource(): Promise<Source> {
  const up = await startUpstream({ name: 'import-source' });
  const api = new RegistryApi(up.url);
  const skopeo = new Skopeo('import-fill');
  const imgs = await testImages();
  const copy = (from: string, to: string, extra: string[] = []) => skopeo.run(['copy', '--quiet', ...TLS, ...extra, from, `docker://${up.hostPort}/${to}`]);

  // library/tiny (:latest, :1, the artifact and its referrers index) and library/multi (an index).
  const content = await fillUpstream(up, { only: ['multi', 'referrer'] });

  // A tag moved twice.
  await copy(`oci:${imgs.layout('tiny')}:latest`, 'library/moved:v');
  await copy(`oci:${imgs.layout('multiarch')}:latest`, 'library/moved:v', ['--all']);
  await copy(`oci:${imgs.layout('tiny')}:latest`, 'library/moved:v', ['--format', 'v2s2']);
  const moved = [content.tiny.digest, content.multi.digest, (await api.getManifest('library/moved', 'v')).digest];

  // docker push (docker re-compresses the layer and writes a Docker schema 2 manifest).
  const docker = await Docker.create('import-docker');
  const archive = await derivedFile('tiny.docker-archive.tar', async (out) => {
    await run(BIN.skopeo, ['--insecure-policy', 'copy', '--quiet', `oci:${imgs.layout('tiny')}:latest`, `docker-archive:${out}:berth-fixture/tiny:latest`]);
  });
  await docker.run(['load', '--quiet', '--input', archive]);
  await docker.run(['tag', 'berth-fixture/tiny:latest', `${up.hostPort}/docker/pushed:1`]);
  await docker.run(['push', `${up.hostPort}/docker/pushed:1`]);
  const pushed = (await api.getManifest('docker/pushed', '1')).digest;

  // A deleted manifest: library/gone:2 is deleted by digest (its tag goes with it, its blob files stay).
  const uniq = (seed: string) => writeUniqueLayout(tempDir(`import-${seed}`), `${seed}-${crypto.randomUUID()}`, crypto.randomBytes(4096));
  const goneKept = uniq('gone-kept');
  const goneDeleted = uniq('gone-deleted');
  await copy(`oci:${goneKept.dir}:latest`, 'library/gone:1');
  await copy(`oci:${goneDeleted.dir}:latest`, 'library/gone:2');
  const deleted = goneDeleted.top().digest;
  const del = await api.req('DELETE', `/v2/library/gone/manifests/${deleted}`);
  if (del.status !== 202) throw new Error(`DELETE library/gone@${deleted}: ${del.status}`);

  // A corrupt blob: bytes flipped in the layer's data file after the push.
  const broken = uniq('broken');
  await copy(`oci:${broken.dir}:latest`, 'library/broken:1');
  const brokenDoc = broken.json<ManifestDoc>(broken.top().digest);
  const layer = brokenDoc.layers![0];
  const dataFile = path.join(up.root, 'docker/registry/v2/blobs/sha256', layer.digest.slice(7, 9), layer.digest.slice(7), 'data');
  const bytes = fs.readFileSync(dataFile);
  bytes[10] ^= 0xff;
  bytes[11] ^= 0xff;
  fs.writeFileSync(dataFile, bytes);

  // A dangling layer link: the layer's data file removed after the push.
  const dangling = uniq('dangling');
  await copy(`oci:${dangling.dir}:latest`, 'library/dangling:1');
  const danglingLayer = dangling.json<ManifestDoc>(dangling.top().digest).layers![0].digest;
  fs.rmSync(path.join(up.root, 'docker/registry/v2/blobs/sha256', danglingLayer.slice(7, 9), danglingLayer.slice(7)), { recursive: true });

  // An abandoned upload with some bytes in it.
  const started = await api.req('POST', '/v2/library/tiny/blobs/uploads/');
  if (started.status !== 202) throw new Error(`POST upload: ${started.status}`);
  const location = new URL(String(started.headers.location), up.url);
  const patched = await request(location, { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream' }, body: crypto.randomBytes(1000) });
  if (patched.status !== 202) throw new Error(`PATCH upload: ${patched.status}`);
  const staleUpload = location.pathname.split('/').pop()!;

  // What Berth should get: tags, manifests (each repository's), distinct blobs (read back from the source's API).
  const refs: Source['refs'] = [];
  const manifests = new Map<string, Set<string>>();
  const blobs = new Map<string, number>();
  const walk = async (repo: string, ref: string): Promise<string> => {
    const m = await api.getManifest(repo, ref, MANIFEST_ACCEPT);
    const set = manifests.get(repo) ?? new Set<string>();
    manifests.set(repo, set);
    set.add(m.digest);
    if (isIndex(m.doc.mediaType)) for (const c of m.doc.manifests ?? []) await walk(repo, c.digest);
    else for (const b of [m.doc.config!, ...(m.doc.layers ?? [])]) blobs.set(b.digest, b.size);
    return m.digest;
  };
  for (const repo of ['library/tiny', 'library/multi', 'library/moved', 'docker/pushed', 'library/gone', 'library/broken', 'library/dangling']) {
    for (const tag of (await api.tags(repo)).sort()) refs.push({ repo, tag, digest: await walk(repo, tag) });
  }
  // The earlier targets of moved tags are manifests of their repositories too: library/moved's first
  // two, and the index skopeo wrote under the referrers tag before the exact bytes replaced it.
  for (const d of moved.slice(0, 2)) await walk('library/moved', d);
  const fallbackFirst = skopeoReferrersIndex(up, content);
  if (fallbackFirst) await walk('library/tiny', fallbackFirst);
  await walk('library/tiny', content.referrer.digest);
  // The deleted manifest's layer and config stay linked in library/gone (registry:2 keeps layer links).
  for (const b of [goneDeleted.json<ManifestDoc>(deleted).config!, ...goneDeleted.json<ManifestDoc>(deleted).layers!]) blobs.set(b.digest, b.size);
  blobs.delete(danglingLayer);
  const count = (xs: Iterable<Set<string>>) => [...xs].reduce((a, s) => a + s.size, 0);
  return {
    up,
    content,
    moved,
    pushed,
    gone: { kept: goneKept.top().digest, deleted },
    broken: { manifest: broken.top().digest, layer: layer.digest, layerSize: layer.size },
    dangling: { manifest: dangling.top().digest, layer: danglingLayer },
    unimportable: ['library/broken', 'library/dangling'],
    staleUpload,
    expected: {
      repositories: manifests.size,
      tags: refs.length,
      manifests: count(manifests.values()),
      blobs: blobs.size,
      bytes: [...blobs.values()].reduce((a, b) => a + b, 0),
      history: 2 + (fallbackFirst ? 1 : 0),
    },
    refs,
  };
}

/**
 * The index skopeo pushed under the referrers tag before fillUpstream put the exact bytes over it (skopeo
 * 1.9 drops the entries' artifactType), or null when the two are the same.
 */
function skopeoReferrersIndex(up: Upstream, content: UpstreamContent): string | null {
  const dir = path.join(up.root, 'docker/registry/v2/repositories', content.referrer.repo, '_manifests/tags', content.referrer.fallbackTag, 'index/sha256');
  const others = fs.readdirSync(dir).filter((hex) => `sha256:${hex}` !== content.referrer.fallbackIndex);
  if (others.length > 1) throw new Error(`the referrers tag pointed at ${others.length + 1} manifests`);
  return others.length ? `sha256:${others[0]}` : null;
}

export function layoutBlobs(l: Layout): string[] {
  return l.closure().map((d) => d.digest);
}

/** The tag history of repo:tag in the Berth whose filesystem root (and SQLite database) is `root`, newest first. */
export async function tagHistory(root: string, repo: string, tag: string): Promise<[string | null, string | null, string | null][]> {
  const meta = await openMetadata(loadConfig({ env: { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root } }));
  try {
    const row = await meta.db.selectFrom('repositories').select('id').where('name', '=', repo).executeTakeFirstOrThrow();
    const entries = await new TagHistoryStore(meta).list(Number(row.id), { tag, n: 10 });
    return entries.map((e) => [e.previousDigest, e.digest, e.actor]);
  } finally {
    await meta.close();
  }
}

/** `berth import ARGS` into the Berth whose filesystem root (and SQLite database) is `root`. */
export function berthImport(root: string, args: string[], env: Record<string, string> = {}): Promise<CommandRun> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'main.js'), 'import', ...args], {
    env: { ...envWithoutSettings(), REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root, REGISTRY_LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return commandRun(child);
}

/**
 * Writes one small image into a registry:2 root as distribution lays it out (blob data files, the layer
 * links, the revision link, the tag's current and index links) and returns its manifest digest.
 */
export function writeV2Image(root: string, repo: string, tag: string): string {
  const v2 = path.join(root, 'docker/registry/v2');
  const write = (file: string, data: Buffer | string) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, data);
  };
  const blob = (data: Buffer) => {
    const d = `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;
    write(path.join(v2, 'blobs/sha256', d.slice(7, 9), d.slice(7), 'data'), data);
    return { digest: d, size: data.length };
  };
  const link = (rel: string, digest: string) => write(path.join(v2, 'repositories', repo, rel, 'link'), digest);
  const layer = blob(crypto.randomBytes(512));
  const config = blob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } })));
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
      }),
    ),
  );
  for (const d of [layer.digest, config.digest]) link(`_layers/sha256/${d.slice(7)}`, d);
  link(`_manifests/revisions/sha256/${manifest.digest.slice(7)}`, manifest.digest);
  link(`_manifests/tags/${tag}/current`, manifest.digest);
  link(`_manifests/tags/${tag}/index/sha256/${manifest.digest.slice(7)}`, manifest.digest);
  return manifest.digest;
}
