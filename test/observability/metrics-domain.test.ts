// The features' metrics, with the app built as the other tests build it (metrics read from the
// app's registry; test/observability/metrics.test.ts covers the debug listener itself): the
// webhook outbox (lag, failures, dead letters), token issuance and failed logins, jobs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { backgroundOf } from '../../src/app.js';
import { pushImage, removeDir, startServer, type TestServer } from '../helpers/api-server.js';
import { TOKEN_AUTH } from '../helpers/token-client.js';
import { FAST, type HookServer, Receiver, drain, settle, startHooks } from '../webhooks/helpers.js';
import { parseExposition, total } from './metrics-helpers.js';

const METRICS_ON = { http: { debug: { addr: '127.0.0.1:0', prometheus: { enabled: true } } } };

async function samples(s: TestServer) {
  const { body } = await backgroundOf(s.app).metrics.render();
  return parseExposition(body);
}

describe('webhook outbox metrics', () => {
  let s: HookServer;
  let rx: Receiver;
  before(async () => {
    rx = await Receiver.start(() => 500);
    s = await startHooks({
      config: { ...METRICS_ON, notifications: { endpoints: [{ name: 'ops', url: rx.url }], webhooks: FAST } } as never,
    });
  });
  after(async () => {
    await s.close();
    await rx.close();
    removeDir(s.dir);
  });

  it('reports the pending deliveries and their age, failed attempts and dead letters', async () => {
    let m = await samples(s);
    assert.equal(total(m, 'berth_webhook_deliveries_pending'), 0);
    assert.equal(total(m, 'berth_webhook_oldest_pending_age_seconds'), 0);

    await pushImage(s.url, 'lib/app', { ref: 'v1' });
    s.clock.advance(90_000);
    m = await samples(s);
    // The push's events (a manifest, its blobs), one delivery each.
    const n = total(m, 'berth_webhook_deliveries_pending');
    assert.ok(n >= 1);
    const lag = total(m, 'berth_webhook_oldest_pending_age_seconds');
    assert.ok(lag >= 90 && lag < 120, `lag ${lag}`);

    // The worker's first attempts (on its own timer) fail; the deliveries stay pending for their retries.
    await drain(s);
    m = await samples(s);
    assert.ok(total(m, 'berth_webhook_delivery_attempts_total', { outcome: 'failed' }) >= n);
    assert.equal(total(m, 'berth_webhook_deliveries_pending'), n);

    await settle(s.clock, s);
    m = await samples(s);
    assert.equal(rx.requests.length, n * FAST.attempts);
    assert.equal(total(m, 'berth_webhook_delivery_attempts_total', { outcome: 'failed' }), n * (FAST.attempts - 1));
    assert.equal(total(m, 'berth_webhook_delivery_attempts_total', { outcome: 'dead' }), n);
    assert.equal(total(m, 'berth_webhook_deliveries_dead'), n);
    assert.equal(total(m, 'berth_webhook_deliveries_pending'), 0);
    assert.equal(total(m, 'berth_webhook_oldest_pending_age_seconds'), 0);
  });
});

describe('token and login metrics', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ config: { ...METRICS_ON, ...TOKEN_AUTH } as never });
  });
  after(async () => {
    await s.close();
    removeDir(s.dir);
  });

  const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
  const form = (fields: Record<string, string>) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });

  it('counts token requests by grant and outcome, and failed logins by reason', async () => {
    const scope = 'scope=repository:admin/app:pull';
    assert.equal((await fetch(`${s.url}/token?${scope}`, { headers: basic('admin', 'admin-password-1') })).status, 200);
    assert.equal((await fetch(`${s.url}/token?${scope}`)).status, 200, 'anonymous');
    assert.equal((await fetch(`${s.url}/token?${scope}`, { headers: basic('admin', 'wrong-password') })).status, 401);
    assert.equal((await fetch(`${s.url}/token`, form({ grant_type: 'password', username: 'admin', password: 'admin-password-1' }))).status, 200);
    assert.equal((await fetch(`${s.url}/token`, form({ grant_type: 'password', username: 'nobody', password: 'x' }))).status, 401);
    assert.equal((await fetch(`${s.url}/token`, form({ grant_type: 'refresh_token', refresh_token: 'not-one' }))).status, 401);
    assert.equal((await fetch(`${s.url}/token`, form({ grant_type: 'magic' }))).status, 400);
    // The failure limit (TOKEN_AUTH: 5 per user name): the rest are refused unchecked.
    let throttled = 0;
    for (let i = 0; i < 6; i++) {
      const r = await fetch(`${s.url}/token`, form({ grant_type: 'password', username: 'victim', password: `guess-${i}` }));
      if (r.status === 429) throttled++;
      else assert.equal(r.status, 401);
    }
    assert.ok(throttled >= 1);

    const m = await samples(s);
    assert.equal(total(m, 'berth_token_requests_total', { grant: 'basic', outcome: 'issued' }), 2);
    assert.equal(total(m, 'berth_token_requests_total', { grant: 'basic', outcome: 'invalid_credentials' }), 1);
    assert.equal(total(m, 'berth_token_requests_total', { grant: 'password', outcome: 'issued' }), 1);
    assert.equal(total(m, 'berth_token_requests_total', { grant: 'password', outcome: 'invalid_credentials' }), 1 + 6 - throttled);
    assert.equal(total(m, 'berth_token_requests_total', { grant: 'password', outcome: 'throttled' }), throttled);
    assert.equal(total(m, 'berth_token_requests_total', { grant: 'refresh_token', outcome: 'invalid_credentials' }), 1);
    assert.equal(total(m, 'berth_token_requests_total', { grant: 'other', outcome: 'invalid_request' }), 1);
    // Wrong passwords (GET and POST), unknown users, and the refused guesses.
    assert.equal(total(m, 'berth_login_failures_total', { reason: 'invalid_credentials' }), 2 + 6 - throttled);
    assert.equal(total(m, 'berth_login_failures_total', { reason: 'throttled' }), throttled);
    // The /token route template and the statuses made it into the request counts too.
    assert.equal(total(m, 'berth_http_requests_total', { route: '/token', method: 'POST', status: '429' }), throttled);
  });

  it('counts job runs, failures and durations by job', async () => {
    const { jobs } = backgroundOf(s.app);
    await jobs.runNow('trust-verify');
    await jobs.runNow('trust-verify');
    const m = await samples(s);
    assert.ok(total(m, 'berth_job_runs_total', { name: 'trust-verify' }) >= 2);
    assert.ok(total(m, 'berth_job_duration_seconds_count', { name: 'trust-verify' }) >= 2);
    assert.equal(total(m, 'berth_job_failures_total', { name: 'trust-verify' }), 0);
  });
});
