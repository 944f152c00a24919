// Trust policies: which keys and identities a repository's images must be signed by, and whether
// an image that is not is refused (enforce) or only recorded (audit). Pure: validation of the
// material (PEMs parse, keys of the supported kinds), its version, and which policy applies.
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { namespaceOf } from '../auth/policy.js';
import { checkTrustMaterial, TrustMaterialError, type TrustMaterial } from './formats/index.js';
import type { ScopeKind, TrustMode } from './schema.js';

export const TRUST_MODES: readonly TrustMode[] = ['audit', 'enforce'];

export interface PolicyScope {
  kind: ScopeKind;
  /** '' for global, else the namespace or the repository's full name. */
  name: string;
}

/** A keyless identity: the certificate's subject (exact or a regular expression) and its OIDC issuer. */
export interface KeylessIdentity {
  subject?: string;
  subjectRegExp?: string;
  issuer: string;
}

/** A policy's trust material as the API and the configuration give it (stored as JSON). */
export interface MaterialInput {
  keys: { name: string; publicKey: string }[];
  notation?: { trustStore: string[]; identities: string[] };
  keyless?: { trustedRoot: object; identities: KeylessIdentity[] };
}

export interface TrustPolicy {
  source: 'config' | 'api';
  /** The configuration's name for it; for an API policy, its scope in words. */
  name: string;
  scope: PolicyScope;
  mode: TrustMode;
  /** Configuration only: no narrower policy applies under this one's scope (a platform team's rule that no namespace can loosen). */
  final?: boolean;
  input: MaterialInput;
  /** What the verifier takes (formats/index.ts). */
  material: TrustMaterial;
  /** Changes exactly when the material does: verdicts are stored per version. */
  version: string;
  createdBy: string | null;
  updatedAt: number | null;
}

export class InvalidPolicyError extends Error {}

const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$/;
const MAX_KEYS = 32;
const MAX_IDENTITIES = 32;

/** In messages and webhook payloads: `trust policy "release" (namespace acme)`. */
export function policyLabel(p: Pick<TrustPolicy, 'source' | 'name' | 'scope'>): string {
  const where = p.scope.kind === 'global' ? 'global' : `${p.scope.kind} ${p.scope.name}`;
  return p.source === 'config' ? `trust policy "${p.name}" (${where})` : `trust policy of ${p.scope.kind === 'global' ? 'the registry' : where}`;
}

/** The scope as the API shows it: '*' for global, else the namespace or repository name. */
export function scopeText(scope: PolicyScope): string {
  return scope.kind === 'global' ? '*' : scope.name;
}

/** Checks the material and compiles it; throws InvalidPolicyError naming the field. */
export function compileMaterial(input: MaterialInput): { material: TrustMaterial; version: string } {
  const keys = input.keys ?? [];
  if (keys.length > MAX_KEYS) throw new InvalidPolicyError(`keys: at most ${MAX_KEYS}`);
  const names = new Set<string>();
  for (const [i, k] of keys.entries()) {
    if (!KEY_NAME.test(k.name ?? '')) throw new InvalidPolicyError(`keys[${i}].name: 1 to 64 letters, digits and . _ @ : - (starting with a letter or digit)`);
    if (names.has(k.name)) throw new InvalidPolicyError(`keys[${i}].name: "${k.name}" appears twice`);
    names.add(k.name);
    const why = publicKeyProblem(k.publicKey);
    if (why) throw new InvalidPolicyError(`keys[${i}].publicKey (${k.name}): ${why}`);
  }
  if (input.notation) {
    const { trustStore, identities } = input.notation;
    if (!trustStore?.length) throw new InvalidPolicyError('notation.trustStore: at least one CA certificate (PEM)');
    if (trustStore.length > MAX_KEYS) throw new InvalidPolicyError(`notation.trustStore: at most ${MAX_KEYS} certificates`);
    for (const [i, pem] of trustStore.entries()) {
      try {
        new X509Certificate(pem);
      } catch {
        throw new InvalidPolicyError(`notation.trustStore[${i}]: not a PEM X.509 certificate`);
      }
    }
    if (!identities?.length) throw new InvalidPolicyError('notation.identities: at least one ("x509.subject: …" or "*")');
    if (identities.length > MAX_IDENTITIES) throw new InvalidPolicyError(`notation.identities: at most ${MAX_IDENTITIES}`);
    for (const [i, id] of identities.entries()) {
      if (id !== '*' && !/^x509\.subject:\s*\S/.test(id)) throw new InvalidPolicyError(`notation.identities[${i}]: "x509.subject: C=…, O=…, CN=…" or "*"`);
    }
  }
  if (input.keyless) {
    const { trustedRoot, identities } = input.keyless;
    if (!trustedRoot || typeof trustedRoot !== 'object' || Array.isArray(trustedRoot))
      throw new InvalidPolicyError('keyless.trustedRoot: a Sigstore trusted_root.json object');
    if (!identities?.length) throw new InvalidPolicyError('keyless.identities: at least one (issuer with subject or subjectRegExp)');
    if (identities.length > MAX_IDENTITIES) throw new InvalidPolicyError(`keyless.identities: at most ${MAX_IDENTITIES}`);
    for (const [i, id] of identities.entries()) {
      if (!id.issuer) throw new InvalidPolicyError(`keyless.identities[${i}].issuer: required`);
      if (!id.subject === !id.subjectRegExp) throw new InvalidPolicyError(`keyless.identities[${i}]: exactly one of subject and subjectRegExp`);
      if (id.subjectRegExp) {
        try {
          new RegExp(id.subjectRegExp);
        } catch {
          throw new InvalidPolicyError(`keyless.identities[${i}].subjectRegExp: not a regular expression`);
        }
      }
    }
  }
  if (keys.length === 0 && !input.notation && !input.keyless) {
    throw new InvalidPolicyError('a policy needs keys, a notation trust store or a keyless trusted root: without them nothing could verify');
  }
  const material: TrustMaterial = {
    keys: [...keys].sort((a, b) => (a.name < b.name ? -1 : 1)).map((k) => ({ name: k.name, publicKeyPem: k.publicKey.trim() })),
    ...(input.notation ? { notation: { trustStore: input.notation.trustStore.map((p) => p.trim()), identities: [...input.notation.identities] } } : {}),
    ...(input.keyless
      ? {
          keyless: {
            trustedRoot: input.keyless.trustedRoot,
            identities: input.keyless.identities.map((i) => ({
              ...(i.subject ? { subject: i.subject } : {}),
              ...(i.subjectRegExp ? { subjectRegExp: i.subjectRegExp } : {}),
              issuer: i.issuer,
            })),
          },
        }
      : {}),
  };
  try {
    checkTrustMaterial(material);
  } catch (err) {
    if (err instanceof TrustMaterialError) throw new InvalidPolicyError((err as Error).message);
    throw err;
  }
  return { material, version: versionOf(material) };
}

/** A hash of the material in a canonical form (object keys sorted). */
function versionOf(material: TrustMaterial): string {
  return createHash('sha256').update(canonical(material)).digest('hex').slice(0, 24);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** Why a public key is not one a policy takes (ECDSA P-256, Ed25519, RSA of 2048 bits or more), or null. */
export function publicKeyProblem(pem: unknown): string | null {
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN PUBLIC KEY-----')) return 'a PEM public key (-----BEGIN PUBLIC KEY-----)';
  let key: ReturnType<typeof createPublicKey>;
  try {
    key = createPublicKey(pem);
  } catch {
    return 'not a readable PEM public key';
  }
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'ec') return details.namedCurve === 'prime256v1' ? null : `ECDSA curve ${details.namedCurve} is not supported (P-256 is)`;
  if (type === 'ed25519') return null;
  if (type === 'rsa' || type === 'rsa-pss') return (details.modulusLength ?? 0) >= 2048 ? null : 'RSA keys must have at least 2048 bits';
  return `${type} keys are not supported (ECDSA P-256, Ed25519, RSA)`;
}

/** The scope a repository's policy is looked up under, most specific first. */
export function scopesOf(repository: string): PolicyScope[] {
  return [
    { kind: 'repository', name: repository },
    { kind: 'namespace', name: namespaceOf(repository) },
    { kind: 'global', name: '' },
  ];
}

/** The broadest `final` policy over a scope's repositories (from the configuration file), if any. */
export function finalPolicyOver(scope: PolicyScope, candidates: readonly TrustPolicy[]): TrustPolicy | null {
  const broader: PolicyScope[] =
    scope.kind === 'global'
      ? []
      : [{ kind: 'global', name: '' }, ...(scope.kind === 'repository' ? [{ kind: 'namespace' as const, name: namespaceOf(scope.name) }] : [])];
  for (const s of broader) {
    const p = candidates.find((c) => c.final && c.scope.kind === s.kind && c.scope.name === s.name);
    if (p) return p;
  }
  return null;
}

/**
 * The policy that applies: a `final` one over the repository, else the most specific scope; at one
 * scope, the configuration file's over the API's.
 */
export function applicablePolicy(repository: string, candidates: readonly TrustPolicy[]): TrustPolicy | null {
  const locked = finalPolicyOver({ kind: 'repository', name: repository }, candidates);
  if (locked) return locked;
  for (const s of scopesOf(repository)) {
    const at = candidates.filter((p) => p.scope.kind === s.kind && p.scope.name === s.name);
    const chosen = at.find((p) => p.source === 'config') ?? at[0];
    if (chosen) return chosen;
  }
  return null;
}
