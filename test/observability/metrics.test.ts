// Prometheus metrics on the debug listener (http.debug.addr), against a real server process:
// served there and not on the registry's port; route templates, statuses and byte counts after a
// push and pulls; repository names only when allow-listed.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { freePort, startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { request } from '../helpers/http.js';
import { pushBlob, putManifest } from '../helpers/upload.js';
import { scrape, total } from './metrics-helpers.js';

const BLOB = 'berth_http_requests_total';
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('metrics on the debug listener', () => {
  let reg: RegistryProcess;
  let metricsUrl: string;

  before(async () => {
    const debugPort = await freePort();
    reg = await startBerth({
      name: 'metrics',
      env: {
        REGISTRY_HTTP_DEBUG_ADDR: `127.0.0.1:${debugPort}`,
        REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true',
        REGISTRY_HTTP_DEBUG_PROMETHEUS_REPOSITORIES: 'shown/*',
      },
    });
    metricsUrl = `http://127.0.0.1:${debugPort}/metrics`;
  });
  after(() => reg?.dispose());

  it('serves /metrics on the debug address only: 404 on the registry port', async () => {
    const main = await request(`${reg.url}/metrics`);
    assert.equal(main.status, 404);
    const m = await scrape(metricsUrl);
    assert.equal(m.status, 200, m.text);
    assert.match(m.text, /# TYPE berth_http_requests_total counter/);
    // The process (prom-client default metrics) and one process reporting.
    assert.ok(total(m.samples, 'process_cpu_user_seconds_total') > 0);
    assert.equal(total(m.samples, 'berth_workers'), 1);
    // The registry's 404 for /metrics is counted under the fixed unmatched route, not its path.
    assert.ok(total(m.samples, BLOB, { route: 'unmatched', status: '404' }) >= 1);
    assert.equal((await request(metricsUrl.replace('/metrics', '/other'))).status, 404);
  });

  it('counts a push and pulls by route template, status and bytes', async () => {
    const layer = Buffer.alloc(300_000, 7);
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const before = await scrape(metricsUrl);
    await pushBlob(reg.url, 'shown/app', layer);
    await pushBlob(reg.url, 'shown/app', config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
      }),
    );
    assert.equal(await putManifest(reg.url, 'shown/app', 'v1', manifest, 'application/vnd.oci.image.manifest.v1+json'), 201);
    for (let i = 0; i < 3; i++) {
      const r = await request(`${reg.url}/v2/shown/app/blobs/${sha(layer)}`);
      assert.equal(r.status, 200);
      assert.equal(r.body.length, layer.length);
    }
    assert.equal((await request(`${reg.url}/v2/shown/app/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).status, 200);
    assert.equal((await request(`${reg.url}/v2/hidden/app/manifests/v1`, { method: 'HEAD' })).status, 404);

    const m = await scrape(metricsUrl);
    const delta = (name: string, labels: Record<string, string>) => total(m.samples, name, labels) - total(before.samples, name, labels);
    const repo = { repository: 'shown/app' };
    assert.equal(delta(BLOB, { ...repo, method: 'POST', route: '/v2/{name}/blobs/uploads/', status: '202' }), 2);
    assert.equal(delta(BLOB, { ...repo, method: 'PUT', route: '/v2/{name}/blobs/uploads/{uuid}', status: '201' }), 2);
    assert.equal(delta(BLOB, { ...repo, method: 'PUT', route: '/v2/{name}/manifests/{reference}', status: '201' }), 1);
    assert.equal(delta(BLOB, { ...repo, method: 'GET', route: '/v2/{name}/blobs/{digest}', status: '200' }), 3);
    assert.equal(delta(BLOB, { ...repo, method: 'GET', route: '/v2/{name}/manifests/{reference}', status: '200' }), 1);
    // Not allow-listed: "other".
    assert.equal(delta(BLOB, { repository: 'other', method: 'HEAD', route: '/v2/{name}/manifests/{reference}', status: '404' }), 1);
    // The duration histogram counts the same requests, by status class.
    assert.equal(delta('berth_http_request_duration_seconds_count', { method: 'GET', route: '/v2/{name}/blobs/{digest}', status_class: '2xx' }), 3);
    // Bytes in (the upload's body, plus headers) and out (three downloads of the layer).
    const received = delta('berth_http_received_bytes_total', { ...repo, method: 'PUT', route: '/v2/{name}/blobs/uploads/{uuid}' });
    assert.ok(received >= layer.length + config.length && received < layer.length + config.length + 4096, `received ${received}`);
    const sent = delta('berth_http_sent_bytes_total', { ...repo, method: 'GET', route: '/v2/{name}/blobs/{digest}' });
    assert.ok(sent >= 3 * layer.length && sent < 3 * layer.length + 4096, `sent ${sent}`);
    assert.ok(delta('berth_storage_written_bytes_total', { driver: 'filesystem' }) >= layer.length + config.length);
    assert.ok(delta('berth_storage_operations_total', { driver: 'filesystem', action: 'upload_commit' }) >= 2);
    assert.ok(delta('berth_storage_operations_total', { driver: 'filesystem', action: 'read' }) >= 3);
    assert.ok(delta('berth_db_queries_total', { kind: 'select' }) > 0);
    assert.ok(delta('berth_db_queries_total', { kind: 'transaction' }) > 0);
    // In flight: only the scrape itself is not counted (another listener).
    assert.equal(total(m.samples, 'berth_http_requests_in_flight'), 0);
    // The outbox gauges were read from the database at scrape time.
    assert.equal(total(m.samples, 'berth_webhook_deliveries_pending'), 0);
    assert.equal(m.samples.filter((s) => s.name === 'berth_webhook_oldest_pending_age_seconds').length, 1);
  });

  it('keeps 200 distinct repository names to a bounded number of series', async () => {
    for (let i = 0; i < 200; i++) {
      const r = await request(`${reg.url}/v2/probe-${i}/app${i}/manifests/latest`, { method: 'HEAD' });
      assert.equal(r.status, 404);
    }
    const m = await scrape(metricsUrl);
    assert.doesNotMatch(m.text, /probe-\d/);
    const series = m.samples.filter((s) => s.name === BLOB && s.labels.route === '/v2/{name}/manifests/{reference}' && s.labels.method === 'HEAD');
    assert.deepEqual(
      series.map((s) => s.labels.repository),
      ['other'],
    );
    assert.ok(series[0].value >= 200);
    // All the families together stay small.
    assert.ok(m.samples.length < 1500, `${m.samples.length} samples`);
  });
});
