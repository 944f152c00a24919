// REST routes of vulnerability scanning (src/scan/): an image's report (an index's aggregated from
// its children's), its SBOM, a scan on demand (202: queued), and each namespace's vulnerability
// policy. Who may do what is policy.ts's (mayReadScanReport, mayRequestScan, and for the policies
// namespaceRulesAccess); a private repository answers exactly like a missing one.
//
// Repository names contain slashes: a route constraint of ours tells
// …/{name}/manifests/{digest}/(vulnerabilities|sbom|scan) apart from the other /repositories/* routes.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { mayReadScanReport, mayRequestScan, namespaceOf } from '../auth/policy.js';
import type { ScanReport, VulnerabilityPolicy } from '../metadata/scan-store.js';
import { parseDigest } from '../oci/digest.js';
import type { BlobService } from '../registry/blobs.js';
import type { ManifestService } from '../registry/manifests.js';
import type { Scanning } from '../scan/index.js';
import { policyFields } from '../scan/policies.js';
import { scannableKind } from '../scan/scanner.js';
import { SBOM_ARTIFACT_TYPE } from '../scan/sbom.js';
import type { PolicyMode, Severity, UnscannedRule } from '../scan/schema.js';
import { allowListed, violations } from '../scan/verdict.js';
import { auditOf, badRequest, caller, forbidden, namespaceRulesAccess, notFound, unauthorized, unknownRepository } from './caller.js';
import { change, type ApiDeps } from './deps.js';
import { repositorySubpaths } from './path-strategy.js';
import { nsParams, policyBody, policyState, report as reportSchema, scanAccepted } from './scan-schemas.js';
import { documentedAs, op, repositoryNameParam } from './schemas.js';

/** What the scanning routes use besides the API's own dependencies (built in app.ts). */
export interface ScanParts {
  scanning: Scanning;
  manifests: Pick<ManifestService, 'resolve' | 'body'>;
  blobs: Pick<BlobService, 'read'>;
}

type Shape = 'vulnerabilities' | 'sbom' | 'scan';
const paths = repositorySubpaths<Shape>(
  'berthScanPath',
  (['vulnerabilities', 'sbom', 'scan'] as const).map((shape) => [shape, new RegExp(`^(.+)/manifests/([^/]+)/${shape}$`)] as const),
);

/** The route constraint: …/repositories/{name}/manifests/{digest}/(vulnerabilities|sbom|scan). */
export const scanPathStrategy = paths.strategy;

const digestParam = { type: 'string', description: 'a manifest digest (sha256:…)' } as const;
const on = (shape: Shape) => ({
  constraints: { berthScanPath: shape },
  config: documentedAs(`/repositories/{name}/manifests/{digest}/${shape}`, { name: repositoryNameParam, digest: digestParam }),
});

function scanPath(req: FastifyRequest, want: Shape): { name: string; digest: string } {
  const { name, param } = paths.parse(req, want);
  try {
    return { name, digest: parseDigest(decodeURIComponent(param ?? '')).value };
  } catch (err) {
    throw badRequest(`digest: ${(err as Error).message}`, { location: 'params', field: 'digest' });
  }
}

const vulnerabilityPolicyView = (p: VulnerabilityPolicy | null) =>
  p && { scope: p.scope, mode: p.mode, severity: p.severity, allowlist: p.allowlist, unscanned: p.unscanned, updatedBy: p.updatedBy, updatedAt: p.updatedAt };

function reportView(
  repository: string,
  digest: string,
  mediaType: string,
  v: { status: string; queued: boolean; report: ScanReport | null },
  policy: VulnerabilityPolicy | null,
  sbom: string | null,
) {
  const r = v.report;
  const found = r && policy ? violations(policy, r.findings).length : 0;
  return {
    repository,
    digest,
    mediaType,
    status: v.status,
    queued: v.queued,
    scanner: r?.scanner ? { name: r.scanner, version: r.scannerVersion } : null,
    advisoryVersion: r?.advisoryVersion || null,
    scannedAt: r?.scannedAt ?? null,
    os: r?.os ?? null,
    packages: r?.packages ?? 0,
    error: r?.error ?? null,
    counts: r?.counts ?? { critical: 0, high: 0, medium: 0, low: 0, unknown: 0 },
    findings: (r?.findings ?? []).map((f) => ({
      id: f.id,
      aliases: f.aliases,
      package: f.package,
      ecosystem: f.ecosystem,
      installed: f.installed,
      fixed: f.fixed ?? null,
      severity: f.severity,
      score: f.score ?? null,
      summary: f.summary,
      allowListed: policy ? allowListed(f, policy.allowlist) : false,
    })),
    policy: policy ? { ...vulnerabilityPolicyView(policy)!, violations: found, passes: r !== null && r.status === 'scanned' && found === 0 } : null,
    sbom,
  };
}

export function registerScanRoutes(api: FastifyInstance, d: ApiDeps, parts: ScanParts): void {
  const { scanning } = parts;
  const tag = 'scanning';

  /** The manifest in a repository the caller may read (else 404, like a missing repository), checked with `may`. */
  const image = async (req: FastifyRequest, shape: Shape) => {
    const { name, digest } = scanPath(req, shape);
    const who = caller(req);
    const f = await d.authorizer.facts(who, name);
    if (!f.exists || !mayReadScanReport(who, f)) throw unknownRepository();
    const m = await scanning.store.manifest(name, digest);
    if (!m) throw notFound('manifest');
    return { name, digest, who, facts: f, manifest: m };
  };

  api.get(
    '/repositories/*',
    {
      ...on('vulnerabilities'),
      schema: op(tag, "An image's vulnerability report (an index's: its children's findings together), with the verdict of the policy that applies", {
        ok: { 200: reportSchema },
        errors: [400, 404],
        anonymous: true,
      }),
    },
    async (req) => {
      const { name, digest, manifest } = await image(req, 'vulnerabilities');
      const [v, policy, sbom] = await Promise.all([
        scanning.service.vulnerabilities(name, digest, manifest.mediaType),
        scanning.policies.effective(namespaceOf(name)),
        scanning.store.sbom(name, digest, SBOM_ARTIFACT_TYPE),
      ]);
      return reportView(name, digest, manifest.mediaType, v, policy, sbom);
    },
  );

  api.get(
    '/repositories/*',
    {
      ...on('sbom'),
      schema: op(tag, "Download an image's SBOM (CycloneDX JSON), the referrer the scanner pushed", {
        ok: { 200: { description: 'the SBOM (application/vnd.cyclonedx+json)' } },
        errors: [400, 404],
        anonymous: true,
      }),
    },
    async (req, reply) => {
      const { name, digest } = await image(req, 'sbom');
      const referrer = await scanning.store.sbom(name, digest, SBOM_ARTIFACT_TYPE);
      if (!referrer) throw notFound('SBOM (the image has not been scanned, or is an index: each of its images has one)');
      const row = await parts.manifests.resolve(name, { digest: parseDigest(referrer) });
      const doc = JSON.parse((await parts.manifests.body(row)).toString('utf8')) as { layers?: { mediaType: string; digest: string; size: number }[] };
      const layer = doc.layers?.find((l) => l.mediaType === SBOM_ARTIFACT_TYPE);
      if (!layer) throw notFound('SBOM');
      reply
        .header('Content-Type', SBOM_ARTIFACT_TYPE)
        .header('Content-Length', layer.size)
        .header('Content-Disposition', `attachment; filename="sbom-${digest.replace(':', '-').slice(0, 80)}.cdx.json"`)
        .header('Docker-Content-Digest', layer.digest);
      return reply.send(await parts.blobs.read(parseDigest(layer.digest)));
    },
  );

  api.post(
    '/repositories/*',
    {
      ...on('scan'),
      schema: op(tag, 'Scan an image (an index: each of its images) now: queued, answered 202; the report follows (whoever may push to the repository)', {
        ok: { 202: scanAccepted },
        errors: [400, 403, 404],
      }),
    },
    async (req, reply) => {
      const { name, digest, who, facts, manifest } = await image(req, 'scan');
      if (!mayRequestScan(who, facts)) throw who ? forbidden('a scan on demand needs push access to the repository') : unauthorized();
      if (!scannableKind(manifest.mediaType, manifest.artifactType) || manifest.subject)
        throw badRequest('only images and image indexes are scanned, not artifacts such as signatures and SBOMs');
      await scanning.service.request(name, digest, 'manual', who?.username ?? null);
      await d.accounts.audit({ ...auditOf(req, 'image.scan', `${name}@${digest}`) });
      return reply.code(202).send({ repository: name, digest, status: 'pending' });
    },
  );

  // ---- namespace vulnerability policies ----

  api.get<{ Params: { ns: string } }>(
    '/namespaces/:ns/vulnerability-policy',
    {
      schema: op(tag, "A namespace's vulnerability policy, the global one, and what applies (its user, the organisation's members, administrators)", {
        params: nsParams,
        ok: { 200: policyState },
        errors: [404],
      }),
    },
    async (req) => {
      const { ns } = req.params;
      await namespaceRulesAccess(d, req, ns, false);
      const own = await scanning.store.policy(ns);
      return {
        namespace: vulnerabilityPolicyView(own),
        global: vulnerabilityPolicyView(scanning.policies.global),
        effective: vulnerabilityPolicyView(await scanning.policies.effective(ns)),
      };
    },
  );

  api.put<{ Params: { ns: string }; Body: { severity: Severity; mode: PolicyMode; allowlist?: string[]; unscanned?: UnscannedRule } }>(
    '/namespaces/:ns/vulnerability-policy',
    {
      schema: op(
        tag,
        "Set a namespace's vulnerability policy: refuse (enforce) or log (audit) pulls of images with findings at or above a severity, less an allow-list (namespace administrators)",
        { params: nsParams, body: policyBody, ok: { 200: policyState }, errors: [400, 403, 404] },
      ),
    },
    async (req) => {
      const { ns } = req.params;
      const who = await namespaceRulesAccess(d, req, ns, true);
      const f = policyFields(req.body);
      await change(d, auditOf(req, 'vulnerability-policy.set', ns, { ...f }), (tx, now) => scanning.store.setPolicy(tx, ns, f, who.username, now));
      const own = await scanning.store.policy(ns);
      return {
        namespace: vulnerabilityPolicyView(own),
        global: vulnerabilityPolicyView(scanning.policies.global),
        effective: vulnerabilityPolicyView(await scanning.policies.effective(ns)),
      };
    },
  );

  api.delete<{ Params: { ns: string } }>(
    '/namespaces/:ns/vulnerability-policy',
    {
      schema: op(tag, "Remove a namespace's vulnerability policy: the global one applies alone (namespace administrators)", {
        params: nsParams,
        ok: { 204: null },
        errors: [403, 404],
      }),
    },
    async (req, reply) => {
      const { ns } = req.params;
      await namespaceRulesAccess(d, req, ns, true);
      await change(d, auditOf(req, 'vulnerability-policy.delete', ns), async (tx) => {
        if (!(await scanning.store.deletePolicy(tx, ns))) throw notFound('vulnerability policy');
      });
      return reply.code(204).send();
    },
  );
}
