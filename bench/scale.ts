// Scale-out benchmark (issue 4): push/pull MB/s and manifest GET req/s for Berth and the
// reference registry, on filesystem(+SQLite) and on S3 (Ceph RGW)(+PostgreSQL), with one
// replica and with two behind nginx (deploy/nginx/berth.conf). Usage: bash bench/scale.sh
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { berthS3Env, cephRgw, dropSchema, freshSchema, referenceS3Storage, type Schema } from './lib/backends.js';
import { repoRoot } from './lib/config.js';
import { startNginx } from './lib/nginx.js';
import { curlPull, pushMonolithic } from './lib/http.js';
import { median, wrkGet } from './lib/load.js';
import { MANIFEST_ACCEPT, makeImage, pushImage } from './lib/registry.js';
import { freePort } from './lib/servers.js';

const BLOB_MIB = Number(process.env.BENCH_SCALE_MIB ?? 256);
const ROUNDS = Number(process.env.BENCH_REPEAT ?? 3);
const SECONDS = Number(process.env.BENCH_DURATION ?? 8);
const CONNECTIONS = 32;

type Kind = 'berth' | 'reference';
type Storage = 'fs' | 's3';
interface Setup {
  kind: Kind;
  storage: Storage;
  replicas: number;
}
interface Proc {
  proc: ChildProcess;
  port: number;
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-scale-'));
const procs: ChildProcess[] = [];

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 << 20 });
}

const rgw = cephRgw();

async function freshSchemaUrl(): Promise<string> {
  const schema = await freshSchema('scale');
  schemas.push(schema);
  return schema.url;
}
const schemas: Schema[] = [];

function spawnLogged(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const log = fs.openSync(path.join(work, `${name}.log`), 'a');
  const merged = { ...process.env, ...env };
  for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
  const p = spawn(cmd, args, { env: merged, stdio: ['ignore', log, log], detached: true });
  procs.push(p);
  return p;
}

async function ready(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      const r = await fetch(`${url}/v2/`);
      await r.arrayBuffer();
      if (r.status === 200) return;
    } catch {
      /* starting */
    }
    await sleep(100);
  }
  throw new Error(`${url} did not start (logs in ${work})`);
}

/** One replica; all replicas of a setup share `shared` (schema URL, S3 prefix, data dir). */
async function startReplica(s: Setup, i: number, shared: { dir: string; pgUrl?: string; prefix: string }): Promise<Proc> {
  const port = await freePort();
  const name = `${s.kind}-${s.storage}-${s.replicas}-${i}`;
  if (s.kind === 'berth') {
    const env: NodeJS.ProcessEnv = {
      REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
      REGISTRY_HTTP_WORKERS: '1',
      REGISTRY_LOG_LEVEL: 'warn',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: path.join(shared.dir, `local-${i}`),
      NODE_ENV: 'production',
    };
    if (s.storage === 's3') {
      Object.assign(env, berthS3Env(rgw, shared.prefix), { REGISTRY_METADATA: 'postgres', REGISTRY_METADATA_POSTGRES_URL: shared.pgUrl });
    } else {
      env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY = shared.dir;
    }
    const p = spawnLogged(name, process.execPath, [path.join(repoRoot, 'dist/main.js'), 'serve'], env);
    await ready(`http://127.0.0.1:${port}`);
    return { proc: p, port };
  }
  const storage = s.storage === 's3' ? referenceS3Storage(rgw, shared.prefix) : ['  filesystem:', `    rootdirectory: ${shared.dir}`];
  const cfg = path.join(work, `${name}.yml`);
  fs.writeFileSync(
    cfg,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      ...storage,
      '  delete:',
      '    enabled: true',
      '  cache:',
      '    blobdescriptor: inmemory',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '  secret: berth-scale-secret',
      '',
    ].join('\n'),
  );
  // The Go AWS SDK refuses AWS_CA_BUNDLE with the registry's custom transport; the gateway is plain HTTP anyway.
  const p = spawnLogged(name, 'docker-registry', ['serve', cfg], { AWS_CA_BUNDLE: undefined });
  await ready(`http://127.0.0.1:${port}`);
  return { proc: p, port };
}

async function measure(s: Setup, blob: Buffer, digest: string): Promise<Record<string, number>> {
  const shared = {
    dir: fs.mkdtempSync(path.join(work, 'data-')),
    pgUrl: s.kind === 'berth' && s.storage === 's3' ? await freshSchemaUrl() : undefined,
    prefix: `scale-${randomBytes(4).toString('hex')}`,
  };
  const reps: Proc[] = [];
  for (let i = 0; i < s.replicas; i++) reps.push(await startReplica(s, i, shared));
  const lb =
    s.replicas > 1
      ? await startNginx(
          fs.mkdtempSync(path.join(work, 'nginx-')),
          reps.map((r) => r.port),
        )
      : null;
  const base = lb ? lb.url : `http://127.0.0.1:${reps[0].port}`;
  const size = BLOB_MIB << 20;
  const push: number[] = [];
  const pull: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    await pushMonolithic(base, `scale/blob${r}`, blob, digest);
    push.push(size / 1e6 / ((performance.now() - t) / 1000));
    const got = await curlPull(base, `scale/blob${r}`, digest);
    if (got.bytes !== size) throw new Error('short pull');
    pull.push(size / 1e6 / got.seconds);
  }
  const img = makeImage();
  await pushImage(base, 'scale/load', 'latest', img);
  await wrkGet(`${base}/v2/scale/load/manifests/latest`, { Accept: MANIFEST_ACCEPT }, 2, CONNECTIONS);
  const gets: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const res = await wrkGet(`${base}/v2/scale/load/manifests/latest`, { Accept: MANIFEST_ACCEPT }, SECONDS, CONNECTIONS);
    if (res.errors > 0) throw new Error(`${res.errors} errors in the manifest GET run`);
    gets.push(res.rps);
  }
  for (const p of [...reps.map((x) => x.proc), ...(lb ? [lb.proc] : [])]) stop(p);
  await sleep(500);
  const out = { push: median(push), pull: median(pull), get: median(gets) };
  console.log(
    `-- ${s.kind} ${s.storage} ×${s.replicas}: push ${out.push.toFixed(0)} MB/s, pull ${out.pull.toFixed(0)} MB/s, manifest GET ${out.get.toFixed(0)} req/s`,
  );
  return out;
}

function stop(p: ChildProcess): void {
  try {
    process.kill(-p.pid!, 'SIGTERM');
  } catch {
    /* gone */
  }
}

async function main(): Promise<void> {
  const blob = randomBytes(BLOB_MIB << 20);
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
  const setups: Setup[] = [];
  for (const storage of ['fs', 's3'] as Storage[])
    for (const replicas of storage === 'fs' ? [1] : [1, 2]) for (const kind of ['berth', 'reference'] as Kind[]) setups.push({ kind, storage, replicas });
  const results = new Map<string, Record<string, number>>();
  for (const s of setups) results.set(`${s.kind}/${s.storage}/${s.replicas}`, await measure(s, blob, digest));

  const label = (st: Storage, n: number) =>
    st === 'fs' ? 'filesystem + SQLite, 1 replica' : `S3 (Ceph RGW) + PostgreSQL, ${n} replica${n > 1 ? 's behind nginx' : ''}`;
  const rows: string[] = ['| setup | metric | berth | reference | berth/reference |', '|---|---|---:|---:|---:|'];
  for (const [st, n] of [
    ['fs', 1],
    ['s3', 1],
    ['s3', 2],
  ] as [Storage, number][]) {
    const b = results.get(`berth/${st}/${n}`)!;
    const r = results.get(`reference/${st}/${n}`)!;
    for (const [k, name] of [
      ['push', `push ${BLOB_MIB} MiB (MB/s)`],
      ['pull', `pull ${BLOB_MIB} MiB (MB/s)`],
      ['get', 'manifest GET, 32 conns (req/s)'],
    ]) {
      rows.push(`| ${label(st, n)} | ${name} | ${b[k].toFixed(0)} | ${r[k].toFixed(0)} | ${(b[k] / r[k]).toFixed(2)}× |`);
    }
  }
  rows.push('', '| scaling, S3 + PostgreSQL: 2 replicas ÷ 1 | berth | reference |', '|---|---:|---:|');
  for (const [k, name] of [
    ['push', 'push'],
    ['pull', 'pull'],
    ['get', 'manifest GET'],
  ]) {
    const ratio = (kind: Kind) => (results.get(`${kind}/s3/2`)![k] / results.get(`${kind}/s3/1`)![k]).toFixed(2);
    rows.push(`| ${name} | ${ratio('berth')}× | ${ratio('reference')}× |`);
  }
  const commit = sh('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']).trim();
  const md = [
    '# Scale-out: Berth vs reference registry',
    '',
    `${new Date().toISOString()} · ${os.cpus().length} × ${os.cpus()[0]?.model} · Berth ${commit} · ${BLOB_MIB} MiB blob · medians of ${ROUNDS} rounds · wrk ${SECONDS} s × ${CONNECTIONS} connections`,
    '',
    ...rows,
    '',
    '## Notes',
    "- Each Berth replica is one process (`REGISTRY_HTTP_WORKERS=1`); the reference registry is one Go process per replica. Two replicas share the machine's 2 cores with nginx, Ceph and the load generators.",
    '- The reference uses the same storage (filesystem, or the same Ceph RGW through its s3 driver); it has no metadata database. Redirects to presigned URLs are off for both, so bytes go through the registry.',
    '- Push: POST + one streamed PUT ?digest=; pull: one GET; both from a Node client on the same machine.',
  ].join('\n');
  fs.mkdirSync(path.join(repoRoot, 'bench/results'), { recursive: true });
  fs.writeFileSync(path.join(repoRoot, 'bench/results/scale-latest.md'), `${md}\n`);
  console.log(`\n${md}\n\nwritten to bench/results/scale-latest.md`);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const p of procs) stop(p);
    for (const schema of schemas) await dropSchema(schema).catch(() => {});
    if (!process.env.BENCH_KEEP) fs.rmSync(work, { recursive: true, force: true });
  });
