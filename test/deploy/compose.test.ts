// deploy/compose.yaml and the nginx examples, checked the way `docker compose config` and a reviewer
// would: health checks, start order on health, secrets from files, pinned images, the replicas' config
// loads as Berth reads it, and nginx settings that let pushes through.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import YAML from 'yaml';
import { loadConfig } from '../../src/config/index.js';
import { type Obj, readText } from './manifests.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'berth-compose-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function compose(): Obj {
  // Compose merges `<<: *anchor` keys (YAML 1.1 merge).
  return YAML.parse(readText('deploy/compose.yaml'), { merge: true }) as Obj;
}
const services = () => compose().services as Record<string, Obj>;
/** Services that run until stopped (not one-shot setup steps). */
const longRunning = () => Object.entries(services()).filter(([, s]) => s.restart !== 'no' && s.entrypoint === undefined);

describe('deploy/compose.yaml', () => {
  it('every long-running service has a health check; one-shot steps have none', () => {
    for (const [name, s] of longRunning()) {
      assert.ok(Array.isArray(s.healthcheck?.test) && s.healthcheck.test[0] === 'CMD', `${name}: healthcheck`);
      assert.ok(!s.healthcheck.disable, name);
    }
    assert.ok(
      longRunning().length >= 5,
      longRunning()
        .map(([n]) => n)
        .join(', '),
    );
  });

  it('every dependency waits for health, or for a one-shot step to succeed', () => {
    const all = services();
    for (const [name, s] of Object.entries(all)) {
      if (!s.depends_on) continue;
      assert.ok(!Array.isArray(s.depends_on), `${name}: depends_on with conditions, not a list`);
      for (const [dep, d] of Object.entries(s.depends_on as Record<string, Obj>)) {
        assert.ok(all[dep], `${name} depends on ${dep}, which exists`);
        const oneShot = all[dep].restart === 'no' || all[dep].entrypoint !== undefined;
        assert.equal(d.condition, oneShot ? 'service_completed_successfully' : 'service_healthy', `${name} → ${dep}`);
      }
    }
    const deps = Object.keys(services()['berth-1'].depends_on);
    assert.deepEqual(deps.sort(), ['migrate', 'minio-setup', 'postgres'], 'replicas start after the database, the bucket and the migrations');
    assert.deepEqual(Object.keys(services().nginx.depends_on).sort(), ['berth-1', 'berth-2']);
  });

  it('secrets come from files: no literal secret in any environment, every secret used is declared as a file', () => {
    const c = compose();
    const declared = c.secrets as Record<string, Obj>;
    for (const [name, s] of Object.entries(declared)) assert.match(s.file, /^\.\/secrets\/[a-z-]+$/, name);
    for (const [name, s] of Object.entries(services())) {
      for (const [k, v] of Object.entries((s.environment ?? {}) as Record<string, string>)) {
        if (/PASSWORD|SECRET|ACCESSKEY|ROOT_USER|POSTGRES_URL/.test(k)) {
          assert.match(k, /_FILE$/, `${name}: ${k} is read from a file`);
          const secret = /^\/run\/secrets\/([a-z-]+)$/.exec(v)?.[1];
          assert.ok(secret && (s.secrets as string[]).includes(secret), `${name}: ${k} names a secret the service mounts (${v})`);
        }
        assert.ok(!/\$\{/.test(String(v)), `${name}: ${k} takes nothing from the shell environment`);
      }
      for (const used of (s.secrets ?? []) as string[]) assert.ok(declared[used], `${name}: secret ${used} is declared`);
    }
  });

  it('every image is pinned to an exact release (MinIO included)', () => {
    for (const [name, s] of Object.entries(services())) {
      if (s.build) continue;
      assert.match(s.image, /:(\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?|RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ)$/, `${name}: ${s.image}`);
    }
  });

  it("the replicas' environment is a valid Berth configuration that trusts only nginx and runs no migrations itself", () => {
    const s = services()['berth-1'];
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.environment as Record<string, string>)) {
      if (k.endsWith('_FILE')) {
        const file = path.join(tmp, path.basename(v));
        writeFileSync(file, k.includes('POSTGRES_URL') ? 'postgres://berth:pw@postgres:5432/berth\n' : 'a-secret-value-long-enough-1234\n');
        env[k] = file;
      } else env[k] = String(v);
    }
    const config = loadConfig({ env });
    const nginxIp = services().nginx.networks.default.ipv4_address;
    assert.equal(config.http.trustproxy, nginxIp, 'X-Forwarded-For is trusted from nginx alone');
    assert.equal(config.metadata.automigrate, false);
    assert.equal(config.metadata.postgres?.url, 'postgres://berth:pw@postgres:5432/berth');
    assert.ok(s.stop_grace_period && Number.parseInt(s.stop_grace_period, 10) * 1000 > config.http.draintimeout, 'stop_grace_period exceeds the drain');
    assert.deepEqual(services().migrate.command, ['migrate']);
    assert.equal(s.read_only, true);
  });
});

describe('deploy/nginx/*.conf', () => {
  for (const file of ['deploy/nginx/berth.conf', 'deploy/nginx/compose.conf']) {
    it(`${file} lets pushes through: no body limit, no request buffering, long timeouts, HTTP/1.1 upstream`, () => {
      const conf = readText(file).replace(/#.*$/gm, '');
      const value = (directive: string) => new RegExp(`^\\s*${directive}\\s+([^;]+);`, 'm').exec(conf)?.[1];
      assert.equal(value('client_max_body_size'), '0');
      assert.equal(value('proxy_request_buffering'), 'off');
      assert.equal(value('proxy_buffering'), 'off');
      assert.equal(value('proxy_http_version'), '1.1');
      for (const t of ['proxy_read_timeout', 'proxy_send_timeout']) assert.ok(Number.parseInt(value(t) ?? '0', 10) >= 600, `${t} ${value(t)}`);
      assert.match(value('proxy_set_header X-Forwarded-For') ?? '', /\$proxy_add_x_forwarded_for/);
    });
  }
});
