// The trust policies of the configuration file (`trust.policies`), read and checked at start-up:
// a key file that cannot be read or a key of an unsupported kind stops start-up with a
// ConfigError naming the setting. They apply in every auth mode and cannot be changed at run time.
import { ConfigError, readConfiguredFile, type BerthConfig } from '../config/index.js';
import { isValidRepositoryName } from '../oci/names.js';
import { compileMaterial, InvalidPolicyError, type MaterialInput, type PolicyScope, type TrustPolicy } from './policies.js';

/** A PEM given inline, or the file that holds it. */
function pemOf(key: string, value: string): string {
  return value.trimStart().startsWith('-----BEGIN') ? value : readConfiguredFile(key, value, 'utf8');
}

export function configPolicies(config: BerthConfig): TrustPolicy[] {
  const out: TrustPolicy[] = [];
  const scopes = new Map<string, string>();
  for (const [name, p] of Object.entries(config.trust.policies)) {
    const at = `trust.policies.${name}`;
    let scope: PolicyScope = { kind: 'global', name: '' };
    if (p.repository !== undefined) {
      if (!isValidRepositoryName(p.repository)) throw new ConfigError(`${at}.repository: "${p.repository}" is not a repository name`);
      scope = { kind: 'repository', name: p.repository };
    } else if (p.namespace !== undefined) {
      if (!isValidRepositoryName(p.namespace) || p.namespace.includes('/')) throw new ConfigError(`${at}.namespace: "${p.namespace}" is not a namespace`);
      scope = { kind: 'namespace', name: p.namespace };
    }
    const scopeKey = `${scope.kind}:${scope.name}`;
    const other = scopes.get(scopeKey);
    if (other) throw new ConfigError(`${at}: ${other} is already the policy of ${scope.kind === 'global' ? 'the registry' : `${scope.kind} ${scope.name}`}`);
    scopes.set(scopeKey, `trust.policies.${name}`);
    const input: MaterialInput = {
      keys: Object.entries(p.keys).map(([k, v]) => ({ name: k, publicKey: pemOf(`${at}.keys.${k}`, v) })),
      ...(p.notation
        ? { notation: { trustStore: p.notation.truststore.map((v, i) => pemOf(`${at}.notation.truststore[${i}]`, v)), identities: [...p.notation.identities] } }
        : {}),
      ...(p.keyless
        ? {
            keyless: {
              trustedRoot: trustedRootOf(`${at}.keyless.trustedroot`, p.keyless.trustedroot),
              identities: p.keyless.identities.map((i) => ({
                ...(i.subject ? { subject: i.subject } : {}),
                ...(i.subjectregexp ? { subjectRegExp: i.subjectregexp } : {}),
                issuer: i.issuer,
              })),
            },
          }
        : {}),
    };
    try {
      const { material, version } = compileMaterial(input);
      out.push({ source: 'config', name, scope, mode: p.mode, final: p.final, input, material, version, createdBy: null, updatedAt: null });
    } catch (err) {
      if (err instanceof InvalidPolicyError) throw new ConfigError(`${at}: ${err.message}`);
      throw err;
    }
  }
  return out;
}

function trustedRootOf(key: string, file: string): object {
  const text = readConfiguredFile(key, file, 'utf8');
  try {
    const doc = JSON.parse(text) as unknown;
    if (doc && typeof doc === 'object' && !Array.isArray(doc)) return doc;
  } catch {
    // below
  }
  throw new ConfigError(`${key}: ${file} is not a JSON trusted_root document`);
}
