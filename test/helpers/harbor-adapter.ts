// A small Harbor pluggable scanner adapter (API v1.2) for the tests: it answers /api/v1/metadata,
// takes POST /api/v1/scan, really pulls the image from the registry URL it is given with the
// Authorization it is given (manifest and every layer, digests checked), reads the apk database in
// the layers, and reports the packages its vulnerability table lists; GET …/report answers 302 with
// Refresh-After until the scan is done. It records what it was sent and what the registry answered.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';

export const REPORT_TYPE = 'application/vnd.security.vulnerability.report; version=1.1';
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

/** What the adapter reports: apk package name and version → its vulnerabilities. */
export type VulnTable = Record<
  string,
  { id: string; severity: 'Critical' | 'High' | 'Medium' | 'Low' | 'Negligible' | 'Unknown'; fix?: string; score?: number }[]
>;

export interface ScanRecord {
  id: string;
  contentType: string;
  body: {
    registry: { url: string; authorization?: string };
    artifact: { repository: string; digest: string; mime_type: string };
    enabled_capabilities?: unknown;
  };
  /** Status of each registry request the adapter made while pulling ("GET /v2/…/manifests/… 200"). */
  pulls: string[];
  done: boolean;
  error?: string;
  report?: unknown;
  polls: number;
}

export class HarborAdapter {
  readonly scans: ScanRecord[] = [];
  /** Authorization headers Berth sent to the adapter's API. */
  readonly authorizations: (string | undefined)[] = [];
  dbUpdatedAt = '2026-12-01T00:00:00Z';
  /** Seconds the report answers 302 for before it is ready (0 = ready as soon as the pull is done). */
  refreshAfter = 1;
  url = '';
  private readonly server: http.Server;

  constructor(private readonly table: VulnTable) {
    this.server = http.createServer((req, res) => void this.handle(req, res).catch((err) => res.writeHead(500).end(String(err))));
  }

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.authorizations.push(req.headers.authorization);
    const json = (status: number, type: string, body: unknown): void => void res.writeHead(status, { 'content-type': type }).end(JSON.stringify(body));
    if (req.method === 'GET' && req.url === '/api/v1/metadata') {
      return json(200, 'application/vnd.scanner.adapter.metadata+json; version=1.1', {
        scanner: { name: 'Test Scanner', vendor: 'Berth tests', version: '1.2.3' },
        capabilities: [
          {
            type: 'vulnerability',
            consumes_mime_types: ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'],
            produces_mime_types: [REPORT_TYPE],
          },
        ],
        properties: { 'harbor.scanner-adapter/vulnerability-database-updated-at': this.dbUpdatedAt },
      });
    }
    if (req.method === 'POST' && req.url === '/api/v1/scan') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ScanRecord['body'];
      if (!body.registry?.url || !body.artifact?.repository || !body.artifact?.digest)
        return json(422, 'application/vnd.scanner.adapter.error+json; version=1.0', { error: { message: 'registry and artifact are required' } });
      const record: ScanRecord = { id: randomUUID(), contentType: String(req.headers['content-type']), body, pulls: [], done: false, polls: 0 };
      this.scans.push(record);
      void this.pullAndScan(record);
      return json(202, 'application/vnd.scanner.adapter.scan.response+json; version=1.0', { id: record.id });
    }
    const m = /^\/api\/v1\/scan\/([^/]+)\/report$/.exec(req.url ?? '');
    if (req.method === 'GET' && m) {
      const record = this.scans.find((s) => s.id === m[1]);
      if (!record) return void res.writeHead(404).end();
      record.polls++;
      if (!record.done || record.polls <= this.refreshAfterPolls()) return void res.writeHead(302, { 'Refresh-After': String(this.refreshAfter) }).end();
      if (record.error) return json(500, 'application/vnd.scanner.adapter.error+json; version=1.0', { error: { message: record.error } });
      assert.equal(req.headers.accept, REPORT_TYPE, 'the report is asked for in the type the adapter produces');
      return json(200, REPORT_TYPE, record.report);
    }
    res.writeHead(404).end();
  }

  /** The first poll always answers 302 when refreshAfter is set (so clients must honour it). */
  private refreshAfterPolls(): number {
    return this.refreshAfter > 0 ? 1 : 0;
  }

  /** Pulls the image as a registry client does, with the authorization it was given. */
  private async pullAndScan(record: ScanRecord): Promise<void> {
    const { registry, artifact } = record.body;
    const headers: Record<string, string> = registry.authorization ? { authorization: registry.authorization } : {};
    const get = async (path: string, accept?: string): Promise<Buffer> => {
      const res = await fetch(`${registry.url}${path}`, { headers: { ...headers, ...(accept ? { accept } : {}) } });
      record.pulls.push(`GET ${path} ${res.status}`);
      if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
      return Buffer.from(await res.arrayBuffer());
    };
    try {
      const manifestBytes = await get(`/v2/${artifact.repository}/manifests/${artifact.digest}`, ACCEPT);
      assert.equal(`sha256:${createHash('sha256').update(manifestBytes).digest('hex')}`, artifact.digest, 'the manifest pulled is the one asked for');
      const manifest = JSON.parse(manifestBytes.toString('utf8')) as { layers: { digest: string }[] };
      const installed: Record<string, string> = {};
      for (const layer of manifest.layers) {
        const bytes = await get(`/v2/${artifact.repository}/blobs/${layer.digest}`);
        assert.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, layer.digest);
        Object.assign(installed, await apkPackages(bytes));
      }
      const vulnerabilities = Object.entries(installed).flatMap(([name, version]) =>
        (this.table[`${name}@${version}`] ?? []).map((v) => ({
          id: v.id,
          package: name,
          version,
          ...(v.fix ? { fix_version: v.fix } : {}),
          severity: v.severity,
          description: `${v.id} in ${name}`,
          links: [`https://example.test/${v.id}`],
          ...(v.score ? { preferred_cvss: { score_v3: v.score } } : {}),
        })),
      );
      record.report = {
        generated_at: new Date().toISOString(),
        artifact: { repository: artifact.repository, digest: artifact.digest, mime_type: artifact.mime_type },
        scanner: { name: 'Test Scanner', vendor: 'Berth tests', version: '1.2.3' },
        severity: vulnerabilities.length ? 'High' : 'None',
        vulnerabilities,
      };
    } catch (err) {
      record.error = (err as Error).message;
    }
    record.done = true;
  }
}

/** name → version from lib/apk/db/installed in a gzipped layer. */
async function apkPackages(layer: Buffer): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        if (header.name.replace(/^\.?\//, '') === 'lib/apk/db/installed') {
          let name = '';
          for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
            if (line.startsWith('P:')) name = line.slice(2);
            if (line.startsWith('V:') && name) out[name] = line.slice(2);
          }
        }
        next();
      });
    });
    extract.on('finish', () => resolve());
    extract.on('error', reject);
  });
  Readable.from([layer]).pipe(createGunzip()).pipe(extract);
  await done;
  return out;
}
