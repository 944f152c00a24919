// `berth import` throughput (docs/import.md): a registry:2 storage root generated on disk (a few images
// with a large layer and many small one-layer images, spread over repositories, every image tagged) is
// imported into a fresh Berth (filesystem + SQLite) by copying and by hard-linking, next to what a user
// has without the command: `skopeo sync` from docker-registry serving that root into a running Berth.
// Each round uses fresh Berth directories; the order of the three alternates between rounds. Reports the
// median and the range of the rounds in MB/s (blob bytes: configs and layers) and blobs/s, and the ratio
// to skopeo sync. `berth import` is timed from process start to exit; skopeo sync likewise (the servers
// are started before the clock starts).
//   npm run build && node --import tsx bench/import.ts
// BENCH_IMPORT_LARGE (images with a large layer, default 4), BENCH_IMPORT_LARGE_MIB (default 256),
// BENCH_IMPORT_SMALL (small images, default 2000), BENCH_IMPORT_SMALL_KIB (default 4), BENCH_IMPORT_REPOS
// (default 20), BENCH_REPEAT (rounds, default 3); BENCH_QUICK=1 shrinks them all for a smoke run.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { config, repoRoot } from './lib/config.js';
import { median } from './lib/load.js';
import { type Server, startServer, stopServer } from './lib/servers.js';

const quick = config.quick;
const num = (name: string, full: number, small: number) => Number(process.env[name] ?? (quick ? small : full));
const settings = {
  large: num('BENCH_IMPORT_LARGE', 4, 2),
  largeMiB: num('BENCH_IMPORT_LARGE_MIB', 256, 8),
  small: num('BENCH_IMPORT_SMALL', 2000, 100),
  smallKiB: num('BENCH_IMPORT_SMALL_KIB', 4, 4),
  repos: num('BENCH_IMPORT_REPOS', 20, 4),
  rounds: num('BENCH_REPEAT', 3, 1),
};
const run = promisify(execFile);
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const main = path.join(repoRoot, 'dist', 'main.js');

/** Writes a registry:2 root: blobs/…/data, and per repository _layers, revisions and tag links. */
function generate(root: string): { blobs: number; bytes: number; repos: string[] } {
  const v2 = path.join(root, 'docker/registry/v2');
  const write = (file: string, data: Buffer | string) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, data);
  };
  const blob = (data: Buffer) => {
    const d = sha(data);
    write(path.join(v2, 'blobs/sha256', d.slice(7, 9), d.slice(7), 'data'), data);
    return { digest: d, size: data.length };
  };
  const link = (repo: string, rel: string, digest: string) => write(path.join(v2, 'repositories', repo, rel, 'link'), digest);
  fs.mkdirSync(root, { recursive: true });
  let blobs = 0;
  let bytes = 0;
  const repos = Array.from({ length: settings.repos }, (_, i) => `bench/repo-${i}`);
  const image = (i: number, layerBytes: number) => {
    const repo = repos[i % repos.length];
    // A large layer is written in pieces so memory stays small.
    const layerFile = path.join(root, '..', 'layer.tmp');
    const hash = createHash('sha256');
    const fd = fs.openSync(layerFile, 'w');
    for (let left = layerBytes; left > 0; left -= 8 << 20) {
      const piece = randomBytes(Math.min(left, 8 << 20));
      hash.update(piece);
      fs.writeSync(fd, piece);
    }
    fs.closeSync(fd);
    const layer = { digest: `sha256:${hash.digest('hex')}`, size: layerBytes };
    const layerPath = path.join(v2, 'blobs/sha256', layer.digest.slice(7, 9), layer.digest.slice(7), 'data');
    fs.mkdirSync(path.dirname(layerPath), { recursive: true });
    fs.renameSync(layerFile, layerPath);
    const cfg = blob(
      Buffer.from(
        JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] }, config: { Labels: { i: String(i) } } }),
      ),
    );
    const manifest = blob(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
        }),
      ),
    );
    for (const d of [layer.digest, cfg.digest]) link(repo, `_layers/sha256/${d.slice(7)}`, d);
    link(repo, `_manifests/revisions/sha256/${manifest.digest.slice(7)}`, manifest.digest);
    link(repo, `_manifests/tags/t${i}/current`, manifest.digest);
    link(repo, `_manifests/tags/t${i}/index/sha256/${manifest.digest.slice(7)}`, manifest.digest);
    blobs += 2;
    bytes += layer.size + cfg.size;
  };
  for (let i = 0; i < settings.large; i++) image(i, settings.largeMiB << 20);
  for (let i = 0; i < settings.small; i++) image(settings.large + i, settings.smallKiB << 10);
  return { blobs, bytes, repos };
}

/** Runs a command to its end; resolves to the wall seconds. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ seconds: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve({ seconds: (performance.now() - t0) / 1000, stdout });
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${stderr.slice(-3000)}\n${stdout.slice(-2000)}`));
    });
  });
}

async function berthImport(source: string, target: string, link: boolean, expectBlobs: number): Promise<number> {
  const env = { ...process.env, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: target, REGISTRY_LOG_LEVEL: 'warn' };
  const r = await timed(process.execPath, [main, 'import', '--json', ...(link ? ['--link'] : []), source], env);
  const report = JSON.parse(r.stdout) as { blobs: { imported: number }; manifests: { imported: number } };
  if (report.blobs.imported !== expectBlobs)
    throw new Error(`berth import${link ? ' --link' : ''} imported ${report.blobs.imported} blobs, not ${expectBlobs}`);
  return r.seconds;
}

async function skopeoSync(work: string, source: Server, target: Server, repos: string[]): Promise<number> {
  const src = source.base.replace(/^http:\/\//, '');
  const yaml = path.join(work, `sync-${Date.now()}.yaml`);
  fs.writeFileSync(yaml, [`${src}:`, '  tls-verify: false', '  images-by-tag-regex:', ...repos.map((r) => `    ${r}: ".*"`), ''].join('\n'));
  const dest = target.base.replace(/^http:\/\//, '');
  const r = await timed('skopeo', ['--insecure-policy', 'sync', '--src', 'yaml', '--dest', 'docker', '--dest-tls-verify=false', yaml, dest], process.env);
  // Without --scoped, skopeo names each image by the last part of its repository (repo-0).
  const one = await fetch(`${target.base}/v2/${repos[0].split('/').pop()}/tags/list`);
  if (one.status !== 200) throw new Error(`skopeo sync left no ${repos[0]} in Berth (${one.status})`);
  return r.seconds;
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-import-'));
// startServer's data directory for the column 'reference': the generated root, served as it is.
const source = path.join(work, 'reference', 'data');
let reference: Server | undefined;
try {
  await run('skopeo', ['--version']);
  const t0 = performance.now();
  const gen = generate(source);
  const mb = gen.bytes / 1e6;
  console.log(
    `settings: ${settings.large} images with a ${settings.largeMiB} MiB layer, ${settings.small} images with a ${settings.smallKiB} KiB layer, ` +
      `in ${settings.repos} repositories: ${gen.blobs} blobs, ${mb.toFixed(1)} MB (generated in ${((performance.now() - t0) / 1000).toFixed(1)} s); ` +
      `${settings.rounds} rounds; Berth filesystem + SQLite on ${work}; skopeo sync from docker-registry 2.8 into \`berth serve\` (workers ${config.berthWorkers || 'default'})`,
  );
  reference = await startServer('reference', 'reference', work);
  const times: Record<'copy' | 'link' | 'sync', number[]> = { copy: [], link: [], sync: [] };
  for (let round = 0; round < settings.rounds; round++) {
    const order: ('copy' | 'link' | 'sync')[] = round % 2 === 0 ? ['copy', 'link', 'sync'] : ['sync', 'link', 'copy'];
    for (const how of order) {
      const target = path.join(work, `berth-${round}-${how}`);
      fs.mkdirSync(target);
      if (how === 'sync') {
        const berth = await startServer(`berth-${round}`, 'berth', work);
        try {
          times.sync.push(await skopeoSync(work, reference, berth, gen.repos));
        } finally {
          await stopServer(berth);
          fs.rmSync(berth.dir, { recursive: true, force: true });
        }
      } else times[how].push(await berthImport(source, target, how === 'link', gen.blobs));
      fs.rmSync(target, { recursive: true, force: true });
      await run('sync', []);
    }
  }
  const row = (label: string, xs: number[]) => {
    const rate = (s: number) => mb / s;
    const s = median(xs);
    const ratio = median(times.sync) / s;
    return `| ${label} | ${rate(s).toFixed(1)} (${rate(Math.max(...xs)).toFixed(1)}–${rate(Math.min(...xs)).toFixed(1)}) | ${(gen.blobs / s).toFixed(0)} | ${s.toFixed(2)} | ${ratio.toFixed(2)}× |`;
  };
  console.log('| | MB/s median (range) | blobs/s | seconds | vs skopeo sync |');
  console.log('|---|---|---|---|---|');
  console.log(row('`berth import` (copy)', times.copy));
  console.log(row('`berth import --link`', times.link));
  console.log(row('`skopeo sync` docker-registry → Berth', times.sync));
} finally {
  if (reference) await stopServer(reference);
  if (!config.keep) fs.rmSync(work, { recursive: true, force: true });
}
