// Zod schema for the config file. Every object is .strict() so typos are
// rejected instead of silently ignored; the key names are also what env.ts
// walks to map REGISTRY_* variables, so keys must never contain "_".
import { z } from 'zod';
import { parseRuleEntry, ruleEntryErrors } from '../net/access-rules.js';
import { allowEntryError } from '../net/outbound.js';
import { normaliseBaseUrl, parseBytes, parseDurationMs, parseListenAddress } from './values.js';

// YAML gives us numbers/booleans where registry:2 (Go, typed fields) would
// have accepted them as strings, e.g. `secret: 12345`.
const str = (inner: z.ZodTypeAny = z.string()) => z.preprocess((v) => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : v), inner as z.ZodString);

// go-yaml v2 (registry:2) treats yes/no/on/off as booleans; YAML 1.2 does not.
const BOOL_WORDS: Record<string, boolean> = { true: true, yes: true, on: true, false: false, no: false, off: false };
const bool = () => z.preprocess((v) => (typeof v === 'string' ? (BOOL_WORDS[v.trim().toLowerCase()] ?? v) : v), z.boolean());

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess((v) => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v), z.number().int().min(min).max(max));

const duration = (def: string) =>
  z
    .unknown()
    .transform((v, ctx) => {
      const ms = parseDurationMs(v);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected a duration such as 24h, 30m or 90s, got ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      return ms;
    })
    .default(def);

const bytes = (def: number) =>
  z
    .unknown()
    .transform((v, ctx) => {
      const n = parseBytes(v);
      if (n === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected a size such as 500MB, 10GiB or a number of bytes, got ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      return n;
    })
    .default(def);

// A comma-separated string (the form an environment variable gives) or a list.
const list = () =>
  z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean)
        : v,
    z.array(str()),
  );

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
// logrus level names registry:2 users may have in their configs.
const LEVEL_ALIASES: Record<string, string> = { warning: 'warn', panic: 'fatal' };

const log = z
  .object({
    level: z
      .preprocess((v) => {
        if (typeof v !== 'string') return v;
        const l = v.trim().toLowerCase();
        return LEVEL_ALIASES[l] ?? l;
      }, z.enum(LOG_LEVELS))
      .default('info'),
    formatter: z.enum(['json', 'text', 'logstash']).default('json'),
    fields: z.record(z.union([z.string(), z.number(), z.boolean()])).default({}),
    accesslog: z
      .object({ disabled: bool().default(false) })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

const tls = z
  .object({ certificate: str().default(''), key: str().default('') })
  .strict()
  .superRefine((t, ctx) => {
    if (t.certificate && !t.key) {
      ctx.addIssue({ code: 'custom', path: ['key'], message: 'required when http.tls.certificate is set' });
    }
    if (t.key && !t.certificate) {
      ctx.addIssue({ code: 'custom', path: ['certificate'], message: 'required when http.tls.key is set' });
    }
  });

// The debug listener (registry:2's http.debug): Prometheus metrics, apart from the registry's port.
const debug = z
  .object({
    addr: str()
      .superRefine((a, ctx) => {
        if (a === '') return;
        const r = parseListenAddress(a);
        if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
      })
      .default(''),
    prometheus: z
      .object({
        enabled: bool().default(false),
        path: str()
          .refine(
            (p) => /^\/[\x21-\x7e]*$/.test(p),
            (p) => ({ message: `expected a path starting with "/", got ${JSON.stringify(p)}` }),
          )
          .default('/metrics'),
        /** Repository names (globs: * within a path segment, ** across) reported as themselves; every other name is "other". */
        repositories: list().default([]),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

// Fastify's (proxy-addr's) named ranges, besides addresses and CIDRs.
const PROXY_PRESETS = new Set(['loopback', 'linklocal', 'uniquelocal']);
const trustProxy = () =>
  z
    .preprocess((v) => (Array.isArray(v) ? v.map(String).join(',') : typeof v === 'boolean' ? String(v) : v), z.string())
    .transform((v, ctx) => {
      const text = v.trim();
      if (text === '' || text === 'false') return '';
      if (text === 'true') return text;
      const entries = text.split(',').map((x) => x.trim());
      for (const e of entries) {
        const r = PROXY_PRESETS.has(e) ? null : parseRuleEntry(e);
        if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: `${r}; expected true or the proxies' addresses/CIDRs` });
      }
      return entries.join(',');
    })
    .default('');

const http = z
  .object({
    addr: str()
      .superRefine((a, ctx) => {
        const r = parseListenAddress(a);
        if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
      })
      .default(':5000'),
    host: str()
      .transform((v, ctx) => {
        const r = normaliseBaseUrl(v.trim());
        if (typeof r === 'string') return r;
        ctx.addIssue({ code: 'custom', message: r.error });
        return z.NEVER;
      })
      .default(''),
    secret: str().default(''),
    tls: tls.optional(),
    workers: int(0, 1024).default(1),
    /** Trust X-Forwarded-* from a proxy in front: true (any peer), or addresses/CIDRs (a list or comma-separated). */
    trustproxy: trustProxy(),
    /** How long in-flight requests may run after SIGTERM before their connections are closed. */
    draintimeout: duration('10s'),
    headers: z.record(z.array(str())).default({}),
    debug,
  })
  .strict()
  .superRefine((h, ctx) => {
    if (h.debug.prometheus.enabled && !h.debug.addr)
      ctx.addIssue({
        code: 'custom',
        path: ['debug', 'prometheus', 'enabled'],
        message: 'needs http.debug.addr (metrics are served on the debug listener only)',
      });
    const main = parseListenAddress(h.addr);
    const dbg = h.debug.addr ? parseListenAddress(h.debug.addr) : null;
    if (
      typeof main !== 'string' &&
      dbg &&
      typeof dbg !== 'string' &&
      dbg.port !== 0 &&
      dbg.port === main.port &&
      (dbg.host === main.host || [dbg.host, main.host].includes('0.0.0.0'))
    )
      ctx.addIssue({ code: 'custom', path: ['debug', 'addr'], message: `must differ from http.addr (${h.addr}): metrics are not served on the main listener` });
  })
  .default({});

const storage = z
  .object({
    filesystem: z
      .object({
        rootdirectory: str(z.string().min(1, 'must not be empty')).default('./data'),
        maxthreads: int(1).default(100),
        /** Write upload bytes with O_DIRECT (bypassing the page cache) where the filesystem allows it. */
        directio: bool().default(true),
      })
      .strict()
      .default({}),
    // S3-compatible object storage (AWS S3, Ceph RGW, MinIO, Aliyun OSS), registry:2's keys.
    s3: z
      .object({
        bucket: str(z.string().min(1, 'required')),
        region: str().default('us-east-1'),
        /** Endpoint URL for non-AWS services, e.g. http://127.0.0.1:7480. */
        regionendpoint: str().default(''),
        accesskey: str().default(''),
        secretkey: str().default(''),
        forcepathstyle: bool().default(false),
        /** Key prefix inside the bucket. */
        rootdirectory: str().default(''),
        /** Multipart part size (≥ 5 MiB): also the smallest PATCH chunk clients may send. */
        chunksize: int(5 * 1024 * 1024).default(16 * 1024 * 1024),
        // One CopyObject (up to S3's 5 GiB limit) is far cheaper than UploadPartCopy on RGW and no worse on AWS.
        multipartcopythresholdsize: int(5 * 1024 * 1024, 5 * 1024 * 1024 * 1024).default(5 * 1024 * 1024 * 1024),
        multipartcopychunksize: int(5 * 1024 * 1024).default(32 * 1024 * 1024),
        multipartcopymaxconcurrency: int(1, 100).default(8),
        secure: bool().default(true),
        skipverify: bool().default(false),
        v4auth: bool().default(true),
        encrypt: bool().default(false),
        keyid: str().default(''),
        storageclass: str().default('STANDARD'),
        /** Lifetime of presigned blob URLs when redirects are on. */
        redirectexpiry: duration('20m'),
      })
      .strict()
      .optional(),
    delete: z
      .object({ enabled: bool().default(true) })
      .strict()
      .default({}),
    maintenance: z
      .object({
        uploadpurging: z
          .object({
            enabled: bool().default(true),
            age: duration('168h'),
            interval: duration('24h'),
            dryrun: bool().default(false),
          })
          .strict()
          .default({}),
        readonly: z
          .object({ enabled: bool().default(false) })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    // Online garbage collection (src/gc/, docs/architecture.md#garbage-collection).
    gc: z
      .object({
        /** Collect on every replica in the background (`berth gc` works either way). */
        enabled: bool().default(true),
        /** How long an unreferenced blob, and a blob link nothing uses, stay before collection may take them. */
        delay: duration('24h'),
        /** How often each replica looks for due work. */
        interval: duration('1h').refine((ms) => ms >= 1000, 'must be at least 1s'),
        /** Collect manifests that have no tag (off: only referrers whose subject went, and blobs). */
        untagged: bool().default(false),
        /** How long a manifest that lost its last tag stays restorable before collection may take it. */
        restorewindow: duration('168h'),
        /** Storage delete requests in flight per collection and sweep (S3: DeleteObjects of up to 1,000 keys). */
        deleteconcurrency: int(1, 64).default(4),
      })
      .strict()
      .default({}),
    cache: z
      .object({
        blobdescriptor: z.enum(['inmemory', 'redis']).default('inmemory'),
        blobdescriptorsize: int(0).default(10000),
      })
      .strict()
      .default({}),
    redirect: z
      .object({ disable: bool().default(false) })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

const health = z
  .object({
    storagedriver: z
      .object({
        enabled: bool().default(false),
        interval: duration('10s'),
        threshold: int(1).default(3),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

const auth = z
  .object({
    htpasswd: z
      .object({
        realm: str().default('Berth Registry'),
        path: str(z.string().min(1, 'required')),
      })
      .strict()
      .optional(),
    // Docker token authentication (registry:2's `auth.token`), plus Berth's own issuer.
    token: z
      .object({
        /** Where clients get tokens; default: this server's /token. */
        realm: str().default(''),
        service: str().default('berth'),
        issuer: str().default('berth'),
        /** PEM certificates of external issuers whose tokens are trusted. */
        rootcertbundle: str().default(''),
        /** JWKS URL (or file) of an external issuer whose tokens are trusted. */
        jwks: str().default(''),
        /** Run the built-in token service and accounts (off: only trust external issuers). */
        builtin: bool().default(true),
        /** Lifetime of issued access tokens. */
        expiration: duration('5m'),
        /** Lifetime of refresh tokens (offline_token=true). */
        refreshexpiration: duration('720h'),
        /** Encrypts the signing keys in the database (Berth-specific); every replica needs the same one. */
        signingkeysecret: str(z.string().refine((v) => v === '' || v.length >= 16, 'must have at least 16 characters')).default(''),
        signingkeysecretfile: str().default(''),
      })
      .strict()
      .optional(),
    // Built-in accounts (with the token service): the first admin and login protection.
    accounts: z
      .object({
        adminuser: str().default('admin'),
        /** The first admin's password; unset = no admin is created. Never a default. */
        adminpassword: str().default(''),
        adminpasswordfile: str().default(''),
        /** Failed logins allowed per user, and per client address, in `loginwindow` before 429. */
        loginlimit: int(1).default(10),
        addresslimit: int(1).default(100),
        loginwindow: duration('15m'),
        bcryptcost: int(4, 15).default(12),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.htpasswd && a.token) ctx.addIssue({ code: 'custom', path: ['token'], message: 'choose one of auth.htpasswd and auth.token' });
    if (a.token && !a.token.builtin && !a.token.jwks && !a.token.rootcertbundle) {
      ctx.addIssue({ code: 'custom', path: ['token'], message: 'with builtin: false, set jwks or rootcertbundle to trust an external issuer' });
    }
  })
  .optional();

/**
 * Internal destinations (loopback, private, link-local, ... refused by default) that outbound
 * requests may reach anyway: host names, host:port, IPs and CIDRs. A list, or a comma-separated
 * string (the form an environment variable gives).
 */
const allowList = () =>
  list()
    .superRefine((entries, ctx) => {
      entries.forEach((entry, i) => {
        const why = allowEntryError(entry);
        if (why) ctx.addIssue({ code: 'custom', path: [i], message: why });
      });
    })
    .default([]);

// registry:2's `notifications.endpoints` (every event, distribution envelope) and Berth's
// delivery worker for them and for webhooks made through the API (docs/webhooks.md).
const notifications = z
  .object({
    endpoints: z
      .array(
        z
          .object({
            name: str(z.string().min(1, 'required')),
            disabled: bool().default(false),
            url: str(z.string().url()),
            headers: z.record(z.array(str())).default({}),
            timeout: duration('1s'),
            /** Accepted for registry:2 compatibility; retries follow notifications.webhooks. */
            threshold: int(0).default(10),
            backoff: duration('1s'),
            ignoredmediatypes: z.array(str()).default([]),
            ignore: z
              .object({ mediatypes: z.array(str()).default([]), actions: z.array(str()).default([]) })
              .strict()
              .default({}),
          })
          .strict(),
      )
      .default([]),
    events: z
      .object({ includereferences: bool().default(false) })
      .strict()
      .default({}),
    webhooks: z
      .object({
        /** Run the delivery worker in this process (every replica may; claims are in the database). */
        worker: bool().default(true),
        interval: duration('1s'),
        timeout: duration('10s'),
        backoff: duration('2s'),
        maxbackoff: duration('1h'),
        attempts: int(1, 100).default(10),
        concurrency: int(1, 256).default(8),
        /**
         * Internal destinations (loopback, private, link-local, ... refused by default) that
         * webhooks may reach anyway: host names, host:port, IPs and CIDRs. A list, or a
         * comma-separated string (the form an environment variable gives).
         */
        allow: allowList(),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

const upstreamUrl = () =>
  str().superRefine((v, ctx) => {
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: `expected an http(s) URL such as https://registry-1.docker.io, got ${JSON.stringify(v)}` });
      return;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: `expected an http or https URL, got ${JSON.stringify(v)}` });
    else if (u.username || u.password || u.search || u.hash || (u.pathname !== '/' && u.pathname !== ''))
      ctx.addIssue({ code: 'custom', message: 'expected scheme://host[:port] only (credentials go in username and password)' });
  });

// registry:2's pull-through cache of one upstream (docs/mirror.md): the whole registry mirrors it.
const proxy = z
  .object({
    remoteurl: upstreamUrl(),
    username: str().default(''),
    password: str().default(''),
    /** Cached content not pulled for this long is evicted (0 = kept until the budget needs room). */
    ttl: duration('168h'),
    /** Berth's: as mirror.upstreams.*.tagttl and maxstale (registry:2 asks the upstream on every tag lookup). */
    tagttl: duration('5m'),
    maxstale: duration('168h'),
  })
  .strict()
  .optional();

// Berth's mirror of many upstreams, each under its name as a path prefix (docs/mirror.md).
const mirrorUpstream = z
  .object({
    url: upstreamUrl(),
    /** containerd's ?ns= values routed here; default: the URL's host (docker.io too for Docker Hub). */
    hosts: list().optional(),
    /** Also serves names with no upstream prefix and no ns= whose namespace is not a local one. */
    default: bool().default(false),
    username: str().default(''),
    password: str().default(''),
    /** A cached tag is served without asking the upstream for this long. */
    tagttl: duration('5m'),
    /** While the upstream fails, a cached tag is served up to this long after it was last confirmed. */
    maxstale: duration('168h'),
    /** Connect and response headers. */
    timeout: duration('30s').refine((ms) => ms >= 1, 'must be more than 0'),
  })
  .strict();

const mirror = z
  .object({
    upstreams: z.record(mirrorUpstream).default({}),
    /** Cached images not pulled for this long are evicted (0 = kept; with proxy.remoteurl, proxy.ttl applies when this is 0). */
    ttl: duration('0'),
    /** Bytes of cached content before the least recently pulled images are evicted (0 = no budget). */
    budget: bytes(0),
    /** Cached repositories appear in /v2/_catalog. */
    catalog: bool().default(true),
    /** Namespaces that are never sent to the default upstream without token auth (with it: accounts and organisations). */
    local: list().default([]),
    /** Anonymous callers may pull through the mirror in token mode (signed-in accounts always may). */
    anonymous: bool().default(false),
    /** How often each replica looks for cached content to evict. */
    evictinterval: duration('1h').refine((ms) => ms >= 1000, 'must be at least 1s'),
  })
  .strict()
  .superRefine((m, ctx) => {
    const defaults = Object.entries(m.upstreams).filter(([, u]) => u.default);
    if (defaults.length > 1)
      ctx.addIssue({ code: 'custom', path: ['upstreams'], message: `only one upstream may be the default (${defaults.map(([n]) => n).join(', ')})` });
    for (const name of Object.keys(m.upstreams)) {
      if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(name))
        ctx.addIssue({
          code: 'custom',
          path: ['upstreams', name],
          message: 'an upstream name is a path component: lowercase letters, digits and . _ - between them',
        });
    }
  })
  .default({});

// Signature trust (src/trust/, docs/trust.md): policies by name, each for the whole registry, a
// namespace or a repository; key and certificate values are PEM files (or the PEM itself).
const trustPolicy = z
  .object({
    /** The namespace or the repository the policy is for; neither: the whole registry. */
    namespace: str().optional(),
    repository: str().optional(),
    /** audit: verdicts are recorded, nothing refused; enforce: unsigned or untrusted images are refused. */
    mode: z.enum(['audit', 'enforce']),
    /** Narrower policies (this file's or the API's) under this one's scope are ignored, and the API refuses to set them. */
    final: z.boolean().default(false),
    /** Trusted public keys by name (ECDSA P-256, Ed25519, RSA): a PEM file, or the PEM. */
    keys: z.record(str()).default({}),
    notation: z
      .object({
        /** CA certificates (PEM files, or PEMs) that notation signing certificates must chain to. */
        truststore: list(),
        /** Trusted identities: "x509.subject: C=US, O=Acme, CN=signer", or "*". */
        identities: z.array(str()),
      })
      .strict()
      .optional(),
    keyless: z
      .object({
        /** A Sigstore trusted_root.json (Fulcio CAs, Rekor keys) file. */
        trustedroot: str(),
        identities: z.array(z.object({ subject: str().optional(), subjectregexp: str().optional(), issuer: str() }).strict()).min(1),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.namespace !== undefined && p.repository !== undefined)
      ctx.addIssue({ code: 'custom', path: ['repository'], message: 'set namespace or repository, not both' });
  });

const trust = z
  .object({
    /** How often each replica verifies signatures still owed (pushed, or under keys that changed). */
    interval: duration('10s').refine((ms) => ms >= 100, 'must be at least 100ms'),
    policies: z.record(trustPolicy).default({}),
  })
  .strict()
  .default({});

// Vulnerability scanning (src/scan/, docs/scanning.md): when scans run, the advisory data, the
// Harbor scanner adapters, and the global vulnerability policy.
const SEVERITY_LEVELS = ['critical', 'high', 'medium', 'low', 'unknown'] as const;
const httpUrl = () =>
  str().superRefine((v, ctx) => {
    let u: URL | null = null;
    try {
      u = new URL(v);
    } catch {
      /* below */
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:'))
      ctx.addIssue({ code: 'custom', message: `expected an http(s) URL, got ${JSON.stringify(v)}` });
    else if (u.username || u.password) ctx.addIssue({ code: 'custom', message: 'credentials do not go in the URL' });
  });
const scanAdapter = z
  .object({
    /** The adapter's base URL; its API is under /api/v1. */
    url: httpUrl(),
    /** Authorization header value Berth sends to the adapter ("Bearer …", "Basic …"), if it wants one. */
    authorization: str().default(''),
    /** The URL the adapter pulls images from (default: http.host, else the address Berth listens on). */
    registryurl: str().default(''),
    /** Connect and response headers of each request to the adapter. */
    timeout: duration('30s').refine((ms) => ms >= 1, 'must be more than 0'),
    /** How long one scan may take before it counts as failed. */
    scantimeout: duration('10m').refine((ms) => ms >= 1000, 'must be at least 1s'),
  })
  .strict();
const scanning = z
  .object({
    /** Scan images (jobs, the API, the pull check). */
    enabled: bool().default(false),
    /** Queue a scan of every image pushed (in the push's transaction). */
    onpush: bool().default(true),
    /** "builtin", or the name of an adapter below. */
    scanner: str().default('builtin'),
    /** How often each replica looks for queued scans. */
    interval: duration('2s').refine((ms) => ms >= 100, 'must be at least 100ms'),
    /** Scans one replica runs at once. */
    concurrency: int(1, 64).default(2),
    /** Attempts of a scan before its report records the failure; the first retry waits backoff, then twice as long each time. */
    attempts: int(1, 100).default(3),
    backoff: duration('30s'),
    /** Push the built-in scanner's CycloneDX SBOM to the repository as a referrer of the image. */
    sbom: bool().default(true),
    /** The largest file (package database, lockfile) the built-in analyser reads from a layer. */
    maxfilebytes: bytes(64 * 1024 * 1024),
    advisories: z
      .object({
        /** OSV JSON files and zips (OSV's all.zip) below this directory … */
        directory: str().default(''),
        /** … or one URL: a zip of OSV files, or a JSON file. */
        url: z.union([z.literal(''), httpUrl()]).default(''),
        /** How often the data is loaded again; a new version re-queues the images reported with the old one. */
        reload: duration('1h').refine((ms) => ms >= 1000, 'must be at least 1s'),
        timeout: duration('5m').refine((ms) => ms >= 1, 'must be more than 0'),
      })
      .strict()
      .refine((a) => !(a.directory && a.url), 'set directory or url, not both')
      .default({}),
    /** Internal destinations (refused by default) the advisory URL and adapters may reach. */
    allow: allowList(),
    /** Harbor pluggable scanner adapters (API v1.2), by name. */
    adapters: z.record(scanAdapter).default({}),
    /** The global vulnerability policy (namespace policies from the API may only tighten it, and extend its allow-list). */
    policy: z
      .object({
        mode: z.enum(['off', 'audit', 'enforce']).default('off'),
        /** The lowest severity refused. */
        severity: z.enum(SEVERITY_LEVELS).default('high'),
        /** Advisory ids (CVE-…, GHSA-…) that never count. */
        allowlist: list().default([]),
        /** What an image without a report gets under enforce: deny (default) or allow. */
        unscanned: z.enum(['allow', 'deny']).default('deny'),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.scanner !== 'builtin' && !s.adapters[s.scanner])
      ctx.addIssue({
        code: 'custom',
        path: ['scanner'],
        message: `"builtin" or the name of an adapter (${Object.keys(s.adapters).join(', ') || 'none configured'})`,
      });
  })
  .default({});

// Network rules (src/net/access-rules.ts, docs/network-rules.md): who may pull, push, use the
// API and the UI, by client address (http.trustproxy decides which address that is).
const ruleEntries = () =>
  list()
    .superRefine((entries, ctx) => {
      for (const e of ruleEntryErrors(entries)) ctx.addIssue({ code: 'custom', path: [e.index], message: e.message });
    })
    .default([]);
const ruleList = () => z.object({ allow: ruleEntries(), deny: ruleEntries() }).strict().default({});
const network = z
  .object({
    pull: ruleList(),
    push: ruleList(),
    api: ruleList(),
    ui: ruleList(),
    namespaces: z.record(z.object({ pull: ruleList(), push: ruleList(), api: ruleList(), ui: ruleList() }).strict()).default({}),
  })
  .strict()
  .default({});

export const configSchema = z
  .object({
    version: str()
      .refine(
        (v) => v === '0.1',
        (v) => ({ message: `unsupported version "${v}", expected 0.1` }),
      )
      .optional(),
    log,
    http,
    storage,
    health,
    metadata: z
      .object({
        /** Migrate at start (false: `berth migrate` does, e.g. a Kubernetes Job, and serve only checks). */
        automigrate: bool().default(true),
        sqlite: z
          .object({ path: str().default('') })
          .strict()
          .default({}),
        // PostgreSQL instead of SQLite (REGISTRY_METADATA=postgres selects it): required for replicas.
        postgres: z
          .object({
            url: str(z.string().min(1, 'required')),
            poolsize: int(1, 1000).default(10),
            /** A query waiting longer for a connection fails with 503 (the server is down or the pool exhausted); 0 = forever. */
            connecttimeout: duration('5s'),
          })
          .strict()
          .optional(),
        // Pulls this process served recently, answered from memory while the database is down (docs/operations.md).
        outagecache: z
          .object({
            /** Most entries (tags, manifests, blob facts); 0 turns the cache off. */
            entries: int(0).default(10_000),
            bytes: bytes(64 * 1024 * 1024),
            /** Entries recorded longer ago are not served. */
            maxage: duration('15m'),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    auth,
    notifications,
    limits: z
      .object({
        manifestbytes: int(1).default(4 * 1024 * 1024),
        uploadttl: duration('24h'),
      })
      .strict()
      .default({}),
    // Storage quotas per namespace (docs/quotas.md): the limit of namespaces without one of
    // their own (0 = none), and the warning level as a percentage of a limit.
    quotas: z
      .object({
        default: bytes(0),
        warning: int(1, 100).default(80),
      })
      .strict()
      .default({}),
    // Retention policies (src/retention/, docs/retention.md): how often each replica runs the due ones.
    proxy,
    mirror,
    retention: z
      .object({
        /** Run due policies in the background (runs on demand through the API work either way). */
        enabled: bool().default(true),
        /** A policy runs again this long after its last run (or its creation). */
        interval: duration('1h').refine((ms) => ms >= 1000, 'must be at least 1s'),
      })
      .strict()
      .default({}),
    network,
    // Replication (src/replication/, docs/replication.md): the job that copies queued pushes and
    // runs due scheduled policies on every replica, and the internal remotes an operator permits.
    replication: z
      .object({
        /** Run the replication job on this replica (runs on demand through the API work either way). */
        enabled: bool().default(true),
        /** How often the job looks for queued copies and due policies. */
        interval: duration('1s').refine((ms) => ms >= 100, 'must be at least 100ms'),
        /** Attempts of a queued copy or delete before it is dropped (the run records the failure). */
        attempts: int(1, 100).default(10),
        /** The first retry's wait; each next one waits twice as long, up to maxbackoff. */
        backoff: duration('2s'),
        maxbackoff: duration('10m'),
        /** Internal remotes (refused by default) that policies may reach: hosts, host:port, IPs, CIDRs. */
        allow: allowList(),
      })
      .strict()
      .default({}),
    trust,
    scanning,
  })
  .strict();

export type ParsedSchema = z.output<typeof configSchema>;
