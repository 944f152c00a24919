// JSON schemas of the trust routes (trust-routes.ts); shapes in docs/trust.md. What the material
// must be (PEMs that parse, supported key kinds, identities) is src/trust/policies.ts's.
import { body, nullableString, params } from './schemas.js';

const ns = { type: 'string', maxLength: 64, description: 'a user or an organisation' } as const;
export const nsParams = params({ ns });

const pem = { type: 'string', minLength: 1, maxLength: 16384 } as const;
const key = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 64, description: 'shown as the signer of what it verifies' },
    publicKey: { ...pem, description: 'PEM public key: ECDSA P-256, Ed25519 or RSA (2048 bits or more)' },
  },
  required: ['name', 'publicKey'],
  additionalProperties: false,
} as const;
const notation = {
  type: 'object',
  description: 'notation signatures: the CA certificates signing chains must end in, and the trusted identities',
  properties: {
    trustStore: { type: 'array', items: pem, minItems: 1, maxItems: 32 },
    identities: {
      type: 'array',
      items: { type: 'string', minLength: 1, maxLength: 1024 },
      minItems: 1,
      maxItems: 32,
      description: '"x509.subject: C=US, O=Acme, CN=signer" or "*"',
    },
  },
  required: ['trustStore', 'identities'],
  additionalProperties: false,
} as const;
const keylessIdentity = {
  type: 'object',
  properties: {
    subject: { type: 'string', minLength: 1, maxLength: 1024, description: "the certificate's SAN, exactly" },
    subjectRegExp: { type: 'string', minLength: 1, maxLength: 1024, description: "a regular expression over the certificate's SAN" },
    issuer: { type: 'string', minLength: 1, maxLength: 1024, description: 'the OIDC issuer' },
  },
  required: ['issuer'],
  additionalProperties: false,
} as const;
const keyless = {
  type: 'object',
  description: 'keyless Sigstore signatures, verified offline against the trusted root (Fulcio, Rekor)',
  properties: {
    trustedRoot: { type: 'object', additionalProperties: true, description: 'a Sigstore trusted_root.json document' },
    identities: { type: 'array', items: keylessIdentity, minItems: 1, maxItems: 32 },
  },
  required: ['trustedRoot', 'identities'],
  additionalProperties: false,
} as const;
const mode = { type: 'string', enum: ['audit', 'enforce'], description: 'audit records verdicts; enforce also refuses unsigned or untrusted pulls' } as const;

export const policyBody = body({ mode, keys: { type: 'array', items: key, maxItems: 32 }, notation, keyless }, ['mode']);

export const policySchema = {
  type: 'object',
  properties: {
    scope: { type: 'string', description: '"*" (the registry), a namespace or a repository' },
    scopeKind: { type: 'string', enum: ['global', 'namespace', 'repository'] },
    source: { type: 'string', enum: ['api', 'config'], description: 'config: set in the configuration file (read-only here)' },
    name: { type: 'string' },
    mode,
    keys: { type: 'array', items: key },
    notation: { anyOf: [notation, { type: 'null' }] },
    keyless: { anyOf: [keyless, { type: 'null' }] },
    version: { type: 'string', description: 'changes whenever the keys, certificates or identities change' },
    createdBy: nullableString,
    updatedAt: { type: ['string', 'null'], format: 'date-time' },
  },
  required: ['scope', 'scopeKind', 'source', 'name', 'mode', 'keys', 'notation', 'keyless', 'version', 'createdBy', 'updatedAt'],
} as const;

const status = { type: 'string', enum: ['verified', 'untrusted', 'unsigned'] } as const;
export const signatureReport = {
  type: 'object',
  properties: {
    digest: { type: 'string' },
    status,
    policy: {
      anyOf: [
        {
          type: 'object',
          properties: { scope: { type: 'string' }, scopeKind: { type: 'string' }, name: { type: 'string' }, source: { type: 'string' }, mode },
          required: ['scope', 'scopeKind', 'name', 'source', 'mode'],
        },
        { type: 'null' },
      ],
    },
    verifiedBy: { type: ['string', 'null'], description: 'the verified index in the repository that lists this manifest, when that is what verifies it' },
    signatures: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          digest: { type: 'string' },
          format: { type: 'string', enum: ['cosign', 'cosign-bundle', 'notation', 'unknown'] },
          status: { type: 'string', enum: ['verified', 'untrusted', 'invalid'] },
          signer: nullableString,
          reason: { type: 'string' },
          verifiedAt: { type: ['string', 'null'], format: 'date-time' },
        },
        required: ['digest', 'format', 'status', 'signer', 'reason', 'verifiedAt'],
      },
    },
  },
  required: ['digest', 'status', 'policy', 'verifiedBy', 'signatures'],
} as const;
