// Talking to Berth from the browser: the REST API (/api/v1) and the UI's own endpoints
// (/ui/session, /ui/api/*), always with the session's CSRF token in X-Berth-CSRF (the
// API accepts the session cookie only with it), plus small formatting helpers.

import type { SignatureSummary } from './signatures.js';
import type { VulnerabilitySummary } from './vulnerabilities.js';

export const CSRF_HEADER = 'X-Berth-CSRF';

export interface User {
  name: string;
  email: string | null;
  admin: boolean;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

let csrf = '';
let sessionEnded: () => void = () => {};

export function setCsrf(token: string): void {
  csrf = token;
}
export function onSessionEnded(fn: () => void): void {
  sessionEnded = fn;
}

export async function request<T = unknown>(method: string, url: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { [CSRF_HEADER]: csrf || 'anonymous', Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, { method, headers, body: body !== undefined ? JSON.stringify(body) : undefined, credentials: 'same-origin' });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: { errors?: { message?: string; code?: string }[] } | undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!res.ok) {
    const e = data?.errors?.[0];
    if (res.status === 401 && csrf) {
      csrf = '';
      sessionEnded();
    }
    throw new ApiError(res.status, e?.message || res.statusText || `HTTP ${res.status}`, e?.code);
  }
  return data as T;
}

const API = '/api/v1';

/** A download through the API (with the CSRF header, so private repositories work): the body and its file name. */
export async function download(path: string): Promise<{ blob: Blob; type: string }> {
  const res = await fetch(API + path, { headers: { [CSRF_HEADER]: csrf || 'anonymous' }, credentials: 'same-origin' });
  if (!res.ok) {
    let message = res.statusText || `HTTP ${res.status}`;
    try {
      message = (JSON.parse(await res.text()) as { errors?: { message?: string }[] }).errors?.[0]?.message || message;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, message);
  }
  return { blob: await res.blob(), type: res.headers.get('content-type') ?? 'application/octet-stream' };
}
export const api = {
  get: <T = unknown>(path: string) => request<T>('GET', API + path),
  post: <T = unknown>(path: string, body?: unknown) => request<T>('POST', API + path, body ?? {}),
  put: <T = unknown>(path: string, body?: unknown) => request<T>('PUT', API + path, body),
  patch: <T = unknown>(path: string, body?: unknown) => request<T>('PATCH', API + path, body ?? {}),
  del: <T = unknown>(path: string) => request<T>('DELETE', API + path),
};

export const ui = {
  session: () => request<{ user: User | null; csrf?: string }>('GET', '/ui/session'),
  signIn: (username: string, password: string) => request<{ user: User; csrf: string }>('POST', '/ui/session', { username, password }),
  signOut: () => request<void>('DELETE', '/ui/session'),
  tags: (repository: string, page: number, n = 25) => request<TagsReply>('GET', `/ui/api/tags?${qs({ repository, page: String(page), n: String(n) })}`),
  manifest: (repository: string, reference: string) => request<ManifestReply>('GET', `/ui/api/manifest?${qs({ repository, reference })}`),
  /** `:tag` or `@digest` for the repository's pull command; null when nothing was pushed. */
  pull: (repository: string) => request<{ repository: string; reference: string | null }>('GET', `/ui/api/pull?${qs({ repository })}`),
};

export interface TagRow {
  name: string;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
  platforms: string[];
  pushedAt: number;
  /** The immutable-tag rule that keeps the tag where it is, if any. */
  immutableRule: string | null;
  /** Signature status of the tag's image (signatures.tsx), when the server checks signatures. */
  signature?: SignatureSummary;
  /** Vulnerability counts of the tag's image (vulnerabilities.tsx), when the server scans. */
  vulnerabilities?: VulnerabilitySummary;
}
export interface TagsReply {
  repository: string;
  page: number;
  pageSize: number;
  total: number;
  tags: TagRow[];
}
export interface Desc {
  mediaType: string | null;
  digest: string | null;
  size: number | null;
  artifactType: string | null;
  platform: string | null;
  annotations: Record<string, string> | null;
}
export interface ManifestReply {
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  totalSize: number;
  artifactType: string | null;
  subject: string | null;
  pushedAt: number | null;
  tags: string[];
  platforms: string[];
  annotations: Record<string, string> | null;
  config: Desc | null;
  layers: Desc[];
  children: Desc[];
  referrers: { digest: string; mediaType: string; size: number; artifactType: string | null; annotations: Record<string, string> | null }[];
  raw: string | null;
}

export interface HistoryEntry {
  id: number;
  tag: string;
  action: 'push' | 'delete' | 'restore';
  digest: string | null;
  previousDigest: string | null;
  actor: string | null;
  at: number;
  restorable: boolean;
}
export interface ImmutableRule {
  name: string;
  namespace: string;
  repositories: string;
  tags: string;
  excludeRepositories: string[];
  excludeTags: string[];
  createdBy: string | null;
  createdAt: number;
  updatedAt: number;
}

export function qs(params: Record<string, string | undefined | null | false>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== false && v !== '') u.set(k, v);
  return u.toString();
}

// ---- formatting ----

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function count(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
export function ago(ms: number | null | undefined): string {
  if (!ms) return 'never';
  const s = (ms - Date.now()) / 1000;
  const steps: [number, Intl.RelativeTimeFormatUnit][] = [
    [60, 'second'],
    [60, 'minute'],
    [24, 'hour'],
    [30, 'day'],
    [12, 'month'],
    [Infinity, 'year'],
  ];
  let v = s;
  for (const [size, unit] of steps) {
    if (Math.abs(v) < size) return rtf.format(Math.round(v), unit);
    v /= size;
  }
  return new Date(ms).toLocaleDateString();
}

export function fullTime(ms: number | null | undefined): string {
  return ms ? new Date(ms).toLocaleString() : '';
}

export function shortDigest(d: string): string {
  const i = d.indexOf(':');
  return i >= 0 ? d.slice(i + 1, i + 13) : d.slice(0, 12);
}

/** host[:port] to put in pull commands. */
export function registryHost(): string {
  return location.host;
}

/** The server has no such API route: a feature it does not run (scanning turned off), not a failure. */
export function isNoEndpoint(err: unknown): boolean {
  return err instanceof ApiError && err.status === 404 && err.message === 'no such endpoint';
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  return err instanceof Error ? err.message : String(err);
}
