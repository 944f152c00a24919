// Trust policies from the configuration file: key files read at start-up (an unreadable one, a key
// of an unsupported kind, two policies for one scope, a scope given twice stop the start with a
// ConfigError naming the setting); the policy that applies to a repository is the most specific,
// and at one scope the configuration's wins over the API's. Pure functions, no server.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, defaultConfig } from '../../src/config/index.js';
import { configPolicies } from '../../src/trust/config-policies.js';
import { applicablePolicy, compileMaterial, finalPolicyOver, type TrustPolicy } from '../../src/trust/policies.js';
import { tempDir } from '../helpers/shared.js';
import { ecKey } from './helpers.js';

const policies = (p: Record<string, unknown>) => configPolicies(defaultConfig({ trust: { policies: p } } as never));

describe('trust policies from the configuration file', () => {
  it('reads keys from PEM files (or inline PEMs) and gives each policy its scope and a version of its material', () => {
    const dir = tempDir('trust-config');
    const a = ecKey();
    const b = ecKey();
    fs.writeFileSync(path.join(dir, 'a.pub'), a.publicPem);
    const [ns, repo, global] = policies({
      team: { namespace: 'acme', mode: 'enforce', keys: { a: path.join(dir, 'a.pub') } },
      app: { repository: 'acme/app', mode: 'audit', keys: { b: b.publicPem } },
      all: { mode: 'audit', keys: { a: path.join(dir, 'a.pub'), b: b.publicPem } },
    });
    assert.deepEqual(ns.scope, { kind: 'namespace', name: 'acme' });
    assert.deepEqual(repo.scope, { kind: 'repository', name: 'acme/app' });
    assert.deepEqual(global.scope, { kind: 'global', name: '' });
    assert.equal(ns.material.keys[0].publicKeyPem, a.publicPem.trim());
    assert.equal(ns.version, compileMaterial({ keys: [{ name: 'a', publicKey: a.publicPem }] }).version, 'the version is the material');
    assert.notEqual(ns.version, global.version);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an unreadable key file, an unsupported key, two policies for one scope, a namespace and a repository at once: ConfigError naming the setting', () => {
    assert.throws(
      () => policies({ p: { namespace: 'x', mode: 'enforce', keys: { k: '/nonexistent/k.pub' } } }),
      (e: Error) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /trust\.policies\.p\.keys\.k: cannot read \/nonexistent\/k\.pub/);
        return true;
      },
    );
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.throws(
      () => policies({ p: { mode: 'enforce', keys: { k: p384 } } }),
      /trust\.policies\.p: keys\[0\]\.publicKey \(k\): ECDSA curve secp384r1 is not supported/,
    );
    const k = ecKey().publicPem;
    assert.throws(
      () => policies({ one: { namespace: 'x', mode: 'enforce', keys: { k } }, two: { namespace: 'x', mode: 'audit', keys: { k } } }),
      /trust\.policies\.two: trust\.policies\.one is already the policy of namespace x/,
    );
    assert.throws(() => policies({ p: { mode: 'enforce', keys: {} } }), /needs keys, a notation trust store or a keyless trusted root/);
    assert.throws(() => policies({ p: { namespace: 'x', repository: 'x/y', mode: 'enforce', keys: { k } } }), /set namespace or repository, not both/);
  });

  it('the most specific scope applies; at one scope the configuration file wins over the API', () => {
    const k = ecKey().publicPem;
    const [ns, global] = policies({ ns: { namespace: 'acme', mode: 'enforce', keys: { k } }, all: { mode: 'audit', keys: { k } } });
    const api = (kind: 'namespace' | 'repository', name: string): TrustPolicy => ({ ...ns, source: 'api', name: `${kind} ${name}`, scope: { kind, name } });
    assert.equal(applicablePolicy('acme/app', [global, ns]), ns);
    assert.equal(applicablePolicy('other/app', [global, ns]), global);
    const repo = api('repository', 'acme/app');
    assert.equal(applicablePolicy('acme/app', [global, ns, repo]), repo);
    assert.equal(applicablePolicy('acme/app', [api('namespace', 'acme'), ns]), ns, 'the configuration wins at one scope');
    assert.equal(applicablePolicy('x/y', []), null);
  });

  it('a final policy applies under its whole scope: no narrower policy (file or API) can loosen it', () => {
    const k = ecKey().publicPem;
    const [ns, global] = policies({ ns: { namespace: 'acme', mode: 'audit', keys: { k } }, all: { mode: 'enforce', final: true, keys: { k } } });
    const repo: TrustPolicy = { ...ns, source: 'api', name: 'repository acme/app', scope: { kind: 'repository', name: 'acme/app' } };
    assert.equal(global.final, true);
    assert.equal(applicablePolicy('acme/app', [global, ns, repo]), global);
    assert.equal(finalPolicyOver({ kind: 'namespace', name: 'acme' }, [global, ns]), global);
    assert.equal(finalPolicyOver({ kind: 'global', name: '' }, [global]), null, 'nothing is broader than the registry');
    const [nsFinal] = policies({ ns: { namespace: 'acme', mode: 'enforce', final: true, keys: { k } } });
    assert.equal(applicablePolicy('acme/app', [nsFinal, repo]), nsFinal);
    assert.equal(applicablePolicy('other/app', [nsFinal, repo]), null, 'only under its scope');
  });
});
