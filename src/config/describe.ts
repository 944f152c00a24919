// Short descriptions of what a configuration uses, for the start-up log and error
// messages. They never contain a secret: passwords and keys are left out, URLs lose
// their password and any secret-looking query parameter.
import path from 'node:path';
import type { BerthConfig } from './types.js';

/** "none", "htpasswd ./htpasswd", "token, built-in issuer" or "token, external issuer …". */
export function describeAuth(c: BerthConfig): string {
  const a = c.auth;
  if (a?.htpasswd) return `htpasswd ${a.htpasswd.path}`;
  const t = a?.token;
  if (!t) return 'none (anyone may pull and push)';
  if (t.builtin) return `token, built-in issuer "${t.issuer}"${t.jwks || t.rootcertbundle ? ' (also trusting an external issuer)' : ''}`;
  const keys = t.jwks ? `keys from ${/^https?:/.test(t.jwks) ? redactUrl(t.jwks) : t.jwks}` : `certificates from ${t.rootcertbundle}`;
  return `token, external issuer "${t.issuer}" at ${t.realm ? redactUrl(t.realm) : '(no realm)'}, ${keys}`;
}

/** "filesystem /data" or "S3 bucket berth at http://rgw:7480 under registry/". */
export function describeStorage(c: BerthConfig): string {
  const s3 = c.storage.s3;
  const where = s3
    ? `S3 bucket ${s3.bucket} at ${s3.regionendpoint ? redactUrl(s3.regionendpoint) : `region ${s3.region}`}${s3.rootdirectory ? ` under ${s3.rootdirectory}` : ''}`
    : `filesystem ${c.storage.filesystem.rootdirectory}`;
  return c.storage.maintenance.readonly.enabled ? `${where} (read-only)` : where;
}

/** "PostgreSQL postgres://berth@db:5432/berth" or "SQLite /data/berth.db" (always an absolute path). */
export function describeDatabase(c: BerthConfig): string {
  const pg = c.metadata.postgres;
  return pg ? `PostgreSQL ${redactUrl(pg.url)}` : `SQLite ${path.resolve(c.metadata.sqlite.path)}`;
}

/**
 * A warning when the blobs go to an object store but the metadata to a SQLite file found relative to the
 * working directory (the default `./data/berth.db`): in a container that file is lost with the container,
 * and the blobs in the bucket are then unreachable. Undefined when there is nothing to warn about.
 */
export function databaseWarning(c: BerthConfig): string | undefined {
  if (!c.storage.s3 || c.metadata.postgres || path.isAbsolute(c.metadata.sqlite.path)) return undefined;
  return (
    `the metadata database is SQLite at ${path.resolve(c.metadata.sqlite.path)}, a path relative to the working directory ` +
    `(${c.metadata.sqlite.path}), while blobs go to S3: unless that directory is persistent, tags and manifests are lost ` +
    'when the container is replaced. Set metadata.sqlite.path (REGISTRY_METADATA_SQLITE_PATH) to an absolute path on a ' +
    'volume, or use PostgreSQL (REGISTRY_METADATA=postgres)'
  );
}

/** Where the web UI is for a server reachable at `base`, or why there is none. */
export function describeUi(c: BerthConfig, base: string, clientBuilt: boolean): string {
  const t = c.auth?.token;
  if (!t)
    return `none: the UI needs token auth with the built-in issuer (REGISTRY_AUTH=token), this server has ${c.auth?.htpasswd ? 'htpasswd auth' : 'no auth'}`;
  if (!t.builtin) return 'none: the accounts belong to the external token issuer (auth.token.builtin: false)';
  if (!clientBuilt) return 'none: the UI client is not built (npm run build)';
  return `${base}/ui/`;
}

/** "" without a mirror; "registry:2 proxy of https://…" or "hub → https://… (default), ghcr → https://…". */
export function describeMirror(c: BerthConfig): string {
  const parts = Object.entries(c.mirror.upstreams).map(([name, u]) => `${name} → ${redactUrl(u.url)}${u.default ? ' (default)' : ''}`);
  if (c.proxy) parts.unshift(`registry:2 proxy of ${redactUrl(c.proxy.remoteurl)}`);
  return parts.join(', ');
}

const SECRET_PARAM = /pass|secret|key|token|cert/i;

/** The URL without its password or secret-looking query parameters; never the input when it cannot be parsed. */
export function redactUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return '(unparsable URL)';
  }
  if (u.password) u.password = '';
  for (const name of [...u.searchParams.keys()]) if (SECRET_PARAM.test(name)) u.searchParams.set(name, 'redacted');
  return u.toString();
}
