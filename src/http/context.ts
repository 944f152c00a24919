// What the HTTP handlers receive: the registry services plus a few settings.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuditEntry } from '../metadata/accounts/audit-log.js';
import type { AccessControl } from '../auth/registry-access.js';
import type { BlobService } from '../registry/blobs.js';
import type { ListingService } from '../registry/listing.js';
import type { ManifestService } from '../registry/manifests.js';
import type { UploadService } from '../registry/uploads.js';
import type { MirrorService } from '../mirror/service.js';
import type { MirrorTarget } from '../mirror/routing.js';
import type { PullCheck } from '../registry/pull-gate.js';
import type { OutageCache } from '../registry/outage-cache.js';
import type { StorageHealth } from '../health/storage-health.js';

export interface RegistryContext {
  access: AccessControl;
  /** Records deletes in the audit log (with accounts). */
  audit?: (entry: AuditEntry) => Promise<void>;
  blobs: BlobService;
  uploads: UploadService;
  manifests: ManifestService;
  listing: ListingService;
  deleteEnabled: boolean;
  readOnly: boolean;
  manifestLimit: number;
  /** External base URL ("" = build from the request). */
  baseUrl: string;
  /** The pull-through cache (docs/mirror.md), when upstreams are configured. */
  mirror?: MirrorService;
  /** Called for each manifest GET (not HEAD): pull counts and last pull times. */
  onPull?: (repository: string, digest: string) => void;
  /** Content policies a manifest must pass before it is served (registry/pull-gate.ts); empty = none. */
  pullChecks?: PullCheck[];
  /** Pulls this replica served recently, answered from memory while the database is down (http/outage-serve.ts). */
  outage?: { cache: OutageCache; gateExempt: string | null };
  /** Whether the object store works: no redirects to it while it fails (health/storage-health.ts). */
  storageHealth?: StorageHealth;
}

/** A parsed /v2 request: the repository, the rest of the path, and the query. */
export interface V2Request {
  req: FastifyRequest;
  reply: FastifyReply;
  name: string;
  /** Second path parameter (digest, reference or upload id), when the route has one. */
  param: string;
  query: URLSearchParams;
  /** Set for a mirrored name: `name` is then the cache's repository, `requested` the name in the URL. */
  mirror?: MirrorTarget;
  requested?: string;
}

/** Absolute URL for a path, from the configured base or the request's Host (every client accepts these). */
export function absoluteUrl(ctx: RegistryContext, req: FastifyRequest, path: string): string {
  if (ctx.baseUrl) return ctx.baseUrl + path;
  const proto = req.protocol;
  const host = req.host || 'localhost';
  return `${proto}://${host}${path}`;
}
