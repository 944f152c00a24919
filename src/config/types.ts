// The parsed configuration as the rest of Berth sees it: defaults applied,
// durations converted to milliseconds, derived fields computed, deep-frozen.
// Property names mirror registry:2's config.yml (all lowercase) on purpose.
import type { NetworkRulesConfig } from '../net/access-rules.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
/** Accepted for registry:2 compatibility; Berth currently always logs JSON. */
export type LogFormatter = 'json' | 'text' | 'logstash';

export interface BerthConfig {
  /** Only "0.1" is accepted; absent when the file does not set it. */
  readonly version?: string;
  readonly log: {
    readonly level: LogLevel;
    readonly formatter: LogFormatter;
    /** Static fields added to every log line (registry:2 `log.fields`). */
    readonly fields: Readonly<Record<string, string | number | boolean>>;
    readonly accesslog: { readonly disabled: boolean };
  };
  readonly http: {
    /** As written, e.g. ":5000". */
    readonly addr: string;
    /** Parsed from `addr`; ":5000" gives host "0.0.0.0". */
    readonly listen: { readonly host: string; readonly port: number };
    /** External base URL without trailing slash, or "" to use the request's Host. */
    readonly host: string;
    readonly secret: string;
    /** Present only when both certificate and key are set. */
    readonly tls?: { readonly certificate: string; readonly key: string };
    /** Worker processes; 0 means one per CPU core. */
    readonly workers: number;
    /** "" = trust no proxy; "true" = trust X-Forwarded-* from any peer; else comma-separated addresses/CIDRs. */
    readonly trustproxy: string;
    /** Milliseconds in-flight requests may run after SIGTERM before their connections are closed. */
    readonly draintimeout: number;
    /** Extra response headers (registry:2 `http.headers`). */
    readonly headers: Readonly<Record<string, readonly string[]>>;
    /** The debug listener (registry:2 `http.debug`); off while `addr` is "". */
    readonly debug: {
      readonly addr: string;
      readonly prometheus: { readonly enabled: boolean; readonly path: string; readonly repositories: readonly string[] };
    };
  };
  readonly storage: {
    readonly filesystem: { readonly rootdirectory: string; readonly maxthreads: number; readonly directio: boolean };
    /** Present when S3-compatible storage is configured (it then replaces the filesystem). */
    readonly s3?: S3Config;
    readonly delete: { readonly enabled: boolean };
    readonly maintenance: {
      readonly uploadpurging: {
        readonly enabled: boolean;
        /** Milliseconds. */
        readonly age: number;
        /** Milliseconds. */
        readonly interval: number;
        readonly dryrun: boolean;
      };
      readonly readonly: { readonly enabled: boolean };
    };
    /** Online garbage collection (durations in milliseconds). */
    readonly gc: {
      readonly enabled: boolean;
      readonly delay: number;
      readonly interval: number;
      readonly untagged: boolean;
      readonly restorewindow: number;
      readonly deleteconcurrency: number;
    };
    /** Accepted and ignored (registry:2 compatibility). */
    readonly cache: { readonly blobdescriptor: 'inmemory' | 'redis'; readonly blobdescriptorsize: number };
    readonly redirect: { readonly disable: boolean };
  };
  readonly health: {
    readonly storagedriver: {
      readonly enabled: boolean;
      /** Milliseconds. */
      readonly interval: number;
      readonly threshold: number;
    };
  };
  readonly metadata: {
    /** Migrate when serving starts; false: only check that `berth migrate` has run. */
    readonly automigrate: boolean;
    /** `path` defaults to <storage.filesystem.rootdirectory>/berth.db. */
    readonly sqlite: { readonly path: string };
    /** Present when PostgreSQL is configured (it then replaces SQLite). */
    readonly postgres?: { readonly url: string; readonly poolsize: number; readonly connecttimeout: number };
    /** Pulls served from memory while the database is down; `maxage` in milliseconds. */
    readonly outagecache: { readonly entries: number; readonly bytes: number; readonly maxage: number };
  };
  /** Absent means no authentication. */
  readonly auth?: {
    readonly htpasswd?: { readonly realm: string; readonly path: string };
    readonly token?: TokenAuthConfig;
    readonly accounts: AccountsConfig;
  };
  readonly notifications: NotificationsConfig;
  readonly limits: {
    readonly manifestbytes: number;
    /** Milliseconds an idle upload session lives. */
    readonly uploadttl: number;
  };
  readonly quotas: {
    /** Bytes a namespace without a quota of its own may use; 0 = no limit. */
    readonly default: number;
    /** Warning level, percent of a namespace's limit (when the namespace sets none). */
    readonly warning: number;
  };
  /** registry:2's pull-through cache of one upstream (docs/mirror.md); durations in ms. */
  readonly proxy?: {
    readonly remoteurl: string;
    readonly username: string;
    readonly password: string;
    readonly ttl: number;
    readonly tagttl: number;
    readonly maxstale: number;
  };
  readonly mirror: MirrorConfig;
  /** Retention policies' schedule. */
  readonly retention: {
    readonly enabled: boolean;
    /** Milliseconds between a policy's runs. */
    readonly interval: number;
  };
  /** Network rules (docs/network-rules.md): allow and deny lists of addresses and CIDRs per surface, global and per namespace. */
  readonly network: NetworkRulesConfig;
  /** Replication (src/replication/): the job and the internal remotes policies may reach. */
  readonly replication: {
    readonly enabled: boolean;
    /** Milliseconds between the job's looks for work. */
    readonly interval: number;
    readonly attempts: number;
    /** Milliseconds. */
    readonly backoff: number;
    readonly maxbackoff: number;
    readonly allow: readonly string[];
  };
  /** Signature trust (src/trust/, docs/trust.md). */
  readonly trust: {
    /** Milliseconds between the verification job's looks for work. */
    readonly interval: number;
    readonly policies: Readonly<Record<string, TrustPolicyConfig>>;
  };
  /** Vulnerability scanning (src/scan/, docs/scanning.md). */
  readonly scanning: ScanningConfig;
}

/** One `trust.policies.<name>`: neither namespace nor repository = the whole registry. */
export interface TrustPolicyConfig {
  readonly namespace?: string;
  readonly repository?: string;
  readonly mode: 'audit' | 'enforce';
  /** No narrower policy applies under this one's scope. */
  readonly final: boolean;
  /** Key name -> PEM file (or the PEM). */
  readonly keys: Readonly<Record<string, string>>;
  readonly notation?: { readonly truststore: readonly string[]; readonly identities: readonly string[] };
  readonly keyless?: {
    readonly trustedroot: string;
    readonly identities: readonly { readonly subject?: string; readonly subjectregexp?: string; readonly issuer: string }[];
  };
}

export type ScanSeverity = 'critical' | 'high' | 'medium' | 'low' | 'unknown';

export interface ScanAdapterConfig {
  readonly url: string;
  readonly authorization: string;
  readonly registryurl: string;
  /** Milliseconds. */
  readonly timeout: number;
  readonly scantimeout: number;
}

export interface ScanningConfig {
  readonly enabled: boolean;
  readonly onpush: boolean;
  /** "builtin" or the name of an adapter. */
  readonly scanner: string;
  /** Milliseconds. */
  readonly interval: number;
  readonly concurrency: number;
  readonly attempts: number;
  readonly backoff: number;
  readonly sbom: boolean;
  readonly maxfilebytes: number;
  readonly advisories: { readonly directory: string; readonly url: string; readonly reload: number; readonly timeout: number };
  readonly allow: readonly string[];
  readonly adapters: Readonly<Record<string, ScanAdapterConfig>>;
  readonly policy: {
    readonly mode: 'off' | 'audit' | 'enforce';
    readonly severity: ScanSeverity;
    readonly allowlist: readonly string[];
    readonly unscanned: 'allow' | 'deny';
  };
}

/** Recursive Partial used by defaultConfig() overrides. */
export type DeepPartial<T> = T extends readonly (infer _U)[] ? T : T extends object ? { -readonly [K in keyof T]?: DeepPartial<T[K]> } : T;

export interface TokenAuthConfig {
  /** "" = this server's /token. */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly rootcertbundle: string;
  readonly jwks: string;
  readonly builtin: boolean;
  /** Milliseconds. */
  readonly expiration: number;
  /** Milliseconds. */
  readonly refreshexpiration: number;
  readonly signingkeysecret: string;
  readonly signingkeysecretfile: string;
}

export interface AccountsConfig {
  readonly adminuser: string;
  readonly adminpassword: string;
  readonly adminpasswordfile: string;
  readonly loginlimit: number;
  readonly addresslimit: number;
  /** Milliseconds. */
  readonly loginwindow: number;
  readonly bcryptcost: number;
}

export interface S3Config {
  readonly bucket: string;
  readonly region: string;
  readonly regionendpoint: string;
  readonly accesskey: string;
  readonly secretkey: string;
  readonly forcepathstyle: boolean;
  readonly rootdirectory: string;
  readonly chunksize: number;
  readonly multipartcopythresholdsize: number;
  readonly multipartcopychunksize: number;
  readonly multipartcopymaxconcurrency: number;
  readonly secure: boolean;
  readonly skipverify: boolean;
  readonly v4auth: boolean;
  readonly encrypt: boolean;
  readonly keyid: string;
  readonly storageclass: string;
  /** Milliseconds. */
  readonly redirectexpiry: number;
}

/** registry:2 `notifications` plus Berth's webhook delivery settings (durations in ms). */
export interface NotificationsConfig {
  readonly endpoints: readonly NotificationEndpointConfig[];
  readonly events: { readonly includereferences: boolean };
  readonly webhooks: {
    readonly worker: boolean;
    readonly interval: number;
    readonly timeout: number;
    readonly backoff: number;
    readonly maxbackoff: number;
    readonly attempts: number;
    readonly concurrency: number;
    /** Internal destinations webhooks may reach anyway: hosts, host:port, IPs, CIDRs. */
    readonly allow: readonly string[];
  };
}

export interface NotificationEndpointConfig {
  readonly name: string;
  readonly disabled: boolean;
  readonly url: string;
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly timeout: number;
  readonly threshold: number;
  readonly backoff: number;
  readonly ignoredmediatypes: readonly string[];
  readonly ignore: { readonly mediatypes: readonly string[]; readonly actions: readonly string[] };
}

/** Berth's mirror of many upstreams (docs/mirror.md); durations in ms, sizes in bytes. */
export interface MirrorConfig {
  readonly upstreams: Readonly<Record<string, MirrorUpstreamConfig>>;
  readonly ttl: number;
  readonly budget: number;
  readonly catalog: boolean;
  readonly local: readonly string[];
  readonly anonymous: boolean;
  readonly evictinterval: number;
}

export interface MirrorUpstreamConfig {
  readonly url: string;
  readonly hosts?: readonly string[];
  readonly default: boolean;
  readonly username: string;
  readonly password: string;
  readonly tagttl: number;
  readonly maxstale: number;
  readonly timeout: number;
}
