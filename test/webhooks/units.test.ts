// Pure parts of webhooks: signatures, tag globs, backoff (addresses: test/unit/outbound.test.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventMatches, globToRegExp, invalidTagPattern } from '../../src/webhooks/filters.js';
import { signatureHeader, verifySignature } from '../../src/webhooks/signing.js';
import { backoffDelay } from '../../src/webhooks/worker.js';

describe('webhook units', () => {
  it('signs t.body and verifies within the tolerance only', () => {
    const now = 1_700_000_000;
    const h = signatureHeader('whsec_x', now, '{"a":1}');
    assert.match(h, /^t=1700000000,v1=[0-9a-f]{64}$/);
    assert.ok(verifySignature('whsec_x', h, '{"a":1}', 300, now + 10));
    assert.ok(!verifySignature('whsec_x', h, '{"a":1}', 300, now + 301), 'too old');
    assert.ok(!verifySignature('whsec_y', h, '{"a":1}', 300, now));
    assert.ok(!verifySignature('whsec_x', 'garbage', '{"a":1}', 300, now));
    assert.ok(!verifySignature('whsec_x', undefined, '{"a":1}', 300, now));
  });

  it('matches tag globs', () => {
    assert.ok(globToRegExp('v*').test('v1.2'));
    assert.ok(!globToRegExp('v*').test('latest'));
    assert.ok(globToRegExp('release-?').test('release-1'));
    assert.ok(!globToRegExp('release-?').test('release-10'));
    assert.ok(!globToRegExp('1.0').test('1x0'), 'dots are literal');
    assert.equal(invalidTagPattern('v*'), null);
    assert.notEqual(invalidTagPattern('(a|b)'), null);
    const base = { repository: 'a/b', actor: null, at: 0 };
    assert.ok(eventMatches({ ...base, type: 'push', tag: 'v1' }, ['push'], 'v*'));
    assert.ok(!eventMatches({ ...base, type: 'push' }, ['push'], 'v*'), 'no tag, pattern set');
    assert.ok(eventMatches({ ...base, type: 'repository.create' }, ['repository.create'], 'v*'), 'repository events ignore the pattern');
    assert.ok(!eventMatches({ ...base, type: 'tag.delete', tag: 'v1' }, ['push'], null));
  });

  it('backs off exponentially with jitter, capped', () => {
    assert.equal(
      backoffDelay(1, 1000, 60_000, () => 0),
      500,
    );
    assert.equal(
      backoffDelay(1, 1000, 60_000, () => 1),
      1000,
    );
    assert.equal(
      backoffDelay(4, 1000, 60_000, () => 1),
      8000,
    );
    assert.equal(
      backoffDelay(30, 1000, 60_000, () => 1),
      60_000,
    );
    assert.equal(
      backoffDelay(99, 1000, 60_000, () => 0),
      30_000,
    );
  });
});

describe('the verification snippet of docs/webhooks.md', () => {
  it('verifies what Berth signs', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(new URL('../../docs/webhooks.md', import.meta.url), 'utf8');
    const code = /```js\n([\s\S]*?)```/
      .exec(doc)![1]
      .replace(/^import .*$/m, '')
      .replace('export function', 'function');
    const { createHmac, timingSafeEqual } = await import('node:crypto');
    const verifyBerth = new Function('createHmac', 'timingSafeEqual', `${code}; return verifyBerth;`)(createHmac, timingSafeEqual);
    const body = '{"push_data":{"tag":"v1"}}';
    const header = signatureHeader('whsec_doc', Math.floor(Date.now() / 1000), body);
    assert.equal(verifyBerth('whsec_doc', header, body), true);
    assert.equal(verifyBerth('whsec_other', header, body), false);
    assert.equal(verifyBerth('whsec_doc', header, `${body}x`), false);
  });
});
