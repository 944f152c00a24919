// GET /v2/ : the API version check every client starts with.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { api, expectError, serverPerFile } from '../helpers/api-server.js';

const srv = serverPerFile();

describe('base endpoint', () => {
  it('GET /v2/ answers 200 with Docker-Distribution-Api-Version: registry/2.0', async () => {
    const res = await api(srv.url, '/v2/');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    const body = await res.text();
    assert.deepEqual(JSON.parse(body), {});
  });

  it('GET /v2 (no trailing slash) answers the same', async () => {
    const res = await api(srv.url, '/v2');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    await res.arrayBuffer();
  });

  it('HEAD /v2/ answers 200 with the version header and no body', async () => {
    const res = await api(srv.url, '/v2/', { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });

  it('errors under /v2 carry the version header too', async () => {
    const res = await api(srv.url, '/v2/some/repo/manifests/latest');
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    await expectError(res, 404, 'MANIFEST_UNKNOWN');
  });

  it('an unknown /v2 endpoint answers 404 with an OCI error body', async () => {
    const res = await api(srv.url, '/v2/repo/nonsense/thing');
    await expectError(res, 404);
  });

  it('an unsupported method on a known endpoint answers 405 UNSUPPORTED', async () => {
    const res = await api(srv.url, '/v2/repo/tags/list', { method: 'DELETE' });
    await expectError(res, 405, 'UNSUPPORTED');
  });

  it('a path outside /v2 answers 404 with an OCI error body', async () => {
    const res = await api(srv.url, '/v0/_ping');
    await expectError(res, 404);
  });
});
