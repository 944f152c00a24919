// The bearer hot path in process, without sockets or a load generator: CPU time per bearer
// GET /v2/ and per bearer manifest GET through Fastify's inject(), for two or more Berth builds,
// each round in a fresh child process, rounds alternating between the builds. Less exposed to a
// busy machine than wrk (no client competing for the cores, CPU time instead of throughput).
//   BENCH_BUILDS='main=/tmp/berth-main/dist,branch=dist' node --import tsx bench/hot-path.ts
// BENCH_HOT_ROUNDS (default 6), BENCH_HOT_REQUESTS (per row and round, default 20000).
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const ROW_KEYS = ['base', 'manifest'] as const;
type Row = (typeof ROW_KEYS)[number];

async function child(dist: string, requests: number): Promise<Record<Row, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-hot-'));
  const { createApp } = await import(pathToFileURL(path.join(dist, 'app.js')).href);
  const { defaultConfig } = await import(pathToFileURL(path.join(dist, 'config', 'index.js')).href);
  const admin = 'hot-path-admin-1';
  const config = defaultConfig({
    storage: { filesystem: { rootdirectory: dir } },
    log: { level: 'silent', accesslog: { disabled: true } },
    auth: { token: { expiration: 3_600_000 }, accounts: { adminpassword: admin, bcryptcost: 4 } },
  });
  const app = await createApp(config);
  const basic = `Basic ${Buffer.from(`admin:${admin}`).toString('base64')}`;
  const token = async (scope?: string) =>
    JSON.parse((await app.inject({ url: `/token?service=berth${scope ? `&scope=${scope}` : ''}`, headers: { authorization: basic } })).body).token as string;
  const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const push = `Bearer ${await token('repository:hot/app:pull,push')}`;
  const blobs = [Buffer.from('{"architecture":"amd64","os":"linux"}'), randomBytes(512)];
  for (const b of blobs) {
    const post = await app.inject({ method: 'POST', url: '/v2/hot/app/blobs/uploads/', headers: { authorization: push } });
    const loc = new URL(String(post.headers.location), 'http://x');
    loc.searchParams.set('digest', sha(b));
    const put = await app.inject({
      method: 'PUT',
      url: loc.pathname + loc.search,
      headers: { authorization: push, 'content-type': 'application/octet-stream' },
      payload: b,
    });
    if (put.statusCode !== 201) throw new Error(`blob push: ${put.statusCode} ${put.body}`);
  }
  const mt = 'application/vnd.oci.image.manifest.v1+json';
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: mt,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(blobs[0]), size: blobs[0].length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(blobs[1]), size: blobs[1].length }],
  });
  const put = await app.inject({ method: 'PUT', url: '/v2/hot/app/manifests/latest', headers: { authorization: push, 'content-type': mt }, payload: manifest });
  if (put.statusCode !== 201) throw new Error(`manifest push: ${put.statusCode} ${put.body}`);
  const tokens: Record<Row, { url: string; auth: string }> = {
    base: { url: '/v2/', auth: `Bearer ${await token()}` },
    manifest: { url: '/v2/hot/app/manifests/latest', auth: `Bearer ${await token('repository:hot/app:pull')}` },
  };
  const out = {} as Record<Row, number>;
  for (const row of ROW_KEYS) {
    const { url, auth } = tokens[row];
    const headers = { authorization: auth, accept: mt };
    for (let i = 0; i < 2000; i++) await app.inject({ url, headers }); // warm-up (JIT, caches)
    const before = process.cpuUsage();
    for (let i = 0; i < requests; i++) {
      const r = await app.inject({ url, headers });
      if (r.statusCode !== 200) throw new Error(`${url}: ${r.statusCode}`);
    }
    const used = process.cpuUsage(before);
    out[row] = (used.user + used.system) / requests;
  }
  await app.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return out;
}

async function main(): Promise<void> {
  if (process.env.BENCH_HOT_CHILD) {
    const r = await child(process.env.BENCH_HOT_CHILD, Number(process.env.BENCH_HOT_REQUESTS || 20000));
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const builds = (process.env.BENCH_BUILDS ?? '')
    .split(',')
    .filter(Boolean)
    .map((b) => {
      const [name, dist] = b.split('=');
      if (!name || !dist || !fs.existsSync(path.join(dist, 'app.js'))) throw new Error(`BENCH_BUILDS entry "${b}": want name=path/to/dist`);
      return { name, dist: path.resolve(dist) };
    });
  const rounds = Number(process.env.BENCH_HOT_ROUNDS || 6);
  const samples = new Map(builds.map((b) => [b.name, [] as Record<Row, number>[]]));
  for (let round = 0; round < rounds; round++) {
    for (const b of round % 2 === 0 ? builds : [...builds].reverse()) {
      const stdout = execFileSync(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'hot-path.ts')], {
        env: { ...process.env, BENCH_HOT_CHILD: b.dist },
        encoding: 'utf8',
      });
      const r = JSON.parse(stdout.trim().split('\n').pop()!) as Record<Row, number>;
      samples.get(b.name)!.push(r);
      console.log(`== ${b.name} round ${round + 1}/${rounds}: GET /v2/ ${r.base.toFixed(1)} µs, manifest GET ${r.manifest.toFixed(1)} µs CPU per request`);
    }
  }
  const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor((v.length - 1) / 2)];
  const lines = [
    '# Bearer hot path in process (CPU µs per request, Fastify inject)',
    '',
    `${new Date().toISOString()} · ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'} · Node ${process.version} · ${rounds} rounds per build, a fresh process each, ${process.env.BENCH_HOT_REQUESTS || 20000} requests per row after 2,000 warm-up`,
    '',
    `| row | ${builds.map((b) => `${b.name} median (spread)`).join(' | ')} | ${builds
      .slice(1)
      .map((b) => `${b.name}/${builds[0].name}`)
      .join(' | ')} |`,
    `|---|${builds.map(() => '---:').join('|')}|${builds
      .slice(1)
      .map(() => '---:')
      .join('|')}|`,
  ];
  for (const row of ROW_KEYS) {
    const med = builds.map((b) => median(samples.get(b.name)!.map((s) => s[row])));
    const cells = builds.map((b, i) => {
      const v = samples.get(b.name)!.map((s) => s[row]);
      return `${med[i].toFixed(1)} (${Math.min(...v).toFixed(1)}–${Math.max(...v).toFixed(1)})`;
    });
    lines.push(
      `| ${row === 'base' ? 'bearer GET /v2/' : 'bearer manifest GET by tag'} | ${cells.join(' | ')} | ${builds
        .slice(1)
        .map((_, i) => `${(med[i + 1] / med[0]).toFixed(3)}×`)
        .join(' | ')} |`,
    );
  }
  const md = `${lines.join('\n')}\n`;
  console.log(`\n${md}`);
  const out = process.env.BENCH_OUT || path.join(import.meta.dirname, 'results');
  const stem = process.env.BENCH_COMPARE_NAME || 'hot-path';
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, `${stem}.md`), md);
  fs.writeFileSync(path.join(out, `${stem}.json`), `${JSON.stringify({ builds, rounds, samples: Object.fromEntries(samples) }, null, 2)}\n`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(2);
});
