// Handlers for manifests, tag lists, the catalog and referrers.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../errors/catalog.js';
import { OCI_INDEX } from '../oci/media-types.js';
import { parseLookupReference, parseReference } from '../registry/manifests.js';
import { checkPull } from '../registry/pull-gate.js';
import { paginateList, referrersIndex, type Page } from '../registry/listing.js';
import { digestParam } from './blob-routes.js';
import { readLimited } from './body.js';
import { absoluteUrl, type RegistryContext, type V2Request } from './context.js';

export async function getManifest(ctx: RegistryContext, r: V2Request, head: boolean): Promise<void> {
  const ref = parseLookupReference(r.param);
  const row = r.mirror && ctx.mirror ? await ctx.mirror.manifest(r.mirror, ref) : await ctx.manifests.resolve(r.name, ref);
  const actor = r.req.user ?? null;
  if (ctx.pullChecks?.length) {
    try {
      await checkPull(ctx.pullChecks, {
        repository: r.name,
        digest: row.digest,
        mediaType: row.mediaType,
        tag: 'tag' in ref ? ref.tag : undefined,
        actor,
        head,
      });
    } catch (err) {
      // Refused now: never served from the outage cache either.
      if (err instanceof RegistryError && err.code === 'DENIED') ctx.outage?.cache.forgetManifest(r.name, row.digest);
      throw err;
    }
  }
  const body = head ? undefined : await ctx.manifests.body(row);
  // What was just served, for pulls while the database is down (registry/outage-cache.ts).
  ctx.outage?.cache.rememberManifest(r.name, 'tag' in ref ? ref.tag : undefined, {
    digest: row.digest,
    mediaType: row.mediaType,
    size: row.size,
    onlyFor: actor !== null && actor === ctx.outage.gateExempt ? actor : null,
    ...(body ? { body } : {}),
  });
  sendManifest(ctx, r, row, body);
}

/** The answer to a manifest GET (with `body`) or HEAD (without). */
export function sendManifest(ctx: RegistryContext, r: V2Request, row: { digest: string; mediaType: string; size: number }, body: Buffer | undefined): void {
  const { reply } = r;
  reply
    .code(200)
    .header('Content-Type', row.mediaType)
    .header('Docker-Content-Digest', row.digest)
    .header('ETag', `"${row.digest}"`)
    .header('Content-Length', row.size);
  if (!body) return void reply.send();
  ctx.onPull?.(r.name, row.digest);
  reply.send(body);
}

export async function putManifest(ctx: RegistryContext, r: V2Request): Promise<void> {
  const ref = parseReference(r.param);
  const body = await readLimited(r.req.raw, ctx.manifestLimit);
  const result = await ctx.manifests.put(r.name, ref, r.req.headers['content-type'], body, r.query.getAll('tag'), {
    actor: r.req.user ?? null,
    address: r.req.ip,
  });
  const { reply } = r;
  reply
    .code(201)
    .header('Location', absoluteUrl(ctx, r.req, `/v2/${r.name}/manifests/${result.digest}`))
    .header('Docker-Content-Digest', result.digest)
    .header('Content-Length', 0);
  if (result.subject) reply.header('OCI-Subject', result.subject);
  if (result.tags.length > 0) reply.header('OCI-Tag', result.tags);
  reply.send();
}

export async function deleteManifest(ctx: RegistryContext, r: V2Request): Promise<void> {
  if (!ctx.deleteEnabled) throw new RegistryError('UNSUPPORTED', 'deletes are disabled on this registry');
  await ctx.manifests.delete(r.name, parseLookupReference(r.param), { actor: r.req.user ?? null, address: r.req.ip });
  // Audited before the client hears 202.
  await ctx.audit?.({ actor: r.req.user ?? null, action: 'manifest.delete', target: `${r.name}@${r.param}`, address: r.req.ip });
  r.reply.code(202).header('Content-Length', 0).send();
}

export async function listTags(ctx: RegistryContext, r: V2Request): Promise<void> {
  const n = pageSize(r.query);
  const last = r.query.get('last') ?? undefined;
  // A mirrored repository lists the upstream's tags and the cached ones, under the name asked for.
  const page = r.mirror && ctx.mirror ? await paginateList(await ctx.mirror.tags(r.mirror), n, last) : await ctx.listing.tags(r.name, n, last);
  const name = r.requested ?? r.name;
  sendPage(r.reply, `/v2/${name}/tags/list`, n, page, { name, tags: page.items });
}

export async function catalog(ctx: RegistryContext, req: FastifyRequest, reply: FastifyReply, query: URLSearchParams): Promise<void> {
  const n = pageSize(query);
  const viewer = await ctx.access.catalogViewer(req);
  const page = await ctx.listing.catalog(n, query.get('last') ?? undefined, viewer);
  sendPage(reply, '/v2/_catalog', n, page, { repositories: page.items });
}

export async function referrers(ctx: RegistryContext, r: V2Request): Promise<void> {
  const subject = digestParam(r.param);
  const artifactType = r.query.get('artifactType') ?? undefined;
  const cached = await ctx.listing.referrerDescriptors(r.name, subject.value, artifactType);
  const index = referrersIndex(r.mirror && ctx.mirror ? await ctx.mirror.referrers(r.mirror, subject.value, cached, artifactType) : cached);
  if (artifactType !== undefined) r.reply.header('OCI-Filters-Applied', 'artifactType');
  // A Buffer, not a string: Fastify would append "; charset=utf-8" to the media type.
  r.reply
    .code(200)
    .header('Content-Type', OCI_INDEX)
    .send(Buffer.from(JSON.stringify(index)));
}

function pageSize(query: URLSearchParams): number | undefined {
  const raw = query.get('n');
  if (raw === null || raw === '') return undefined;
  if (!/^\d{1,9}$/.test(raw))
    throw new RegistryError('PAGINATION_NUMBER_INVALID', `invalid page size "${raw.slice(0, 20)}"`, { detail: { n: raw.slice(0, 20) } });
  return Number(raw);
}

function sendPage(reply: FastifyReply, path: string, n: number | undefined, page: Page, body: object): void {
  if (page.next !== undefined) {
    const params = new URLSearchParams({ ...(n !== undefined ? { n: String(n) } : {}), last: page.next });
    reply.header('Link', `<${path}?${params}>; rel="next"`);
  }
  reply.code(200).header('Content-Type', 'application/json').send(JSON.stringify(body));
}
