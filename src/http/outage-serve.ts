// Pulls while the database is down (docs/operations.md): a manifest or blob GET/HEAD whose normal
// path failed with "database unavailable" is answered from the outage cache
// (registry/outage-cache.ts) when this replica served it recently; otherwise the 503 stands.
//
// The caller's access was decided before the handler ran, by the same AccessControl as always,
// and without the database: a registry token is checked against its signature, its grants, and
// the revocations this process holds (no revocation can be written while the database is down);
// htpasswd against its file; open mode allows all. A request whose access needs the database
// (an unknown signing key) fails before it gets here. The pull gate is not run again: the cache
// holds only what it let through, for whom it let it through.
import { RegistryError } from '../errors/catalog.js';
import type { DependencyUnavailableError } from '../errors/unavailable.js';
import { matchesDigest } from '../registry/outage-cache.js';
import { parseLookupReference } from '../registry/manifests.js';
import { digestParam, sendBlob } from './blob-routes.js';
import type { RegistryContext, V2Request } from './context.js';
import { sendManifest } from './manifest-routes.js';

/** Answers the request from the outage cache and resolves true, or resolves false (the caller rethrows `down`). */
export async function serveDuringOutage(
  ctx: RegistryContext,
  resource: 'manifest' | 'blob',
  r: V2Request,
  head: boolean,
  down: DependencyUnavailableError,
): Promise<boolean> {
  const outage = ctx.outage;
  if (!outage?.cache.enabled || down.part !== 'database') return false;
  if (resource === 'blob') {
    const digest = digestParam(r.param);
    const size = outage.cache.blob(r.name, digest.value);
    if (size === undefined) return false;
    // The bytes come from storage: they must still be there, at the size the database recorded.
    const stored = await ctx.blobs.storedSize(digest);
    if (stored === null) {
      outage.cache.forgetBlob(r.name, digest.value);
      throw new RegistryError('BLOB_UNKNOWN', 'blob content is missing from storage', { detail: { digest: digest.value } });
    }
    if (stored !== size) return false;
    r.req.log.info({ repository: r.name, digest: digest.value }, 'database unavailable: blob served from the outage cache');
    await sendBlob(ctx, r, digest, size, head);
    return true;
  }
  const ref = parseLookupReference(r.param);
  const m = outage.cache.manifest(r.name, ref);
  if (!m || (m.onlyFor !== null && m.onlyFor !== (r.req.user ?? null))) return false;
  let body: Buffer | undefined;
  if (!head) {
    body = m.body ?? (await ctx.manifests.body({ id: 0, digest: m.digest, mediaType: m.mediaType, size: m.size }).catch(() => undefined));
    if (!body || body.length !== m.size || !matchesDigest(body, m.digest)) {
      outage.cache.forgetManifest(r.name, m.digest);
      return false;
    }
  }
  r.req.log.info({ repository: r.name, digest: m.digest }, 'database unavailable: manifest served from the outage cache');
  sendManifest(ctx, r, m, body);
  return true;
}
