// OpenTelemetry traces end to end: a real `berth serve` process exporting OTLP/HTTP (JSON) to a receiver this
// test runs (test/helpers/otlp-receiver.ts), with a webhook receiver and a small upstream registry that record
// the `traceparent` they get. Also: the SDK is not loaded (and nothing is sent) when tracing is off, a bad
// OTEL_* value stops the start, and with two workers each worker exports, flushing on SIGTERM.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { commandRun, envWithoutSettings, type RegistryProcess, startBerth } from '../helpers/berth-process.js';
import { pushImage } from '../helpers/api-server.js';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { REPO_ROOT, tempDir } from '../helpers/shared.js';

const MODULE_LOG_HOOK = path.join(REPO_ROOT, 'test', 'observability', 'tracing-module-log.mjs');
const SERVER = 2;
const CLIENT = 3;
const ERROR = 2;

/** A fresh W3C trace context: `traceparent` and its ids. */
function traceContext(): { traceparent: string; traceId: string; parentId: string } {
  const traceId = randomBytes(16).toString('hex');
  const parentId = randomBytes(8).toString('hex');
  return { traceparent: `00-${traceId}-${parentId}-01`, traceId, parentId };
}

function parseTraceparent(v: string | string[] | undefined): { traceId: string; spanId: string } {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/.exec(String(v ?? ''));
  assert.ok(m, `a W3C traceparent, got ${v}`);
  return { traceId: m[1], spanId: m[2] };
}

/** An HTTP server recording each request's method, path and headers, answering with `answer`. */
async function recorder(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const seen: { method: string; url: string; headers: http.IncomingHttpHeaders }[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => answer(req, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A tiny upstream registry holding one image, library/tiny:latest. */
function upstreamImage() {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
  const layer = randomBytes(100);
  const d = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d(layer), size: layer.length }],
    }),
  );
  const blobs = new Map([
    [d(config), config],
    [d(layer), layer],
  ]);
  return {
    manifestDigest: d(manifest),
    answer(req: http.IncomingMessage, res: http.ServerResponse) {
      const p = (req.url ?? '').split('?')[0];
      const head = req.method === 'HEAD';
      const send = (status: number, type: string, body: Buffer, extra: Record<string, string> = {}) => {
        res.writeHead(status, { 'Content-Type': type, 'Content-Length': body.length, 'Docker-Distribution-Api-Version': 'registry/2.0', ...extra });
        res.end(head ? undefined : body);
      };
      if (p === '/v2/' || p === '/v2') return send(200, 'application/json', Buffer.from('{}'));
      if (p.startsWith('/v2/library/broken/')) return send(500, 'text/plain', Buffer.from('upstream failure'));
      if (p === '/v2/library/tiny/manifests/latest' || p === `/v2/library/tiny/manifests/${d(manifest)}`) {
        return send(200, 'application/vnd.oci.image.manifest.v1+json', manifest, { 'Docker-Content-Digest': d(manifest) });
      }
      const blob = /^\/v2\/library\/tiny\/blobs\/(sha256:[0-9a-f]{64})$/.exec(p);
      if (blob && blobs.has(blob[1])) return send(200, 'application/octet-stream', blobs.get(blob[1])!, { 'Docker-Content-Digest': blob[1] });
      send(404, 'application/json', Buffer.from('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}'));
    },
  };
}

function otelEnv(rx: OtlpReceiver, moduleLog: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: rx.url,
    OTEL_SERVICE_NAME: 'berth-under-test',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test',
    OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-token=c0llect0r',
    // Batches every 100 ms, so the tests wait for spans briefly.
    OTEL_BSP_SCHEDULE_DELAY: '100',
    NODE_OPTIONS: `--import ${MODULE_LOG_HOOK}`,
    BERTH_TEST_MODULE_LOG: moduleLog,
    ...extra,
  };
}

function modulesLoaded(file: string): Set<string> {
  if (!fs.existsSync(file)) return new Set();
  return new Set(
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ')[1]),
  );
}

/** GET on a connection of its own (fetch would reuse one), resolving to the status. */
function getOnNewConnection(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

const childrenOf = (all: ReceivedSpan[], parent: ReceivedSpan) => all.filter((s) => s.traceId === parent.traceId && s.parentSpanId === parent.spanId);

describe('traces exported over OTLP/HTTP', () => {
  let rx: OtlpReceiver;
  let hooks: Awaited<ReturnType<typeof recorder>>;
  let upstream: Awaited<ReturnType<typeof recorder>>;
  let image: ReturnType<typeof upstreamImage>;
  let berth: RegistryProcess;
  let dir: string;
  let moduleLog: string;

  before(async () => {
    rx = await startOtlpReceiver();
    hooks = await recorder((_req, res) => res.writeHead(200).end('ok'));
    image = upstreamImage();
    upstream = await recorder((req, res) => image.answer(req, res));
    dir = tempDir('berth-tracing-');
    moduleLog = path.join(dir, 'modules.log');
    const config = path.join(dir, 'config.yml');
    fs.writeFileSync(
      config,
      [
        'mirror:',
        '  upstreams:',
        '    up:',
        `      url: ${upstream.url}`,
        'notifications:',
        '  endpoints:',
        '    - name: rx',
        `      url: ${hooks.url}/hook?token=hook-secret`,
        '',
      ].join('\n'),
    );
    berth = await startBerth({ name: 'tracing', env: { ...otelEnv(rx, moduleLog), BERTH_CONFIG: config } });
  });
  after(async () => {
    await berth?.dispose();
    await rx?.close();
    await hooks?.close();
    await upstream?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loads the SDK when OTEL_* turn tracing on (the check the tracing-off tests rely on)', () => {
    const loaded = modulesLoaded(moduleLog);
    assert.ok(loaded.has('@opentelemetry/sdk-trace-node'), `modules: ${[...loaded].join(', ')}`);
    assert.ok(loaded.has('@opentelemetry/exporter-trace-otlp-http'));
  });

  it('gives a request with a traceparent a server span in that trace, with database and storage spans under it', async () => {
    const t = traceContext();
    const blob = randomBytes(300);
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const r = await fetch(`${berth.url}/v2/team/app/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      headers: { traceparent: t.traceparent, tracestate: 'vendor=x', 'Content-Type': 'application/octet-stream' },
      body: blob,
    });
    assert.equal(r.status, 201, await r.text());
    const [server] = await rx.waitFor(
      (all) => all.filter((s) => s.traceId === t.traceId && s.kind === SERVER),
      (found) => found.length === 1,
    );
    assert.equal(server.parentSpanId, t.parentId, 'the caller’s span is the parent');
    assert.equal(server.name, 'POST /v2/{name}/blobs/uploads/');
    assert.equal(server.attributes['http.route'], '/v2/{name}/blobs/uploads/');
    assert.equal(server.attributes['http.request.method'], 'POST');
    assert.equal(server.attributes['http.response.status_code'], 201);
    assert.equal(server.attributes['url.path'], '/v2/team/app/blobs/uploads/', 'no query string');
    assert.notEqual(server.status, ERROR);
    assert.equal(server.resource['service.name'], 'berth-under-test');
    assert.equal(server.resource['deployment.environment.name'], 'test');
    assert.equal(server.scope, 'berth');

    // The children end before the server span, so they are in the same or an earlier batch.
    const children = await rx.waitFor(
      (all) => childrenOf(all, server),
      (found) => found.some((s) => s.attributes['db.system.name']) && found.some((s) => s.attributes['berth.storage.driver']),
    );
    const db = children.filter((s) => s.attributes['db.system.name'] === 'sqlite');
    assert.ok(db.length > 0);
    for (const s of db) {
      assert.equal(s.kind, CLIENT);
      assert.match(String(s.attributes['db.operation.name']), /^[A-Z]+$/);
      assert.match(s.name, /^[A-Z]+( \w+)?$/, 'statement kind and table, no SQL text or values');
    }
    assert.ok(
      db.some((s) => s.name === 'INSERT blobs' || s.name.startsWith('INSERT')),
      db.map((s) => s.name).join(', '),
    );
    const storage = children.filter((s) => s.attributes['berth.storage.driver'] === 'filesystem');
    assert.ok(
      storage.some((s) => s.name === 'storage.uploadCommit'),
      storage.map((s) => s.name).join(', '),
    );
    for (const s of [...db, ...storage]) {
      assert.ok(s.startNs >= server.startNs && s.endNs <= server.endNs, `${s.name} lies within the request`);
    }
    // Nothing exported carries the query string or its digest parameter.
    assert.ok(!JSON.stringify(children.map((s) => s.attributes)).includes('digest='));
    // The exporter sends the headers OTEL_EXPORTER_OTLP_HEADERS names, as JSON.
    assert.equal(rx.requests[0].headers['x-collector-token'], 'c0llect0r');
    assert.equal(rx.refused, 0);
  });

  it('names a request no route takes by its method only, and does not count its 404 as an error', async () => {
    const t = traceContext();
    const r = await fetch(`${berth.url}/no/such/path?token=abc`, { headers: { traceparent: t.traceparent } });
    assert.equal(r.status, 404);
    const [server] = await rx.waitFor(
      (all) => all.filter((s) => s.traceId === t.traceId && s.kind === SERVER),
      (found) => found.length === 1,
    );
    assert.equal(server.name, 'GET');
    assert.equal(server.attributes['http.route'], undefined);
    assert.equal(server.attributes['url.path'], '/no/such/path');
    assert.notEqual(server.status, ERROR, 'a 404 is the client’s');
  });

  it('makes no spans for health probes', async () => {
    const probe = traceContext();
    for (const p of ['/livez', '/readyz', '/healthz']) {
      const r = await fetch(`${berth.url}${p}`, { headers: { traceparent: probe.traceparent } });
      assert.equal(r.status, 200, p);
    }
    // A request answered after the probes: had they made spans, they would be in its batch or an earlier one.
    const marker = traceContext();
    assert.equal((await fetch(`${berth.url}/v2/`, { headers: { traceparent: marker.traceparent } })).status, 200);
    await rx.waitFor(
      (all) => all.filter((s) => s.traceId === marker.traceId),
      (found) => found.length > 0,
    );
    assert.deepEqual(
      rx.spans.filter((s) => s.traceId === probe.traceId).map((s) => s.name),
      [],
    );
  });

  it('sends a traceparent with each webhook delivery, of the delivery’s own exported client span', async () => {
    const before = hooks.seen.length;
    await pushImage(berth.url, 'team/hooked', { ref: 'v1' });
    const deadline = Date.now() + 20_000;
    while (hooks.seen.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const delivery = hooks.seen[before];
    assert.ok(delivery, 'the webhook was delivered');
    const tp = parseTraceparent(delivery.headers.traceparent);
    const [span] = await rx.waitFor(
      (all) => all.filter((s) => s.spanId === tp.spanId),
      (found) => found.length === 1,
    );
    assert.equal(span.traceId, tp.traceId);
    assert.equal(span.kind, CLIENT);
    assert.equal(span.name, 'POST');
    assert.equal(span.parentSpanId, '', 'a delivery is a trace of its own');
    assert.equal(span.attributes['http.response.status_code'], 200);
    assert.equal(span.attributes['url.full'], `${hooks.url}/hook`, 'no query (it may hold a token)');
  });

  it('sends a traceparent of the request’s trace to the upstream of a mirrored name', async () => {
    const t = traceContext();
    const before = upstream.seen.length;
    const r = await fetch(`${berth.url}/v2/up/library/tiny/manifests/latest`, {
      headers: { traceparent: t.traceparent, Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(r.status, 200, await r.text());
    assert.equal(r.headers.get('docker-content-digest'), image.manifestDigest);
    const calls = upstream.seen.slice(before);
    assert.ok(calls.length > 0, 'the upstream was asked');
    const ids = calls.map((c) => parseTraceparent(c.headers.traceparent));
    for (const id of ids) assert.equal(id.traceId, t.traceId, 'every upstream call is in the request’s trace');
    const spans = await rx.waitFor(
      (all) => all.filter((s) => s.traceId === t.traceId),
      (found) => found.some((s) => s.kind === SERVER) && ids.every((id) => found.some((s) => s.spanId === id.spanId)),
    );
    const server = spans.find((s) => s.kind === SERVER)!;
    assert.equal(server.name, 'GET /v2/{name}/manifests/{reference}');
    assert.equal(server.parentSpanId, t.parentId);
    for (const id of ids) {
      const client = spans.find((s) => s.spanId === id.spanId)!;
      assert.equal(client.kind, CLIENT);
      assert.equal(client.parentSpanId, server.spanId, 'the upstream call hangs from the request');
      assert.equal(client.attributes['server.address'], '127.0.0.1');
    }
  });

  it('marks a request answered with a 5xx, and the upstream call that failed, as errors', async () => {
    const t = traceContext();
    const r = await fetch(`${berth.url}/v2/up/library/broken/manifests/latest`, { headers: { traceparent: t.traceparent } });
    assert.ok(r.status >= 500, `a 5xx, got ${r.status}`);
    const spans = await rx.waitFor(
      (all) => all.filter((s) => s.traceId === t.traceId),
      (found) => found.some((s) => s.kind === SERVER) && found.some((s) => s.kind === CLIENT),
    );
    const server = spans.find((s) => s.kind === SERVER)!;
    assert.equal(server.status, ERROR);
    assert.equal(server.attributes['http.response.status_code'], r.status);
    const client = spans.find((s) => s.kind === CLIENT && s.attributes['http.response.status_code'] === 500);
    assert.ok(client, 'the upstream call and its 500');
    assert.equal(client.status, ERROR);
  });
});

describe('tracing off', () => {
  it('loads no SDK module and exports nothing without OTEL_* settings, or with OTEL_SDK_DISABLED=true', async () => {
    const rx = await startOtlpReceiver();
    const dir = tempDir('berth-tracing-off-');
    try {
      for (const [name, env] of [
        ['no OTEL_*', {}],
        ['OTEL_SDK_DISABLED=true', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: rx.url, OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' }],
      ] as const) {
        const moduleLog = path.join(dir, `${name.replace(/\W/g, '')}.log`);
        const env2: Record<string, string> = { ...env, NODE_OPTIONS: `--import ${MODULE_LOG_HOOK}`, BERTH_TEST_MODULE_LOG: moduleLog };
        // The test runner's own environment must not turn tracing on.
        for (const k of Object.keys(process.env)) if (k.startsWith('OTEL_') && !(k in env2)) env2[k] = '';
        const b = await startBerth({ name: `tracing-off-${name}`, env: env2 });
        try {
          const t = traceContext();
          const r = await fetch(`${b.url}/v2/`, { headers: { traceparent: t.traceparent } });
          assert.equal(r.status, 200);
          await pushImage(b.url, 'team/off', { ref: 'v1' });
        } finally {
          // Tracing on would flush at SIGTERM: after the exit, whatever was going to arrive has.
          await b.dispose();
        }
        const loaded = modulesLoaded(moduleLog);
        assert.deepEqual([...loaded], ['@opentelemetry/api'], `${name}: only the API is imported`);
      }
      assert.equal(rx.requests.length, 0, 'nothing was exported');
    } finally {
      await rx.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start with an OTEL_* value it cannot honour, naming the variable', async () => {
    for (const [env, expected] of [
      [{ OTEL_TRACES_EXPORTER: 'zipkin' }, /OTEL_TRACES_EXPORTER=zipkin is not supported/],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, /OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported/],
      [{ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }, /OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1/],
    ] as const) {
      const dir = tempDir('berth-tracing-bad-');
      try {
        const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'main.js'), 'serve'], {
          env: {
            ...envWithoutSettings(),
            ...env,
            REGISTRY_HTTP_ADDR: '127.0.0.1:0',
            REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: dir,
            REGISTRY_LOG_LEVEL: 'warn',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        // A server that starts anyway would run for ever: the test fails instead of hanging.
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        const run = await commandRun(child).finally(() => clearTimeout(timer));
        assert.equal(run.status, 2, `${JSON.stringify(env)}: exit code 2 (configuration error); stderr: ${run.stderr}`);
        assert.match(run.stderr, expected);
        assert.equal(run.stderr.trim().split('\n').length, 1, 'one line, no stack');
        // `berth config verify` finds the same mistake.
        const file = path.join(dir, 'config.yml');
        fs.writeFileSync(file, 'version: 0.1\n');
        const verify = await commandRun(
          spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'main.js'), 'config', 'verify', file], {
            env: { ...envWithoutSettings(), ...env },
            stdio: ['ignore', 'pipe', 'pipe'],
          }),
        );
        assert.equal(verify.status, 1, `config verify: ${verify.stdout}${verify.stderr}`);
        assert.match(verify.stderr, expected);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});

describe('tracing with http.workers: 2', () => {
  it('exports from each worker and flushes the queued spans at SIGTERM', async () => {
    const rx = await startOtlpReceiver();
    const dir = tempDir('berth-tracing-workers-');
    const b = await startBerth({
      name: 'tracing-workers',
      env: {
        ...otelEnv(rx, path.join(dir, 'modules.log')),
        // Batches would wait a minute: what arrives after the stop was flushed by it.
        OTEL_BSP_SCHEDULE_DELAY: '60000',
        REGISTRY_HTTP_WORKERS: '2',
        REGISTRY_LOG_LEVEL: 'info',
      },
    });
    try {
      // Both workers listening (each logs its start), so connections go to both.
      const deadline = Date.now() + 30_000;
      while ((fs.readFileSync(b.logFile, 'utf8').match(/Berth serving/g) ?? []).length < 2) {
        assert.ok(Date.now() < deadline, `two workers did not start: ${b.logTail(20)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const traces: string[] = [];
      for (let i = 0; i < 6; i++) {
        const t = traceContext();
        traces.push(t.traceId);
        // A new connection each time: the primary hands connections to the workers in turn.
        assert.equal(await getOnNewConnection(`${b.url}/v2/`, { traceparent: t.traceparent }), 200);
      }
      assert.equal(rx.spans.filter((s) => traces.includes(s.traceId)).length, 0, 'nothing exported before the stop');
      await b.stop();
      const servers = await rx.waitFor(
        (all) => all.filter((s) => traces.includes(s.traceId) && s.kind === SERVER),
        (found) => found.length === traces.length,
        15_000,
      );
      const pids = new Set(servers.map((s) => s.resource['process.pid']));
      assert.ok(pids.size >= 2, `spans from ${pids.size} worker(s)`);
    } finally {
      await b.dispose();
      await rx.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
