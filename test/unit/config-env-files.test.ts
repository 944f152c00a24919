// NAME_FILE variables: any config value from a file (Docker and Kubernetes secrets), so that compose
// files and pod specs never carry a secret's literal value.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/index.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'berth-config-files-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function secret(name: string, text: string): string {
  const file = path.join(tmp, name);
  writeFileSync(file, text);
  return file;
}

function configError(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig({ env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

const S3 = { REGISTRY_STORAGE: 's3', REGISTRY_STORAGE_S3_BUCKET: 'b' };

describe('NAME_FILE environment variables', () => {
  it('set any string key from a file, without the trailing newline', () => {
    const c = loadConfig({
      env: {
        ...S3,
        REGISTRY_STORAGE_S3_ACCESSKEY_FILE: secret('access', 'AKIA123\n'),
        REGISTRY_STORAGE_S3_SECRETKEY_FILE: secret('secret', 'se cret/+=\r\n\n'),
        REGISTRY_METADATA: 'postgres',
        REGISTRY_METADATA_POSTGRES_URL_FILE: secret('url', 'postgres://berth:pw@db:5432/berth\n'),
        BERTH_AUTH_TOKEN_SIGNINGKEYSECRET_FILE: secret('signing', 'c2lnbmluZy1rZXktc2VjcmV0\n'),
        REGISTRY_AUTH: 'token',
      },
    });
    assert.equal(c.storage.s3?.accesskey, 'AKIA123');
    assert.equal(c.storage.s3?.secretkey, 'se cret/+=');
    assert.equal(c.metadata.postgres?.url, 'postgres://berth:pw@db:5432/berth');
    assert.equal(c.auth?.token?.signingkeysecret, 'c2lnbmluZy1rZXktc2VjcmV0');
  });

  it('parse non-string values as the plain variable would', () => {
    const c = loadConfig({ env: { REGISTRY_HTTP_WORKERS_FILE: secret('workers', '3\n') } });
    assert.equal(c.http.workers, 3);
  });

  it('name the variable and the file that cannot be read, and never the value', () => {
    const missing = path.join(tmp, 'nope');
    assert.match(
      configError({ ...S3, REGISTRY_STORAGE_S3_SECRETKEY_FILE: missing }),
      new RegExp(`^REGISTRY_STORAGE_S3_SECRETKEY_FILE: cannot read ${missing}: no such file`),
    );
  });

  it('refuse a key set both directly and from a file', () => {
    const msg = configError({ ...S3, REGISTRY_STORAGE_S3_SECRETKEY: 'direct-value', REGISTRY_STORAGE_S3_SECRETKEY_FILE: secret('dup', 'file-value') });
    assert.match(msg, /REGISTRY_STORAGE_S3_SECRETKEY_FILE: REGISTRY_STORAGE_S3_SECRETKEY sets the same key/);
    assert.ok(!msg.includes('direct-value') && !msg.includes('file-value'), msg);
  });

  it('still reject a _FILE variable for no key, and keep podman’s REGISTRY_AUTH_FILE ignored', () => {
    assert.match(configError({ REGISTRY_HTTP_NOPE_FILE: secret('n', 'v') }), /^REGISTRY_HTTP_NOPE_FILE: unknown configuration key$/);
    assert.equal(loadConfig({ env: { REGISTRY_AUTH_FILE: '/run/containers/auth.json' } }).auth, undefined);
  });
});
