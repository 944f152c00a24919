import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { applyEnvOverrides } from './env.js';
import { ConfigError } from './errors.js';
import { configSchema, type ParsedSchema } from './schema.js';
import type { BerthConfig, DeepPartial } from './types.js';
import { parseListenAddress } from './values.js';

export interface LoadConfigOptions {
  /** YAML config file; omit to start from defaults. */
  file?: string;
  /** Defaults to process.env. Pass {} to ignore the environment. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Reads the YAML file (if any), applies REGISTRY_* / BERTH_* overrides,
 * validates, applies defaults and returns a deep-frozen config.
 * Throws ConfigError naming the offending key or variable.
 */
export function loadConfig(opts: LoadConfigOptions = {}): BerthConfig {
  const tree = opts.file ? readYaml(opts.file) : {};
  const sources = applyEnvOverrides(tree, opts.env ?? process.env, configSchema);
  return finalize(validate(tree, sources));
}

/**
 * Defaults plus `overrides` (in parsed form: durations in ms), validated like
 * a file would be. Never reads the environment or disk; meant for tests.
 */
export function defaultConfig(overrides: DeepPartial<BerthConfig> = {}): BerthConfig {
  const tree = structuredClone(overrides) as Record<string, unknown> & DeepPartial<BerthConfig>;
  // `listen` is derived, not a schema key; honour it after validation.
  const listen = tree.http?.listen;
  if (tree.http) delete tree.http.listen;
  const config = finalize(validate(stripNulls(tree), new Map()));
  if (!listen) return config;
  const http = { ...config.http, listen: { ...config.http.listen, ...listen } };
  return deepFreeze({ ...config, http });
}

function readYaml(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    // The yaml library's message already carries line and column.
    throw new ConfigError(`${file}: invalid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(`${file}: top level must be a mapping of configuration keys`);
  }
  return stripNulls(doc as Record<string, unknown>);
}

/** `key:` with no value in YAML is null; treat it like an absent key so defaults apply. */
function stripNulls<T>(value: T): T {
  if (Array.isArray(value)) return value.map(stripNulls) as T;
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) out[k] = stripNulls(v);
  return out as T;
}

function validate(tree: unknown, sources: Map<string, string>): ParsedSchema {
  const result = configSchema.safeParse(tree);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.flatMap((i) => formatIssue(i, sources)));
}

function formatIssue(issue: z.ZodIssue, sources: Map<string, string>): string[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `unknown key "${[...issue.path, k].join('.')}"`);
  }
  const key = issue.path.join('.') || '(top level)';
  let message: string;
  if (issue.code === 'invalid_type') {
    message = issue.received === 'undefined' ? 'required' : `expected ${issue.expected}, got ${issue.received}`;
  } else if (issue.code === 'invalid_enum_value') {
    message = `expected one of ${issue.options.join(', ')}, got ${JSON.stringify(issue.received)}`;
  } else {
    message = issue.message;
  }
  // A list's entry (network.pull.allow.1) came from the variable that set the list.
  const from = sources.get(key) ?? sources.get(issue.path.slice(0, -1).join('.'));
  return [`${key}: ${message}${from ? ` (from ${from})` : ''}`];
}

/** Computes derived fields, drops empty optional sections, freezes. */
function finalize(c: ParsedSchema): BerthConfig {
  const listen = parseListenAddress(c.http.addr);
  if (typeof listen === 'string') throw new ConfigError(`http.addr: ${listen}`); // unreachable: schema checked
  const { tls, ...http } = c.http;
  const { auth, version, proxy, ...rest } = c;
  if (proxy && Object.values(c.mirror.upstreams).some((u) => u.default))
    throw new ConfigError('mirror.upstreams: with proxy.remoteurl the proxy is the default upstream; no mirror upstream may be default');
  const config: BerthConfig = {
    ...rest,
    ...(version !== undefined ? { version } : {}),
    // `proxy` without a remote URL (REGISTRY_PROXY_REMOTEURL unset) is no proxy.
    ...(proxy?.remoteurl ? { proxy } : {}),
    http: { ...http, listen, ...(tls && (tls.certificate || tls.key) ? { tls } : {}) },
    metadata: {
      automigrate: c.metadata.automigrate,
      sqlite: { path: c.metadata.sqlite.path || path.join(c.storage.filesystem.rootdirectory, 'berth.db') },
      ...(c.metadata.postgres ? { postgres: c.metadata.postgres } : {}),
      outagecache: c.metadata.outagecache,
    },
    // `auth: {}` (or REGISTRY_AUTH unset with an empty section) means no auth.
    ...(auth?.htpasswd || auth?.token
      ? { auth: { ...(auth.htpasswd ? { htpasswd: auth.htpasswd } : {}), ...(auth.token ? { token: auth.token } : {}), accounts: auth.accounts } }
      : {}),
  };
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
