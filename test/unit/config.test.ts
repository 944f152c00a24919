import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, defaultConfig, loadConfig } from '../../src/config/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'berth-config-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function yamlFile(text: string): string {
  const file = path.join(tmp, `c${n++}.yml`);
  writeFileSync(file, text);
  return file;
}

/** Asserts fn throws a ConfigError whose message matches every pattern. */
function throwsConfig(fn: () => unknown, ...patterns: (RegExp | string)[]): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected ConfigError, got ${String(caught)}`);
  for (const p of patterns) {
    if (typeof p === 'string') assert.ok(caught.message.includes(p), `"${caught.message}" lacks "${p}"`);
    else assert.match(caught.message, p);
  }
  return caught;
}

const load = (yaml: string, env: NodeJS.ProcessEnv = {}) => loadConfig({ file: yamlFile(yaml), env });

describe('defaultConfig', () => {
  it('applies documented defaults and derived fields', () => {
    const c = defaultConfig();
    assert.equal(c.http.addr, ':5000');
    assert.deepEqual(c.http.listen, { host: '0.0.0.0', port: 5000 });
    assert.equal(c.http.workers, 1);
    assert.equal(c.http.tls, undefined);
    assert.equal(c.auth, undefined);
    assert.equal(c.log.level, 'info');
    assert.equal(c.storage.filesystem.rootdirectory, './data');
    assert.equal(c.storage.delete.enabled, true);
    assert.equal(c.metadata.sqlite.path, path.join('data', 'berth.db'));
    assert.equal(c.limits.manifestbytes, 4194304);
    assert.equal(c.limits.uploadttl, 24 * 3600 * 1000);
    assert.equal(c.storage.maintenance.uploadpurging.age, 168 * 3600 * 1000);
  });

  it('is deeply frozen', () => {
    const c = defaultConfig();
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.storage.filesystem) && Object.isFrozen(c.http.listen));
    assert.throws(() => {
      (c.http as { addr: string }).addr = ':1';
    }, TypeError);
  });

  it('validates overrides and recomputes derived fields', () => {
    const c = defaultConfig({
      http: { addr: '127.0.0.1:0' },
      storage: { filesystem: { rootdirectory: '/srv/berth' } },
      auth: { htpasswd: { path: '/etc/htpasswd' } },
      limits: { uploadttl: 1500 },
    });
    assert.deepEqual(c.http.listen, { host: '127.0.0.1', port: 0 });
    assert.equal(c.metadata.sqlite.path, path.join('/srv/berth', 'berth.db'));
    assert.deepEqual(c.auth?.htpasswd, { realm: 'Berth Registry', path: '/etc/htpasswd' });
    assert.equal(c.auth?.token, undefined);
    assert.equal(c.limits.uploadttl, 1500);
    throwsConfig(() => defaultConfig({ http: { workers: -1 } }), /^http\.workers: /);
  });

  it('round-trips an already parsed config', () => {
    const c = defaultConfig({ http: { addr: 'localhost:1234' } });
    assert.deepEqual(defaultConfig(c), c);
  });
});

describe('loadConfig from a file', () => {
  it('parses values, durations and nulls', () => {
    const c = load(`
version: 0.1
log: { level: warning, formatter: logstash }
http:
  addr: "[::1]:8443"
  host: https://reg.example.com/
  secret: 12345
  tls: { certificate: /c.pem, key: /k.pem }
storage:
  filesystem: { rootdirectory: /var/lib/berth }
  delete: { enabled: no }
  maintenance:
    uploadpurging: { age: 1h30m, interval: 90s }
metadata:
  sqlite:
    path:
limits: { uploadttl: 30m, manifestbytes: 1024 }
`);
    assert.equal(c.version, '0.1');
    assert.equal(c.log.level, 'warn');
    assert.deepEqual(c.http.listen, { host: '::1', port: 8443 });
    assert.equal(c.http.host, 'https://reg.example.com');
    assert.equal(c.http.secret, '12345');
    assert.deepEqual(c.http.tls, { certificate: '/c.pem', key: '/k.pem' });
    assert.equal(c.storage.delete.enabled, false);
    assert.equal(c.storage.maintenance.uploadpurging.age, 90 * 60 * 1000);
    assert.equal(c.storage.maintenance.uploadpurging.interval, 90 * 1000);
    assert.equal(c.metadata.sqlite.path, path.join('/var/lib/berth', 'berth.db'));
    assert.equal(c.limits.uploadttl, 30 * 60 * 1000);
    assert.equal(c.limits.manifestbytes, 1024);
  });

  it('treats an empty file as all defaults', () => {
    assert.deepEqual(load(''), defaultConfig());
  });

  it('accepts the stock registry:2 config.yml', () => {
    const c = load(`
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`);
    assert.equal(c.storage.filesystem.rootdirectory, '/var/lib/registry');
    assert.deepEqual(c.http.headers, { 'X-Content-Type-Options': ['nosniff'] });
    assert.equal(c.health.storagedriver.interval, 10_000);
    assert.equal(c.http.listen.port, 5000);
  });

  it('verifies the shipped example config', () => {
    const c = loadConfig({ file: path.join(root, 'config/berth.example.yml'), env: {} });
    assert.equal(c.http.addr, ':5000');
    assert.equal(c.auth, undefined);
  });

  it('rejects unknown keys with their full path', () => {
    throwsConfig(() => load('storage:\n  filesystem:\n    rootdir: /x\n'), 'unknown key "storage.filesystem.rootdir"');
    throwsConfig(() => load('storage:\n  azure: { accountname: b }\n'), 'unknown key "storage.azure"');
    throwsConfig(() => load('storage:\n  s3: { bucket: b, bogus: 1 }\n'), 'unknown key "storage.s3.bogus"');
    throwsConfig(() => load('bogus: 1\n'), 'unknown key "bogus"');
  });

  it('rejects bad http.addr values', () => {
    throwsConfig(() => load('http: { addr: "5000" }'), /^http\.addr: expected host:port/);
    throwsConfig(() => load('http: { addr: ":70000" }'), /^http\.addr: port 70000 out of range/);
    throwsConfig(() => load('http: { addr: "::1:5000" }'), /^http\.addr: expected host:port/);
  });

  it('rejects bad values naming the key', () => {
    throwsConfig(() => load('log: { level: loud }'), /^log\.level: expected one of trace, .*got "loud"/);
    throwsConfig(() => load('http: { tls: { certificate: /c.pem } }'), /^http\.tls\.key: required/);
    throwsConfig(() => load('http: { tls: { key: /k.pem } }'), /^http\.tls\.certificate: required/);
    throwsConfig(() => load('auth: { htpasswd: { realm: r } }'), /^auth\.htpasswd\.path: required/);
    throwsConfig(() => load('limits: { uploadttl: 10 days }'), /^limits\.uploadttl: expected a duration/);
    throwsConfig(() => load('http: { workers: many }'), /^http\.workers: expected number, got string/);
    throwsConfig(() => load('http: { host: "reg.example.com" }'), /^http\.host: expected an absolute/);
    throwsConfig(() => load('version: 0.2'), /^version: unsupported version "0\.2"/);
    throwsConfig(() => load('storage: { delete: { enabled: maybe } }'), /^storage\.delete\.enabled: expected boolean/);
  });

  it('reports every problem at once', () => {
    const err = throwsConfig(() => load('log: { level: x }\nhttp: { addr: y }\n'));
    assert.equal(err.issues.length, 2);
  });

  it('reports unreadable files and invalid YAML with the file name', () => {
    throwsConfig(() => loadConfig({ file: path.join(tmp, 'missing.yml'), env: {} }), 'cannot read config file', 'missing.yml');
    const bad = yamlFile('http: [1\n');
    throwsConfig(() => loadConfig({ file: bad, env: {} }), `${bad}: invalid YAML`);
    throwsConfig(() => load('- a\n- b\n'), 'top level must be a mapping');
  });
});

describe('environment overrides', () => {
  const file = 'http:\n  addr: ":5000"\nstorage:\n  delete:\n    enabled: true\n';

  it('override the file and are parsed as YAML scalars', () => {
    const c = load(file, {
      REGISTRY_HTTP_ADDR: '127.0.0.1:6000',
      REGISTRY_STORAGE_DELETE_ENABLED: 'false',
      REGISTRY_HTTP_WORKERS: '4',
      REGISTRY_LIMITS_UPLOADTTL: '90s',
      REGISTRY_LOG_LEVEL: 'debug',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/data',
      REGISTRY_METADATA_SQLITE_PATH: '/db/berth.db',
      REGISTRY_HTTP_TLS_CERTIFICATE: '/c.pem',
      REGISTRY_HTTP_TLS_KEY: '/k.pem',
    });
    assert.deepEqual(c.http.listen, { host: '127.0.0.1', port: 6000 });
    assert.equal(c.storage.delete.enabled, false);
    assert.equal(c.http.workers, 4);
    assert.equal(c.limits.uploadttl, 90_000);
    assert.equal(c.log.level, 'debug');
    assert.equal(c.storage.filesystem.rootdirectory, '/data');
    assert.equal(c.metadata.sqlite.path, '/db/berth.db');
    assert.deepEqual(c.http.tls, { certificate: '/c.pem', key: '/k.pem' });
  });

  it('keep string values verbatim', () => {
    const c = loadConfig({ env: { REGISTRY_HTTP_SECRET: '0123', REGISTRY_AUTH_HTPASSWD_PATH: '/a #b' } });
    assert.equal(c.http.secret, '0123');
    assert.equal(c.auth?.htpasswd?.path, '/a #b');
  });

  it('set an entry of a map of values inside a map of sections (a trust policy key from the environment)', () => {
    const pem = '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n';
    const c = loadConfig({ env: { REGISTRY_TRUST_POLICIES_ALL_MODE: 'enforce', REGISTRY_TRUST_POLICIES_ALL_KEYS_CI: pem } });
    assert.equal(c.trust.policies.all?.mode, 'enforce');
    assert.deepEqual(c.trust.policies.all?.keys, { ci: pem });
    // The map's entry name is the last segment: nothing may follow it.
    throwsConfig(
      () => loadConfig({ env: { REGISTRY_TRUST_POLICIES_ALL_MODE: 'audit', REGISTRY_TRUST_POLICIES_ALL_KEYS_CI_X: pem } }),
      'REGISTRY_TRUST_POLICIES_ALL_KEYS_CI_X',
      'unknown configuration key',
    );
  });

  it('select a section with a value on a map key', () => {
    const c = loadConfig({
      env: { REGISTRY_AUTH: 'htpasswd', REGISTRY_AUTH_HTPASSWD_REALM: 'Test', REGISTRY_AUTH_HTPASSWD_PATH: '/h' },
    });
    assert.deepEqual(c.auth?.htpasswd, { realm: 'Test', path: '/h' });
    assert.equal(c.auth?.token, undefined);
  });

  it('select S3 storage and PostgreSQL metadata with the registry:2-style variables', () => {
    const c = loadConfig({
      env: {
        REGISTRY_STORAGE: 's3',
        REGISTRY_STORAGE_S3_BUCKET: 'berth',
        REGISTRY_STORAGE_S3_REGIONENDPOINT: 'http://127.0.0.1:7480',
        REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
        REGISTRY_STORAGE_S3_ACCESSKEY: 'ak',
        REGISTRY_STORAGE_S3_SECRETKEY: 'sk',
        REGISTRY_METADATA: 'postgres',
        REGISTRY_METADATA_POSTGRES_URL: 'postgres://berth@127.0.0.1/berth',
      },
    });
    assert.equal(c.storage.s3?.bucket, 'berth');
    assert.equal(c.storage.s3?.forcepathstyle, true);
    assert.equal(c.storage.s3?.chunksize, 16 * 1024 * 1024);
    assert.equal(c.metadata.postgres?.url, 'postgres://berth@127.0.0.1/berth');
    assert.equal(c.metadata.postgres?.poolsize, 10);
    throwsConfig(() => loadConfig({ env: { REGISTRY_STORAGE: 's3' } }), /^storage\.s3\.bucket: required/);
    throwsConfig(() => loadConfig({ env: { REGISTRY_STORAGE_S3_BUCKET: 'b', REGISTRY_STORAGE_S3_CHUNKSIZE: '1024' } }), /^storage\.s3\.chunksize/);
  });

  it('select token auth with the registry:2 variables and reject mixing it with htpasswd', () => {
    const c = loadConfig({
      env: {
        REGISTRY_AUTH: 'token',
        REGISTRY_AUTH_TOKEN_REALM: 'https://auth.example/token',
        REGISTRY_AUTH_TOKEN_SERVICE: 'reg',
        REGISTRY_AUTH_TOKEN_ISSUER: 'iss',
        REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE: '/certs.pem',
      },
    });
    assert.equal(c.auth?.token?.realm, 'https://auth.example/token');
    assert.equal(c.auth?.token?.service, 'reg');
    assert.equal(c.auth?.token?.issuer, 'iss');
    assert.equal(c.auth?.token?.rootcertbundle, '/certs.pem');
    assert.equal(c.auth?.token?.expiration, 5 * 60_000);
    assert.equal(c.auth?.htpasswd, undefined);
    throwsConfig(() => load('auth: { htpasswd: { path: /h }, token: {} }'), /^auth\.token: choose one/);
    throwsConfig(() => load('auth: { token: { builtin: false } }'), /^auth\.token: with builtin: false/);
    throwsConfig(() => loadConfig({ env: { REGISTRY_AUTH: 'htpasswd' } }), /^auth\.htpasswd\.path: required/);
    throwsConfig(() => loadConfig({ env: { REGISTRY_AUTH: 'silly' } }), /^REGISTRY_AUTH: unknown section "silly"/);
  });

  it('accept BERTH_ as an alias that wins over REGISTRY_', () => {
    const c = loadConfig({ env: { REGISTRY_HTTP_WORKERS: '2', BERTH_HTTP_WORKERS: '3', BERTH_LOG_LEVEL: 'error' } });
    assert.equal(c.http.workers, 3);
    assert.equal(c.log.level, 'error');
  });

  it('reject unmapped variables by name', () => {
    throwsConfig(() => load(file, { REGISTRY_HTTP_ADRR: ':1' }), 'REGISTRY_HTTP_ADRR: unknown configuration key');
    throwsConfig(() => loadConfig({ env: { BERTH_STORAGE_FOO: 'x' } }), 'BERTH_STORAGE_FOO: unknown configuration key');
    // BERTH_ variables outside every config section belong to other tools and are left alone.
    assert.equal(loadConfig({ env: { BERTH_DOCKER_DIR: '/tmp/x', BERTH_E2E_TARGET: 'berth' } }).http.addr, ':5000');
    throwsConfig(() => loadConfig({ env: { REGISTRY_HTTP__ADDR: 'x' } }), 'REGISTRY_HTTP__ADDR: unknown configuration key');
  });

  it('ignore variables set by podman, Kubernetes and the CLI', () => {
    const c = loadConfig({
      env: {
        REGISTRY_AUTH_FILE: '/run/containers/auth.json',
        REGISTRY_PORT: 'tcp://10.0.0.1:5000',
        REGISTRY_PORT_5000_TCP_ADDR: '10.0.0.1',
        REGISTRY_SERVICE_HOST: '10.0.0.1',
        BERTH_SERVICE_PORT: '5000',
        BERTH_CONFIG: '/etc/berth.yml',
        PATH: '/usr/bin',
      },
    });
    assert.deepEqual(c, defaultConfig());
  });

  it('name the variable that supplied a bad value', () => {
    throwsConfig(() => load(file, { REGISTRY_HTTP_ADDR: 'nope' }), /^http\.addr: expected host:port.*\(from REGISTRY_HTTP_ADDR\)$/);
  });
});

describe('berth CLI', () => {
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts'), ...args], {
      cwd: root,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, ...env },
    });

  it('config verify prints ok for a valid file', () => {
    const r = cli(['config', 'verify', 'config/berth.example.yml']);
    assert.equal(r.stdout.trim(), 'ok');
    assert.equal(r.status, 0);
  });

  it('config verify fails with exit 1, applying env overrides', () => {
    const r = cli(['config', 'verify', 'config/berth.example.yml'], { REGISTRY_HTTP_ADDR: ':99999' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^berth: configuration error: http\.addr: port 99999 out of range/);
  });

  it('serve exits 2 on a configuration error', () => {
    const r = cli(['serve', '--config', yamlFile('bogus: 1\n')]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^berth: configuration error: unknown key "bogus"/);
  });

  it('prints the package version', () => {
    const r = cli(['--version']);
    assert.equal(r.status, 0);
    assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+/);
  });
});

describe('storage.gc', () => {
  it('defaults: online collection on, a 24h delay, hourly, untagged manifests kept, a 7-day restore window, 4 delete batches in flight', () => {
    assert.deepEqual(
      { ...defaultConfig().storage.gc },
      { enabled: true, delay: 24 * 3600_000, interval: 3600_000, untagged: false, restorewindow: 7 * 24 * 3600_000, deleteconcurrency: 4 },
    );
  });

  it('takes the file and REGISTRY_STORAGE_GC_* overrides; the delay may be 0s', () => {
    const c = load('storage:\n  gc:\n    delay: 2h\n    untagged: true\n', {
      REGISTRY_STORAGE_GC_DELAY: '0s',
      REGISTRY_STORAGE_GC_INTERVAL: '5m',
      REGISTRY_STORAGE_GC_RESTOREWINDOW: '48h',
      REGISTRY_STORAGE_GC_DELETECONCURRENCY: '16',
    });
    assert.deepEqual({ ...c.storage.gc }, { enabled: true, delay: 0, interval: 300_000, untagged: true, restorewindow: 48 * 3600_000, deleteconcurrency: 16 });
  });

  it('refuses an interval under a second, a delay that is not a duration, a delete concurrency under 1', () => {
    throwsConfig(() => load('storage:\n  gc:\n    interval: 10ms\n'), 'storage.gc.interval', 'at least 1s');
    throwsConfig(() => load('', { REGISTRY_STORAGE_GC_DELAY: 'tomorrow' }), 'REGISTRY_STORAGE_GC_DELAY');
    throwsConfig(() => load('storage:\n  gc:\n    deleteconcurrency: 0\n'), 'storage.gc.deleteconcurrency');
    throwsConfig(() => load('', { REGISTRY_STORAGE_GC_DELETECONCURRENCY: 'many' }), 'REGISTRY_STORAGE_GC_DELETECONCURRENCY');
  });
});
