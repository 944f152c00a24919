// A scanner behind Harbor's pluggable scanner adapter API v1.2 (Trivy's and Clair's adapters
// implement it): GET /api/v1/metadata (what it scans and produces, its database's age), POST
// /api/v1/scan with the registry's URL and an Authorization the adapter pulls the image with,
// then GET /api/v1/scan/{id}/report until it answers 200 (302 with Refresh-After while it works).
// Requests go through the outbound rules (scanning.allow opens internal adapters). The adapter
// gets a short-lived credential that pulls only the one repository (token mode).
import type { ScanAdapterConfig } from '../config/types.js';
import type { Finding } from '../metadata/scan-store.js';
import type { OutboundGuard } from '../net/outbound-connect.js';
import { UpstreamError } from '../upstream/errors.js';
import { describe as what, discard, keepAliveAgents, readBody, send, type TransportOptions } from '../upstream/transport.js';
import type { Severity } from './schema.js';
import type { ImageRef, ImageScanner, ScanResult } from './scanner.js';
import { sortFindings } from './verdict.js';

export const SCAN_REQUEST_TYPE = 'application/vnd.scanner.adapter.scan.request+json; version=1.1';
export const VULNERABILITY_REPORT_TYPE = 'application/vnd.security.vulnerability.report; version=1.1';
const HARBOR_REPORT_TYPE = 'application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0';
const METADATA_TYPES = 'application/vnd.scanner.adapter.metadata+json; version=1.1, application/vnd.scanner.adapter.metadata+json; version=1.0';
const DB_UPDATED_AT = 'harbor.scanner-adapter/vulnerability-database-updated-at';
const IMAGE_TYPES = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'];
const MAX_BODY = 64 * 1024 * 1024;

interface Metadata {
  scanner?: { name?: string; vendor?: string; version?: string };
  capabilities?: { type?: string; consumes_mime_types?: string[]; produces_mime_types?: string[] }[];
  properties?: Record<string, string>;
}

interface VulnerabilityItem {
  id?: string;
  package?: string;
  version?: string;
  fix_version?: string;
  severity?: string;
  description?: string;
  preferred_cvss?: { score_v3?: number; score_v2?: number };
  vendor_attributes?: Record<string, unknown>;
}

export interface AdapterDeps {
  guard: OutboundGuard | null;
  /** Where the adapter pulls from (scanning.adapters.X.registryurl, http.host, or the listening address). */
  registryUrl: () => string;
  /** The Authorization value the adapter pulls the repository with (a pull-only token), or null for none. */
  pullAuthorization: (repository: string) => Promise<string | null>;
  /** Waits between report polls (tests pass a quicker clock). */
  sleep?: (ms: number) => Promise<void>;
}

const SEVERITY: Record<string, Severity> = { critical: 'critical', high: 'high', medium: 'medium', low: 'low', negligible: 'low', unknown: 'unknown' };

export class HarborAdapterScanner implements ImageScanner {
  private readonly transport: TransportOptions;
  private scannerVersion = '';
  private produces = VULNERABILITY_REPORT_TYPE;

  constructor(
    readonly name: string,
    private readonly cfg: ScanAdapterConfig,
    private readonly deps: AdapterDeps,
  ) {
    this.transport = { timeoutMs: cfg.timeout, bodyIdleMs: cfg.timeout, agents: keepAliveAgents(deps.guard), userAgent: 'berth-scan-client' };
  }

  private url(path: string): URL {
    return new URL(`${this.cfg.url.replace(/\/+$/, '')}/api/v1${path}`);
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.cfg.authorization ? { Authorization: this.cfg.authorization } : {}), ...extra };
  }

  /** Reads the adapter's metadata; the advisory version is its database's update time (else its version). */
  async refresh(): Promise<string> {
    const url = this.url('/metadata');
    const res = await send(this.transport, { method: 'GET', url, headers: this.headers({ Accept: METADATA_TYPES }) });
    const body = await this.json<Metadata>(res, what('GET', url), 200);
    const vuln = (body.capabilities ?? []).find(
      (c) => (c.type ?? 'vulnerability') === 'vulnerability' && IMAGE_TYPES.some((t) => c.consumes_mime_types?.includes(t)),
    );
    if (!vuln) throw new UpstreamError('invalid', `scanner adapter ${this.name}: it offers no vulnerability scans of container images`);
    const produces = vuln.produces_mime_types ?? [];
    if (produces.includes(VULNERABILITY_REPORT_TYPE)) this.produces = VULNERABILITY_REPORT_TYPE;
    else if (produces.includes(HARBOR_REPORT_TYPE)) this.produces = HARBOR_REPORT_TYPE;
    else throw new UpstreamError('invalid', `scanner adapter ${this.name}: it produces none of ${VULNERABILITY_REPORT_TYPE}, ${HARBOR_REPORT_TYPE}`);
    this.scannerVersion = [body.scanner?.name, body.scanner?.version].filter(Boolean).join(' ');
    return body.properties?.[DB_UPDATED_AT] ?? body.scanner?.version ?? 'unknown';
  }

  async scan(image: ImageRef): Promise<ScanResult> {
    const advisoryVersion = await this.refresh();
    const authorization = await this.deps.pullAuthorization(image.repository);
    const request = {
      registry: { url: this.deps.registryUrl(), ...(authorization ? { authorization } : {}) },
      artifact: { repository: image.repository, digest: image.digest, mime_type: image.mediaType },
      enabled_capabilities: [{ type: 'vulnerability', produces_mime_types: [this.produces] }],
    };
    const scanUrl = this.url('/scan');
    const accepted = await send(this.transport, {
      method: 'POST',
      url: scanUrl,
      headers: this.headers({ 'Content-Type': SCAN_REQUEST_TYPE, Accept: 'application/vnd.scanner.adapter.scan.response+json; version=1.0' }),
      body: Buffer.from(JSON.stringify(request)),
    });
    const { id } = await this.json<{ id?: string }>(accepted, what('POST', scanUrl), 202);
    if (typeof id !== 'string' || id === '') throw new UpstreamError('invalid', `${what('POST', scanUrl)}: the answer names no scan id`);

    const reportUrl = this.url(`/scan/${encodeURIComponent(id)}/report`);
    const deadline = Date.now() + this.cfg.scantimeout;
    const sleep = this.deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    for (;;) {
      const res = await send(this.transport, { method: 'GET', url: reportUrl, headers: this.headers({ Accept: this.produces }) });
      if (res.statusCode === 302) {
        discard(res);
        // Refresh-After: seconds (an integer); a missing or odd value waits a second.
        const after = Number(res.headers['refresh-after']);
        const wait = Number.isFinite(after) && after >= 0 ? Math.min(after, 60) * 1000 : 1000;
        if (Date.now() + wait > deadline) throw new UpstreamError('unavailable', `scanner adapter ${this.name}: no report within ${this.cfg.scantimeout} ms`);
        await sleep(Math.max(wait, 50));
        continue;
      }
      const report = await this.json<{ vulnerabilities?: VulnerabilityItem[] }>(res, what('GET', reportUrl), 200);
      return {
        scannerVersion: this.scannerVersion,
        advisoryVersion,
        os: null,
        packages: 0,
        findings: sortFindings((report.vulnerabilities ?? []).map(findingOf)),
      };
    }
  }

  /** The JSON body of an answer with the expected status; else an error with the adapter's message. */
  private async json<T>(res: import('node:http').IncomingMessage, desc: string, status: number): Promise<T> {
    const body = await readBody(res, MAX_BODY, desc);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    if (res.statusCode !== status) {
      const message = (parsed as { error?: { message?: string } } | undefined)?.error?.message;
      const kind = res.statusCode === 404 ? 'not-found' : (res.statusCode ?? 500) >= 500 ? 'unavailable' : 'invalid';
      throw new UpstreamError(kind, `${desc}: answered ${res.statusCode}${message ? `: ${String(message).slice(0, 500)}` : ''}`, { status: res.statusCode });
    }
    if (parsed === undefined || typeof parsed !== 'object' || parsed === null) throw new UpstreamError('invalid', `${desc}: the answer is not a JSON object`);
    return parsed as T;
  }
}

function findingOf(v: VulnerabilityItem): Finding {
  const attrs = v.vendor_attributes ?? {};
  const aliases = Array.isArray(attrs.aliases) ? (attrs.aliases as unknown[]).filter((a): a is string => typeof a === 'string') : [];
  const score = v.preferred_cvss?.score_v3 ?? v.preferred_cvss?.score_v2;
  return {
    id: String(v.id ?? 'unknown'),
    aliases,
    package: String(v.package ?? ''),
    ecosystem: '',
    installed: String(v.version ?? ''),
    ...(v.fix_version ? { fixed: String(v.fix_version) } : {}),
    severity: SEVERITY[String(v.severity ?? 'unknown').toLowerCase()] ?? 'unknown',
    ...(typeof score === 'number' ? { score } : {}),
    summary: String(v.description ?? '').slice(0, 2000),
  };
}
