// What a replication policy is made of, its defaults, and why a set of fields cannot be used
// (one place: the store refuses what this refuses, so no caller can store a policy the engine
// cannot run). Filters select repositories by full local name and tags by name, with picomatch
// globs as immutable-tag rules use them (src/registry/tag-rules.ts). Pure: no I/O.
import { globMatches, invalidGlob } from '../registry/tag-rules.js';
import { isValidRepositoryName } from '../oci/names.js';
import { REPLICATION_DIRECTIONS, REPLICATION_TRIGGERS, type ReplicationDirection, type ReplicationTrigger } from './schema.js';

export interface ReplicationFilter {
  /** Globs over full local repository names ("alice/**", "library/*", "**" for all). */
  repositories: string[];
  /** Globs over tags ("*" for all, "v1.*"). */
  tags: string[];
  excludeRepositories: string[];
  excludeTags: string[];
}

export interface ReplicationPolicyFields extends ReplicationFilter {
  name: string;
  /** push: from here to the remote; pull: from the remote to here. */
  direction: ReplicationDirection;
  /** Scheme, host and port ("https://registry.example.com"). */
  remoteUrl: string;
  remoteUsername: string | null;
  /** Remote name = `${remotePrefix}/${local name}`; '' = the same name. */
  remotePrefix: string;
  trigger: ReplicationTrigger;
  /** Between scheduled runs (ms); null (ignored when given) unless the trigger is 'schedule'. */
  intervalMs: number | null;
  /** Deletes here (push) or tags gone from the remote (pull) are replicated too. */
  replicateDeletes: boolean;
  enabled: boolean;
}

/** A new policy: name, direction and remote URL; the rest defaults (NEW_POLICY_DEFAULTS). */
export type NewReplicationPolicy = Pick<ReplicationPolicyFields, 'name' | 'direction' | 'remoteUrl'> &
  Partial<ReplicationPolicyFields> & {
    /** Stored sealed; never returned. */
    remotePassword?: string | null;
  };

/** A change: any fields; `remotePassword` undefined keeps the stored one, null removes it. */
export type ReplicationPolicyPatch = Partial<ReplicationPolicyFields> & { remotePassword?: string | null };

export const DEFAULT_INTERVAL_MS = 60 * 60_000;
export const MIN_INTERVAL_MS = 60_000;
export const MAX_INTERVAL_MS = 366 * 86_400_000;
const MAX_GLOBS = 20;
const NAME_RE = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;

/** The fields of a new policy with every default applied. */
export function withDefaults(p: NewReplicationPolicy): ReplicationPolicyFields {
  const trigger = p.trigger ?? (p.direction === 'pull' ? 'schedule' : 'event');
  return {
    name: p.name,
    direction: p.direction,
    remoteUrl: p.remoteUrl,
    remoteUsername: p.remoteUsername ?? null,
    repositories: p.repositories ?? ['**'],
    tags: p.tags ?? ['*'],
    excludeRepositories: p.excludeRepositories ?? [],
    excludeTags: p.excludeTags ?? [],
    remotePrefix: p.remotePrefix ?? '',
    trigger,
    intervalMs: trigger === 'schedule' ? (p.intervalMs ?? DEFAULT_INTERVAL_MS) : null,
    replicateDeletes: p.replicateDeletes ?? false,
    enabled: p.enabled ?? true,
  };
}

/** The remote's base URL as stored (no trailing slash), or why it cannot be one. */
export function normalizeRemoteUrl(raw: string): string | { error: string } {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return { error: `remoteUrl "${raw.slice(0, 200)}" is not a URL` };
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return { error: 'remoteUrl must be an http or https URL' };
  if (u.username || u.password) return { error: 'remoteUrl must not hold credentials: set remoteUsername and remotePassword' };
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash)
    return { error: "remoteUrl is the registry's address only (scheme, host and port), without a path, query or fragment" };
  return `${u.protocol}//${u.host}`;
}

function globsError(list: unknown, kind: 'repositories' | 'tags', field: string, min: number): string | null {
  if (!Array.isArray(list) || list.length < min || list.length > MAX_GLOBS) return `${field} is a list of ${min} to ${MAX_GLOBS} patterns`;
  for (const g of list) {
    if (typeof g !== 'string') return `${field} holds strings`;
    const why = invalidGlob(g, kind);
    if (why) return `${field}: ${why}`;
  }
  return null;
}

/** Why the fields cannot make a policy, or null. Credentials are checked by the store (they need its sealer). */
export function invalidPolicy(f: ReplicationPolicyFields): string | null {
  if (typeof f.name !== 'string' || !NAME_RE.test(f.name))
    return 'name has 1 to 64 lowercase letters, digits, ".", "_" or "-", starting and ending with a letter or digit';
  if (!REPLICATION_DIRECTIONS.includes(f.direction)) return 'direction is "push" or "pull"';
  const url = normalizeRemoteUrl(f.remoteUrl);
  if (typeof url !== 'string') return url.error;
  if (f.remoteUsername !== null && (typeof f.remoteUsername !== 'string' || f.remoteUsername.length === 0 || f.remoteUsername.length > 255))
    return 'remoteUsername has 1 to 255 characters';
  const globs =
    globsError(f.repositories, 'repositories', 'repositories', 1) ??
    globsError(f.tags, 'tags', 'tags', 1) ??
    globsError(f.excludeRepositories, 'repositories', 'excludeRepositories', 0) ??
    globsError(f.excludeTags, 'tags', 'excludeTags', 0);
  if (globs) return globs;
  if (f.remotePrefix !== '' && (typeof f.remotePrefix !== 'string' || !isValidRepositoryName(f.remotePrefix) || f.remotePrefix.length > 200))
    return 'remotePrefix is empty or the path components of a repository name ("mirror" or "team/mirror")';
  if (!REPLICATION_TRIGGERS.includes(f.trigger)) return 'trigger is "event", "schedule" or "manual"';
  if (f.direction === 'pull' && f.trigger === 'event') return 'a pull policy runs on a schedule or manually (the remote sends no events)';
  if (f.trigger === 'schedule') {
    if (!Number.isInteger(f.intervalMs) || (f.intervalMs as number) < MIN_INTERVAL_MS || (f.intervalMs as number) > MAX_INTERVAL_MS)
      return `intervalMs of a scheduled policy is ${MIN_INTERVAL_MS} (a minute) to ${MAX_INTERVAL_MS} (a year)`;
  }
  if (typeof f.replicateDeletes !== 'boolean' || typeof f.enabled !== 'boolean') return 'replicateDeletes and enabled are booleans';
  return null;
}

/** Whether the filter selects the repository (its full local name). */
export function repositoryWanted(f: ReplicationFilter, repository: string): boolean {
  return f.repositories.some((g) => globMatches(g, repository)) && !f.excludeRepositories.some((g) => globMatches(g, repository));
}

/** Whether the filter selects the tag. */
export function tagWanted(f: ReplicationFilter, tag: string): boolean {
  return f.tags.some((g) => globMatches(g, tag)) && !f.excludeTags.some((g) => globMatches(g, tag));
}

/** The remote repository of a local one. */
export function remoteName(prefix: string, local: string): string {
  return prefix ? `${prefix}/${local}` : local;
}

/** The local repository of a remote one, or null when it is not under the prefix. */
export function localName(prefix: string, remote: string): string | null {
  if (!prefix) return remote;
  return remote.startsWith(`${prefix}/`) ? remote.slice(prefix.length + 1) : null;
}
