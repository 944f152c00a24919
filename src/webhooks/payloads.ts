// The three payload formats a webhook may choose: Docker Hub's, the distribution
// (registry:2) notification envelope, and a CloudEvents 1.0 structured JSON event.
import { namespaceOf } from '../auth/policy.js';
import type { RegistryEvent } from '../registry/events.js';
import type { WebhookFormat } from './schema.js';

export const DISTRIBUTION_EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v2+json';
export const CLOUDEVENTS_MEDIA_TYPE = 'application/cloudevents+json; charset=utf-8';
export const JSON_MEDIA_TYPE = 'application/json';

export interface PayloadContext {
  /** External base URL (http.host), "" when unknown: URLs are then relative. */
  baseUrl: string;
  /** This process, for the distribution envelope's `source`. */
  source: { addr: string; instanceID: string };
}

export interface RepositoryInfo {
  visibility: 'public' | 'private';
  /** ms since the epoch, or null when unknown. */
  createdAt: number | null;
}

export interface Rendered {
  body: string;
  contentType: string;
}

export function contentTypeOf(format: WebhookFormat): string {
  return format === 'distribution' ? DISTRIBUTION_EVENTS_MEDIA_TYPE : format === 'cloudevents' ? CLOUDEVENTS_MEDIA_TYPE : JSON_MEDIA_TYPE;
}

export function render(format: WebhookFormat, e: RegistryEvent, eventId: string, repo: RepositoryInfo, ctx: PayloadContext): Rendered {
  const body =
    format === 'distribution' ? distribution(e, eventId, ctx) : format === 'cloudevents' ? cloudEvent(e, eventId, repo, ctx) : dockerHub(e, repo, ctx);
  return { body: JSON.stringify(body), contentType: contentTypeOf(format) };
}

const seconds = (ms: number) => Math.floor(ms / 1000);
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Docker Hub's shape (push_data + repository). Docker Hub only sends pushes; other
 * events keep the shape and add `event` (and `tag`/`digest` in `push_data` as known).
 */
function dockerHub(e: RegistryEvent, repo: RepositoryInfo, ctx: PayloadContext): object {
  const ns = namespaceOf(e.repository);
  const name = e.repository.slice(ns.length + 1) || e.repository;
  return {
    ...(e.type === 'push' ? {} : { event: e.type }),
    ...(e.quota ? { quota: e.quota } : {}),
    ...(e.retention ? { retention: e.retention } : {}),
    ...(e.signature ? { signature: e.signature } : {}),
    push_data: {
      pushed_at: seconds(e.at),
      pusher: e.actor ?? '',
      tag: e.tag ?? null,
      images: e.digest ? [e.digest] : [],
      ...(e.digest ? { digest: e.digest } : {}),
      ...(e.mediaType ? { media_type: e.mediaType } : {}),
    },
    repository: {
      repo_name: e.repository,
      namespace: ns,
      name,
      owner: ns,
      repo_url: `${ctx.baseUrl}/${e.repository}`,
      is_private: repo.visibility === 'private',
      is_official: false,
      is_trusted: false,
      status: 'Active',
      date_created: repo.createdAt === null ? null : seconds(repo.createdAt),
      description: '',
      full_description: '',
      star_count: 0,
      comment_count: 0,
      dockerfile: '',
    },
  };
}

function action(e: RegistryEvent): string {
  if (e.type === 'push') return 'push';
  if (e.type === 'repository.create') return 'create';
  if (e.type === 'quota.warning') return 'quota.warning';
  if (e.type === 'signature.failed') return 'signature.failed';
  return 'delete';
}

/** registry:2's envelope: {"events":[…]} with one event. */
function distribution(e: RegistryEvent, eventId: string, ctx: PayloadContext): object {
  const target: Record<string, unknown> = { repository: e.repository };
  if (e.mediaType) target.mediaType = e.mediaType;
  if (e.size !== undefined) {
    target.size = e.size;
    target.length = e.size;
  }
  if (e.digest) {
    target.digest = e.digest;
    target.url = `${ctx.baseUrl}/v2/${e.repository}/manifests/${e.digest}`;
  }
  if (e.tag) target.tag = e.tag;
  const host = ctx.baseUrl ? new URL(ctx.baseUrl).host : '';
  return {
    events: [
      {
        id: eventId,
        timestamp: iso(e.at),
        action: action(e),
        target,
        request: {
          id: eventId,
          addr: e.address ?? '',
          host,
          method: e.type === 'signature.failed' ? 'GET' : e.type === 'push' || e.type === 'repository.create' || e.type === 'quota.warning' ? 'PUT' : 'DELETE',
          useragent: '',
        },
        actor: { name: e.actor ?? '' },
        source: ctx.source,
        ...(e.quota ? { quota: e.quota } : {}),
        ...(e.retention ? { retention: e.retention } : {}),
        ...(e.signature ? { signature: e.signature } : {}),
      },
    ],
  };
}

/** CloudEvents 1.0, structured content mode (JSON event format). */
function cloudEvent(e: RegistryEvent, eventId: string, repo: RepositoryInfo, ctx: PayloadContext): object {
  const subject = e.tag ? `${e.repository}:${e.tag}` : e.digest ? `${e.repository}@${e.digest}` : e.repository;
  return {
    specversion: '1.0',
    id: eventId,
    source: `${ctx.baseUrl || 'berth:'}/${e.repository}`,
    type: `io.berth.${e.type}`,
    time: iso(e.at),
    subject,
    datacontenttype: 'application/json',
    data: {
      repository: e.repository,
      namespace: namespaceOf(e.repository),
      visibility: repo.visibility,
      tag: e.tag ?? null,
      digest: e.digest ?? null,
      mediaType: e.mediaType ?? null,
      artifactType: e.artifactType ?? null,
      size: e.size ?? null,
      actor: e.actor,
      ...(e.quota ? { quota: e.quota } : {}),
      ...(e.retention ? { retention: e.retention } : {}),
      ...(e.signature ? { signature: e.signature } : {}),
      ...(e.type === 'push' && e.digest ? { url: `${ctx.baseUrl}/v2/${e.repository}/manifests/${e.digest}` } : {}),
    },
  };
}
