// JSON schemas of the scanning routes (scan-routes.ts): reports, scan requests, namespace vulnerability policies.
import { body, nullableInt, nullableString, params } from './schemas.js';

const severity = { type: 'string', enum: ['critical', 'high', 'medium', 'low', 'unknown'] } as const;
const status = {
  type: 'string',
  enum: ['scanned', 'pending', 'failed', 'unscanned'],
  description: 'scanned; pending (queued, no report yet); failed (the last scan failed); unscanned (never scanned, none queued)',
} as const;

export const counts = {
  type: 'object',
  properties: { critical: { type: 'integer' }, high: { type: 'integer' }, medium: { type: 'integer' }, low: { type: 'integer' }, unknown: { type: 'integer' } },
  required: ['critical', 'high', 'medium', 'low', 'unknown'],
} as const;

/** What tag listings carry per tag. */
export const vulnerabilitySummary = {
  type: 'object',
  properties: { status, ...counts.properties },
  required: ['status', ...counts.required],
} as const;

const finding = {
  type: 'object',
  properties: {
    id: { type: 'string', description: 'the advisory (CVE-…, GHSA-…, …)' },
    aliases: { type: 'array', items: { type: 'string' } },
    package: { type: 'string' },
    ecosystem: { type: 'string' },
    installed: { type: 'string', description: 'the version in the image' },
    fixed: { ...nullableString, description: 'the first version with the fix, when known' },
    severity,
    score: { type: ['number', 'null'], description: 'CVSS base score, when known' },
    summary: { type: 'string' },
    allowListed: { type: 'boolean', description: 'the policy that applies allow-lists it: it never counts' },
  },
  required: ['id', 'aliases', 'package', 'ecosystem', 'installed', 'fixed', 'severity', 'score', 'summary', 'allowListed'],
} as const;

const policyView = {
  type: 'object',
  properties: {
    scope: { type: 'string', description: "the namespace, or '*' for the global policy from the configuration" },
    mode: { type: 'string', enum: ['audit', 'enforce'] },
    severity: { ...severity, description: 'the lowest severity that counts' },
    allowlist: { type: 'array', items: { type: 'string' } },
    unscanned: { type: 'string', enum: ['allow', 'deny'], description: 'what an image without a report gets under enforce' },
    updatedBy: nullableString,
    updatedAt: nullableInt,
  },
  required: ['scope', 'mode', 'severity', 'allowlist', 'unscanned', 'updatedBy', 'updatedAt'],
} as const;
const nullablePolicy = { anyOf: [policyView, { type: 'null' }] } as const;

export const report = {
  type: 'object',
  properties: {
    repository: { type: 'string' },
    digest: { type: 'string' },
    mediaType: { type: 'string' },
    status,
    queued: { type: 'boolean', description: 'a scan is queued (a re-scan, while an older report is shown)' },
    scanner: {
      anyOf: [{ type: 'object', properties: { name: { type: 'string' }, version: { type: 'string' } }, required: ['name', 'version'] }, { type: 'null' }],
    },
    advisoryVersion: { ...nullableString, description: 'the version of the advisory data the report was made with' },
    scannedAt: nullableInt,
    os: nullableString,
    packages: { type: 'integer' },
    error: { ...nullableString, description: 'why the last scan failed' },
    counts,
    findings: { type: 'array', items: finding },
    policy: {
      anyOf: [
        {
          type: 'object',
          properties: { ...policyView.properties, violations: { type: 'integer', description: 'findings that count against it' }, passes: { type: 'boolean' } },
          required: [...policyView.required, 'violations', 'passes'],
        },
        { type: 'null' },
      ],
      description: 'the policy that applies to the repository and its verdict on the report',
    },
    sbom: { ...nullableString, description: 'the digest of the SBOM referrer in this repository' },
  },
  required: [
    'repository',
    'digest',
    'mediaType',
    'status',
    'queued',
    'scanner',
    'advisoryVersion',
    'scannedAt',
    'os',
    'packages',
    'error',
    'counts',
    'findings',
    'policy',
    'sbom',
  ],
} as const;

export const scanAccepted = {
  type: 'object',
  properties: { repository: { type: 'string' }, digest: { type: 'string' }, status: { type: 'string', enum: ['pending'] } },
  required: ['repository', 'digest', 'status'],
} as const;

export const nsParams = params({ ns: { type: 'string', minLength: 1, maxLength: 255 } });

export const policyBody = body(
  {
    severity,
    mode: { type: 'string', enum: ['audit', 'enforce'] },
    allowlist: { type: 'array', maxItems: 1000, items: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' } },
    unscanned: { type: 'string', enum: ['allow', 'deny'] },
  },
  ['severity', 'mode'],
);

export const policyState = {
  type: 'object',
  properties: {
    namespace: nullablePolicy,
    global: nullablePolicy,
    effective: { ...nullablePolicy, description: 'what applies: the namespace policy tightens the global one and adds to its allow-list' },
  },
  required: ['namespace', 'global', 'effective'],
} as const;
