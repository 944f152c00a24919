// Metrics of real server processes: a cluster primary serves the sum of its workers' registries;
// a scrape while the database does not answer neither hangs nor fails; configuration mistakes
// stop the start with a message naming the key.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort, startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { request } from '../helpers/http.js';
import { freshSchema, type PgSchema } from '../helpers/postgres.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { scrape, total } from './metrics-helpers.js';

const MAIN = path.join(REPO_ROOT, 'dist', 'main.js');

function metricsEnv(debugPort: number): Record<string, string> {
  return { REGISTRY_HTTP_DEBUG_ADDR: `127.0.0.1:${debugPort}`, REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true' };
}

describe('metrics of a cluster (http.workers: 2)', () => {
  let reg: RegistryProcess | undefined;
  after(() => reg?.dispose());

  it("serves on the primary's debug address the sum of both workers' metrics", async () => {
    const debugPort = await freePort();
    reg = await startBerth({ name: 'metrics-cluster', env: { ...metricsEnv(debugPort), REGISTRY_HTTP_WORKERS: '2' } });
    const url = `http://127.0.0.1:${debugPort}/metrics`;
    // The registry answers once one worker listens; the other may still be starting.
    const deadline = Date.now() + 60_000;
    while (total((await scrape(url)).samples, 'berth_workers') < 2) {
      assert.ok(Date.now() < deadline, 'the second worker never joined');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // Each request on its own connection: the primary hands connections to the workers in turn.
    const n = 40;
    for (let i = 0; i < n; i++) assert.equal((await request(`${reg.url}/v2/cluster/app/tags/list`)).status, 404);
    const m = await scrape(url);
    assert.equal(m.status, 200, m.text);
    assert.equal(total(m.samples, 'berth_workers'), 2, 'both workers answered the primary');
    assert.equal(total(m.samples, 'berth_http_requests_total', { route: '/v2/{name}/tags/list', status: '404' }), n);
    assert.equal(total(m.samples, 'berth_http_request_duration_seconds_count', { route: '/v2/{name}/tags/list' }), n);
    // Not on the workers' port.
    assert.equal((await request(`${reg.url}/metrics`)).status, 404);
  });
});

/** A TCP proxy to PostgreSQL that can turn into a black hole: connections accepted, nothing answered. */
async function blackHoleProxy(target: { host: string; port: number }) {
  let hole = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    if (hole) return;
    const upstream = net.connect(target.port, target.host);
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    /** Cuts every connection and answers nothing from now on. */
    cut() {
      hole = true;
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('a scrape while PostgreSQL does not answer', () => {
  let reg: RegistryProcess | undefined;
  let schema: PgSchema | undefined;
  let proxy: Awaited<ReturnType<typeof blackHoleProxy>> | undefined;
  after(async () => {
    await reg?.dispose();
    await proxy?.close();
    await schema?.drop();
  });

  it('answers 200 within the collection timeout, with the database gauges unknown (NaN), and counts the failure', async () => {
    schema = await freshSchema('metrics');
    const pg = new URL(schema.url);
    proxy = await blackHoleProxy({ host: pg.hostname, port: Number(pg.port || 5432) });
    pg.host = `127.0.0.1:${proxy.port}`;
    const debugPort = await freePort();
    reg = await startBerth({
      name: 'metrics-pg-outage',
      env: { ...metricsEnv(debugPort), REGISTRY_METADATA: 'postgres', REGISTRY_METADATA_POSTGRES_URL: pg.href, REGISTRY_METADATA_POSTGRES_POOLSIZE: '3' },
    });
    const url = `http://127.0.0.1:${debugPort}/metrics`;
    let m = await scrape(url);
    assert.equal(m.status, 200);
    assert.equal(total(m.samples, 'berth_webhook_deliveries_pending'), 0);
    assert.ok(m.samples.some((s) => s.name === 'berth_webhook_deliveries_pending'));
    assert.ok(total(m.samples, 'berth_db_pool_connections') >= 1, 'pool gauges');
    assert.equal(total(m.samples, 'berth_metrics_collect_failures_total', { collector: 'database' }), 0);

    proxy.cut();
    for (let i = 1; i <= 2; i++) {
      const started = Date.now();
      m = await scrape(url);
      const took = Date.now() - started;
      assert.equal(m.status, 200, m.text);
      assert.ok(took < 3000, `scrape took ${took} ms`);
      // Unknown: neither a backlog of 0 nor the last figure.
      assert.ok(Number.isNaN(total(m.samples, 'berth_webhook_deliveries_pending')), 'no stale figure');
      assert.ok(Number.isNaN(total(m.samples, 'berth_webhook_oldest_pending_age_seconds')));
      assert.equal(total(m.samples, 'berth_metrics_collect_failures_total', { collector: 'database' }), i);
      // The process's own families are all there.
      assert.ok(total(m.samples, 'process_cpu_user_seconds_total') > 0);
    }
  });
});

describe('metrics configuration errors', () => {
  // A fresh data directory per run: a database left by an earlier build must not decide the outcome.
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-metrics-config-'));
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  function serve(env: Record<string, string>): { status: number | null; stderr: string } {
    const r = spawnSync(process.execPath, [MAIN, 'serve'], {
      env: { PATH: process.env.PATH ?? '', REGISTRY_HTTP_ADDR: '127.0.0.1:0', REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: dataDir, ...env },
      encoding: 'utf8',
      timeout: 20_000,
    });
    return { status: r.status, stderr: r.stderr };
  }

  it('names http.debug.addr when it is not an address', () => {
    const r = serve({ REGISTRY_HTTP_DEBUG_ADDR: 'localhost', REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /http\.debug\.addr: expected host:port or :port, got "localhost" \(from REGISTRY_HTTP_DEBUG_ADDR\)/);
  });

  it('refuses metrics without a debug address, and a debug address that is the main one', () => {
    let r = serve({ REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /http\.debug\.prometheus\.enabled: needs http\.debug\.addr/);
    r = serve({ REGISTRY_HTTP_ADDR: ':5999', REGISTRY_HTTP_DEBUG_ADDR: ':5999', REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /http\.debug\.addr: must differ from http\.addr/);
    r = serve({ REGISTRY_HTTP_DEBUG_ADDR: ':5998', REGISTRY_HTTP_DEBUG_PROMETHEUS_PATH: 'metrics' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /http\.debug\.prometheus\.path: expected a path starting with "\/"/);
  });

  it('says so when the debug address is taken', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const r = serve({ REGISTRY_HTTP_DEBUG_ADDR: `127.0.0.1:${port}`, REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true' });
      assert.equal(r.status, 2);
      assert.match(r.stderr, new RegExp(`http\\.debug\\.addr: cannot listen on 127\\.0\\.0\\.1:${port}: address already in use`));
    } finally {
      taken.close();
    }
  });
});

describe('metrics off (the default)', () => {
  /** Starts `berth serve` with a module hook that records which specifiers it resolves; returns those. */
  async function resolvedBy(env: Record<string, string>): Promise<string[]> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-metrics-off-'));
    const record = path.join(dir, 'resolved.txt');
    fs.writeFileSync(
      path.join(dir, 'hooks.mjs'),
      `import fs from 'node:fs';\nexport async function resolve(specifier, context, next) { fs.appendFileSync(${JSON.stringify(record)}, specifier + '\\n'); return next(specifier, context); }\n`,
    );
    fs.writeFileSync(path.join(dir, 'register.mjs'), "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n");
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', path.join(dir, 'register.mjs'), MAIN, 'serve'], {
      env: {
        PATH: process.env.PATH ?? '',
        REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: dir,
        REGISTRY_LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: 'ignore',
    });
    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const up = await request(`http://127.0.0.1:${port}/v2/`, { timeoutMs: 2000 }).then(
          (r) => r.status === 200,
          () => false,
        );
        if (up) break;
        assert.ok(Date.now() < deadline && child.exitCode === null, 'the server did not start');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      return fs.readFileSync(record, 'utf8').split('\n');
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  it('never loads prom-client unless metrics are on', async () => {
    const off = await resolvedBy({});
    assert.ok(
      off.some((s) => s.endsWith('app.js')),
      'the hook saw the app load',
    );
    assert.ok(!off.includes('prom-client'), 'prom-client loaded with metrics off');
    const debugPort = await freePort();
    const on = await resolvedBy(metricsEnv(debugPort));
    assert.ok(on.includes('prom-client'));
  });
});
