// The quota rules without a server: which limit and warning level apply (a namespace's own
// quota, else the configured default), the levels, the refusal's wording, and the sizes the
// configuration accepts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfig } from '../../src/config/index.js';
import { parseBytes } from '../../src/config/values.js';
import type { QuotaStore } from '../../src/metadata/quota-store.js';
import { formatBytes } from '../../src/config/values.js';
import { QuotaService } from '../../src/registry/quotas.js';

const service = (settings = { default: 0, warning: 80 }) => new QuotaService({} as QuotaStore, settings);
const row = (limitBytes: number | null, warningBytes: number | null = null) => ({
  namespace: 'ns',
  limitBytes,
  warningBytes,
  updatedAt: 1,
  updatedBy: 'admin',
});

describe('quota rules', () => {
  it("a namespace's own quota wins; otherwise the configured default; otherwise none", () => {
    assert.deepEqual(service().effective(null), { limit: null, warning: null, source: 'none' });
    assert.deepEqual(service({ default: 1000, warning: 80 }).effective(null), { limit: 1000, warning: 800, source: 'default' });
    assert.deepEqual(service({ default: 1000, warning: 80 }).effective(row(5000)), { limit: 5000, warning: 4000, source: 'namespace' });
    assert.deepEqual(service({ default: 1000, warning: 80 }).effective(row(5000, 100)), { limit: 5000, warning: 100, source: 'namespace' });
    assert.deepEqual(service({ default: 1000, warning: 80 }).effective(row(null, 100)), { limit: null, warning: 100, source: 'namespace' });
    // A row with neither field set is no quota of its own.
    assert.deepEqual(service({ default: 1000, warning: 80 }).effective(row(null)), { limit: 1000, warning: 800, source: 'default' });
  });

  it('levels: ok below the warning, warning from it, exceeded at the limit', () => {
    const q = service();
    assert.equal(q.describe('ns', 79, row(100, 80)).level, 'ok');
    assert.equal(q.describe('ns', 80, row(100, 80)).level, 'warning');
    assert.equal(q.describe('ns', 100, row(100, 80)).level, 'exceeded');
    assert.equal(q.describe('ns', 10 ** 12, null).level, 'ok');
  });

  it('sizes read like docker prints them', () => {
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(10 * 1024 ** 3), '10.0 GiB');
    assert.equal(formatBytes(250 * 1024 ** 2), '250 MiB');
  });

  it('the configuration takes sizes with units, and rejects what is not one', () => {
    assert.equal(parseBytes('10GiB'), 10 * 1024 ** 3);
    assert.equal(parseBytes('500MB'), 500_000_000);
    assert.equal(parseBytes('1.5 KiB'), 1536);
    assert.equal(parseBytes(4096), 4096);
    assert.equal(parseBytes('0'), 0);
    assert.equal(parseBytes('-1'), undefined);
    assert.equal(parseBytes('10 parsecs'), undefined);
    assert.equal(defaultConfig({}).quotas.default, 0);
    assert.equal(defaultConfig({ quotas: { default: '2GiB' as unknown as number } }).quotas.default, 2 * 1024 ** 3);
    assert.throws(() => defaultConfig({ quotas: { default: 'lots' as unknown as number } }), /quotas\.default/);
  });
});
