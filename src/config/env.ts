// registry:2-style environment overrides: REGISTRY_HTTP_TLS_KEY=... sets
// http.tls.key. The variable name is resolved by walking the schema's keys
// (which never contain "_"), so new config keys get env support for free.
// NAME_FILE=/path sets the key NAME names to the file's content (Docker and Kubernetes secrets).
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { unreadableFile } from './files.js';

// BERTH_ is processed after REGISTRY_, so it wins when both set a key.
const PREFIXES = ['REGISTRY_', 'BERTH_'] as const;

/**
 * Variables other software sets in the same environment that must not be
 * treated as config: podman's REGISTRY_AUTH_FILE, our own BERTH_CONFIG, and
 * Kubernetes service links for a Service named "registry" or "berth"
 * (REGISTRY_PORT, REGISTRY_PORT_5000_TCP_ADDR, BERTH_SERVICE_HOST, ...).
 */
export function isIgnoredEnvVar(name: string): boolean {
  if (name === 'REGISTRY_AUTH_FILE' || name === 'BERTH_CONFIG') return true;
  return /^(REGISTRY|BERTH)_(PORT|SERVICE_)/.test(name);
}

/** Strips wrappers (default, optional, effects, pipelines) down to the core type. */
function unwrap(schema: z.ZodTypeAny): z.ZodTypeAny {
  for (;;) {
    if (schema instanceof z.ZodDefault) schema = schema._def.innerType;
    else if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) schema = schema.unwrap();
    else if (schema instanceof z.ZodEffects) schema = schema.innerType();
    else if (schema instanceof z.ZodPipeline) schema = schema._def.in;
    else return schema;
  }
}

type Tree = Record<string, unknown>;

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Returns the child mapping at `key`, creating (or replacing a non-mapping) as needed. */
function child(tree: Tree, key: string): Tree {
  const existing = tree[key];
  if (isTree(existing)) return existing;
  const created: Tree = {};
  tree[key] = created;
  return created;
}

/**
 * Env values are YAML scalars ("true" -> true, "5" -> 5), except for string
 * fields, which take the text verbatim so "0123" or "a #b" survive intact.
 */
function envValue(raw: string, leaf: z.ZodTypeAny): unknown {
  if (leaf instanceof z.ZodString || raw === '') return raw;
  try {
    const v: unknown = YAML.parse(raw);
    return v === null || typeof v === 'object' ? raw : v;
  } catch {
    return raw;
  }
}

/**
 * Applies REGISTRY_* / BERTH_* variables onto the raw (pre-validation) config
 * tree in place. Returns dotted key path -> variable name, so validation
 * errors can say which variable supplied a bad value. Throws ConfigError
 * listing every variable that does not map to a key.
 */
export function applyEnvOverrides(tree: Tree, env: NodeJS.ProcessEnv, schema: z.ZodObject<z.ZodRawShape>): Map<string, string> {
  const vars: { name: string; segments: string[]; value: string; rank: number; file?: string }[] = [];
  const errors: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || isIgnoredEnvVar(name)) continue;
    const rank = PREFIXES.findIndex((p) => name.startsWith(p));
    if (rank < 0) continue;
    let segments = name.slice(PREFIXES[rank].length).toLowerCase().split('_');
    // BERTH_ is also the natural prefix for unrelated tooling (BERTH_E2E_TARGET, ...):
    // only variables naming a top-level config section are config, so typos there still fail.
    if (PREFIXES[rank] === 'BERTH_' && !(segments[0] in schema.shape)) continue;
    // X_FILE: the value of X from a file, unless X_FILE names a key itself. Tried on a scratch tree.
    if (segments.length > 1 && segments.at(-1) === 'file' && applyOne({}, schema, segments, value) === UNKNOWN_KEY) {
      segments = segments.slice(0, -1);
      try {
        vars.push({ name, segments, value: fileValue(readFileSync(value, 'utf8')), rank, file: value });
      } catch (err) {
        errors.push(unreadableFile(name, value, err).message);
      }
      continue;
    }
    vars.push({ name, segments, value, rank });
  }
  // X and X_FILE both set: which one was meant is not ours to guess.
  const direct = new Map(vars.filter((v) => !v.file).map((v) => [v.segments.join('.'), v.name]));
  for (const v of vars) {
    const other = v.file ? direct.get(v.segments.join('.')) : undefined;
    if (other) errors.push(`${v.name}: ${other} sets the same key; set one of them`);
  }
  // Shallow first so REGISTRY_AUTH=htpasswd is applied before
  // REGISTRY_AUTH_HTPASSWD_PATH; then REGISTRY_ before BERTH_.
  // Names compared by code point, not localeCompare (which maps ICU's collation data, ~3 MiB resident).
  vars.sort((a, b) => a.segments.length - b.segments.length || a.rank - b.rank || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const sources = new Map<string, string>();
  for (const v of vars) {
    const err = applyOne(tree, schema, v.segments, v.value);
    if (err) errors.push(`${v.name}: ${err}`);
    else sources.set(v.segments.join('.'), v.name);
  }
  if (errors.length > 0) throw new ConfigError(errors);
  return sources;
}

const UNKNOWN_KEY = 'unknown configuration key';

/** A secret file's content: the trailing newline(s) an editor or `echo` adds are not part of the value. */
function fileValue(text: string): string {
  return text.replace(/(\r?\n)+$/, '');
}

function applyOne(tree: Tree, schema: z.ZodTypeAny, segments: string[], value: string): string | undefined {
  let node = tree;
  let shape = schema;
  for (let i = 0; i < segments.length; i++) {
    const key = segments[i];
    const obj = unwrap(shape);
    // A map (mirror.upstreams, a trust policy's keys): the segment is the entry's name, followed by the
    // entry's keys for a map of sections (REGISTRY_MIRROR_UPSTREAMS_HUB_URL), last for a map of values
    // (REGISTRY_TRUST_POLICIES_ALL_KEYS_CI).
    const entries = obj instanceof z.ZodRecord ? obj.valueSchema : undefined;
    const last = i === segments.length - 1;
    const next =
      obj instanceof z.ZodObject ? (obj.shape as z.ZodRawShape)[key] : entries && (unwrap(entries) instanceof z.ZodObject ? !last : last) ? entries : undefined;
    if (!key || !next) return UNKNOWN_KEY;
    const target = unwrap(next);
    if (i < segments.length - 1) {
      node = child(node, key);
      shape = target;
    } else if (target instanceof z.ZodObject) {
      // A value on a section selects a sub-section, e.g. REGISTRY_AUTH=htpasswd.
      const section = value.trim().toLowerCase();
      const sub = (target.shape as z.ZodRawShape)[section];
      if (!sub || !(unwrap(sub) instanceof z.ZodObject)) {
        const options = Object.keys(target.shape).filter((k) => unwrap(target.shape[k]) instanceof z.ZodObject);
        return `unknown section "${value}" for ${segments.join('.')} (expected one of: ${options.join(', ')})`;
      }
      child(child(node, key), section);
    } else if (target instanceof z.ZodRecord) {
      return 'cannot be set from the environment; use the config file';
    } else {
      node[key] = envValue(value, target);
    }
  }
  return undefined;
}
