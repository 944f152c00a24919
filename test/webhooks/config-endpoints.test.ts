// registry:2's notifications.endpoints: every repository's events in the distribution
// envelope, with the configured headers, in any auth mode (here: none). They are the
// operator's own: delivered to loopback here although no allow-list is set.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pushImage, removeDir } from '../helpers/api-server.js';
import { defaultConfig, loadConfig } from '../../src/config/index.js';
import { FAST, type HookServer, Receiver, settle, startHooks } from './helpers.js';

describe('notifications.endpoints', () => {
  let s: HookServer;
  let rx: Receiver;
  before(async () => {
    rx = await Receiver.start();
    s = await startHooks({
      config: {
        notifications: {
          endpoints: [
            { name: 'ci', url: rx.url, headers: { Authorization: ['Bearer t0ken'] }, ignore: { actions: ['delete'] } },
            { name: 'off', url: `${rx.url}?off`, disabled: true },
          ],
          webhooks: FAST,
        },
      } as never,
    });
  });
  after(async () => {
    await s.close();
    await rx.close();
    removeDir(s.dir);
  });

  it('sends pushes of every repository with the configured headers, unsigned', async () => {
    const img = await pushImage(s.url, 'lib/one', { ref: 'latest' });
    await pushImage(s.url, 'other/two', { ref: 'v1' });
    const del = await fetch(`${s.url}/v2/lib/one/manifests/latest`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    await settle(s.clock, s);
    assert.equal(rx.requests.length, 2, 'deletes ignored, disabled endpoint silent');
    for (const r of rx.requests) {
      assert.equal(r.headers.authorization, 'Bearer t0ken');
      assert.equal(r.headers['content-type'], 'application/vnd.docker.distribution.events.v2+json');
      assert.equal(r.headers['berth-signature'], undefined);
      assert.equal(r.json.events[0].action, 'push');
    }
    const one = rx.requests.find((r) => r.json.events[0].target.repository === 'lib/one')!;
    assert.equal(one.json.events[0].target.digest, img.manifest.digest);
    assert.equal(one.json.events[0].target.tag, 'latest');
  });

  it('lists configured endpoints to administrators', async () => {
    // Open mode has no API; the rows exist all the same (checked through the store).
    const { openSqlite } = await import('../../src/metadata/database.js');
    const { WebhookStore } = await import('../../src/webhooks/store.js');
    const meta = await openSqlite(s.config.metadata.sqlite.path);
    try {
      const hooks = await new WebhookStore(meta.db).listAll('config');
      assert.deepEqual(
        hooks.map((h) => [h.scope, h.active, h.format, h.secret]),
        [
          ['ci', true, 'distribution', ''],
          ['off', false, 'distribution', ''],
        ],
      );
    } finally {
      await meta.close();
    }
  });

  it('parses registry:2 endpoint settings from YAML-style values', () => {
    const c = loadConfig({ env: { REGISTRY_NOTIFICATIONS_WEBHOOKS_ATTEMPTS: '4' } });
    assert.equal(c.notifications.webhooks.attempts, 4);
    assert.deepEqual(c.notifications.endpoints, []);
    assert.deepEqual(c.notifications.webhooks.allow, [], 'no exceptions by default');
  });

  it('reads the webhook allow-list from the file or the environment, and names a bad entry', () => {
    const env = loadConfig({ env: { REGISTRY_NOTIFICATIONS_WEBHOOKS_ALLOW: 'ci.internal:8080, 10.0.0.0/8,[::1]:9000' } });
    assert.deepEqual(env.notifications.webhooks.allow, ['ci.internal:8080', '10.0.0.0/8', '[::1]:9000']);
    const file = defaultConfig({ notifications: { webhooks: { allow: ['*.corp.example', 'fd00::/8'] } } } as never);
    assert.deepEqual(file.notifications.webhooks.allow, ['*.corp.example', 'fd00::/8']);
    assert.throws(
      () => loadConfig({ env: { REGISTRY_NOTIFICATIONS_WEBHOOKS_ALLOW: 'ok.lan,10.0.0.0/33' } }),
      /notifications\.webhooks\.allow\.1: "10\.0\.0\.0\/33" is not a valid CIDR/,
    );
    assert.throws(
      () => defaultConfig({ notifications: { webhooks: { denyprivate: false } } } as never),
      /denyprivate/,
      'the old switch is gone: internal addresses are always refused',
    );
  });
});
