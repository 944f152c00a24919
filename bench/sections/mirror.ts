// Pull-through cache: Berth with proxy.remoteurl against docker-registry in proxy mode, both mirroring
// the same upstream (a third docker-registry), each behind its own counting tap so the bytes each
// mirror fetched upstream are known. Each round pushes fresh images upstream, then each mirror (in
// alternating order) serves a cold pull, a warm pull of the same image, and N parallel cold pulls of
// another. A pull is what docker does: HEAD the manifest by tag, GET it by digest, then the config
// and layers three at a time, each blob hashed and checked against its digest.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { type Tap, startTap } from '../../test/helpers/upstream-tap.js';
import { config } from '../lib/config.js';
import { expectStatus, pullBlob, pushMonolithic, request } from '../lib/http.js';
import { MANIFEST_ACCEPT, OCI_MANIFEST, pushBlob, putManifest, runPool, sha256 } from '../lib/registry.js';
import type { Results } from '../lib/results.js';
import { type Server, startServer, stopServer } from '../lib/servers.js';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

interface BenchImage {
  repo: string;
  tag: string;
  digest: string;
  /** config + layers: digest and size */
  blobs: { digest: string; size: number }[];
  bytes: number;
}

/** A fresh image upstream: one big random layer of `bigMiB` and four 64 KiB layers. */
async function pushFreshImage(upstream: string, repo: string, bigMiB: number): Promise<BenchImage> {
  const layers = [randomBytes(bigMiB * 1024 * 1024), ...Array.from({ length: 4 }, () => randomBytes(64 * 1024))];
  const descs = [];
  for (const l of layers) {
    const digest = sha256(l);
    if (l.length > 1024 * 1024) await pushMonolithic(upstream, repo, l, digest);
    else await pushBlob(upstream, repo, l);
    descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: l.length });
  }
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: descs.map((d) => d.digest) }, config: {} }));
  await pushBlob(upstream, repo, cfg);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(cfg), size: cfg.length },
      layers: descs,
    }),
  );
  await putManifest(upstream, repo, 'latest', manifest);
  const blobs = [{ digest: sha256(cfg), size: cfg.length }, ...descs.map((d) => ({ digest: d.digest, size: d.size }))];
  return { repo, tag: 'latest', digest: sha256(manifest), blobs, bytes: blobs.reduce((a, b) => a + b.size, 0) };
}

/** A docker-style pull through `base`; returns seconds. Throws on a wrong digest or size. */
async function pullImage(base: string, img: BenchImage): Promise<number> {
  const t0 = performance.now();
  const head = await request('HEAD', `${base}/v2/${img.repo}/manifests/${img.tag}`, { headers: { Accept: MANIFEST_ACCEPT } });
  expectStatus(head, 200, `HEAD ${img.repo}:${img.tag}`);
  const digest = String(head.headers['docker-content-digest']);
  if (digest !== img.digest) throw new Error(`${img.repo}:${img.tag} resolved to ${digest}, not ${img.digest}`);
  const m = await request('GET', `${base}/v2/${img.repo}/manifests/${digest}`, { headers: { Accept: MANIFEST_ACCEPT }, read: 'hash' });
  expectStatus(m, 200, `GET manifest ${digest}`);
  if (m.sha256 !== digest) throw new Error(`manifest ${digest} arrived as ${m.sha256}`);
  await runPool(img.blobs.length, 3, async (i) => {
    const b = img.blobs[i];
    const r = await pullBlob(base, img.repo, b.digest, true).catch((e: Error) => {
      throw new Error(`${img.repo}@${b.digest} (${b.size} bytes): ${e.message}`);
    });
    if (r.sha256 !== b.digest || r.bytes !== b.size) throw new Error(`blob ${b.digest}: got ${r.bytes} bytes hashing to ${r.sha256}`);
  });
  return (performance.now() - t0) / 1000;
}

/** Bytes of blob bodies the tap passed from the upstream. */
const upstreamBlobBytes = (tap: Tap) => tap.list({ kind: 'blob', method: 'GET', upstream: true }).reduce((a, r) => a + r.bytesOut, 0);

export async function mirrorSection(workDir: string, res: Results): Promise<void> {
  const dir = path.join(workDir, 'mirror');
  const upstream = await startServer('upstream', 'reference', dir);
  const taps = new Map<string, Tap>();
  const servers: Server[] = [];
  try {
    for (const column of ['berth', 'reference'] as const) {
      const tap = await startTap(upstream.base);
      taps.set(column, tap);
      const kind = column === 'berth' && !config.selftest ? 'berth' : 'reference';
      const started = await startServer(column, kind, dir, {
        env: { REGISTRY_PROXY_REMOTEURL: tap.url },
        referenceYaml: ['proxy:', `  remoteurl: ${tap.url}`],
      }).catch((e: Error) => {
        res.errors[column].mirror = `did not start as a mirror: ${e.message.split('\n').slice(0, 3).join(' ')}`;
        return undefined;
      });
      if (started) servers.push(started);
    }
    await runMirror(servers, taps, upstream.base, res);
  } finally {
    await Promise.all([...servers, upstream].map(stopServer));
    for (const t of taps.values()) await t.close();
  }
}

async function runMirror(servers: Server[], taps: Map<string, Tap>, upstream: string, res: Results): Promise<void> {
  const mib = config.mirrorMiB;
  const parallelMiB = Math.max(1, Math.round(mib / 4));
  const n = config.mirrorClients;
  const samples = new Map<Server, { cold: number[]; warm: number[]; parallel: number[]; upstreamX: number[]; tagMs: number[] }>(
    servers.map((s) => [s, { cold: [], warm: [], parallel: [], upstreamX: [], tagMs: [] }]),
  );
  console.log(`-- mirror: ${config.repeat} rounds; cold/warm pull of ${mib} MiB + 4 × 64 KiB layers, ${n} parallel cold pulls of ${parallelMiB} MiB`);
  let first: BenchImage | undefined;
  for (let round = 0; round < config.repeat; round++) {
    const single = await pushFreshImage(upstream, `library/bench-single-${round}`, mib);
    const shared = await pushFreshImage(upstream, `library/bench-parallel-${round}`, parallelMiB);
    first ??= single;
    for (const s of round % 2 === 0 ? servers : [...servers].reverse()) {
      await res.guard(s, 'mirror', async () => {
        const m = samples.get(s)!;
        const tap = taps.get(s.column)!;
        const phase = <T>(name: string, p: Promise<T>) =>
          p.catch((e: Error) => {
            throw new Error(`${name} pull: ${e.message}`);
          });
        const cold = await phase('cold', pullImage(s.base, single));
        const warm = await phase('warm', pullImage(s.base, single));
        tap.reset();
        const t0 = performance.now();
        await phase('parallel cold', Promise.all(Array.from({ length: n }, () => pullImage(s.base, shared))));
        const parallel = (performance.now() - t0) / 1000;
        const x = upstreamBlobBytes(tap) / shared.bytes;
        m.cold.push(cold);
        m.warm.push(warm);
        m.parallel.push(parallel);
        m.upstreamX.push(x);
        console.log(
          `-- mirror: ${s.column} round ${round + 1}/${config.repeat}: cold ${((single.bytes / cold) * 1e-6).toFixed(0)} MB/s, ` +
            `warm ${((single.bytes / warm) * 1e-6).toFixed(0)} MB/s, ${n} parallel cold ${parallel.toFixed(2)} s, upstream ${x.toFixed(2)}× the image`,
        );
      });
    }
  }
  // Resolving a cached tag: 50 sequential HEADs, alternating servers in blocks of 10
  for (let block = 0; block < 5 && first; block++) {
    for (const s of block % 2 === 0 ? servers : [...servers].reverse()) {
      await res.guard(s, 'mirror', async () => {
        for (let i = 0; i < 10; i++) {
          const t0 = performance.now();
          const r = await request('HEAD', `${s.base}/v2/${first!.repo}/manifests/${first!.tag}`, { headers: { Accept: MANIFEST_ACCEPT } });
          expectStatus(r, 200, 'HEAD manifest by tag');
          samples.get(s)!.tagMs.push(performance.now() - t0);
        }
      });
    }
  }
  for (const s of servers) {
    const m = samples.get(s)!;
    res.detail(s, 'mirror', m);
    if (m.cold.length < config.repeat || !first) continue;
    res.set(s, 'mirror_cold', (first.bytes / median(m.cold)) * 1e-6);
    res.set(s, 'mirror_warm', (first.bytes / median(m.warm)) * 1e-6);
    res.set(s, 'mirror_parallel', median(m.parallel));
    res.set(s, 'mirror_upstream_x', median(m.upstreamX));
    if (m.tagMs.length) res.set(s, 'mirror_tag_ms', median(m.tagMs));
  }
  res.note(
    'Mirror: Berth (proxy.remoteurl) and docker-registry in proxy mode mirror one docker-registry upstream, each through its own counting proxy ' +
      '(which adds the same Node hop to both). A pull = HEAD by tag, GET manifest by digest, config and layers 3 at a time, every blob hashed; ' +
      'fresh images are pushed upstream every round. "upstream bytes" = blob bytes fetched upstream during the parallel cold pulls ÷ the image size ' +
      '(1 = each blob fetched once).',
  );
}
