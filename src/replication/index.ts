// Replication's parts as the composition root builds them: the store (passwords sealed under a key
// derived from auth.token.signingkeysecret), the event sink, and the runner whose remote side is
// the upstream client behind the outbound guard (replication.allow opens internal remotes).
import { signingKeySealer } from '../auth/token-auth.js';
import type { BerthConfig } from '../config/index.js';
import type { MetadataDb } from '../metadata/database.js';
import { REPLICATION_CREDENTIALS, ReplicationStore } from '../metadata/replication-store.js';
import { systemResolver, type OutboundGuard, type Resolver } from '../net/outbound-connect.js';
import { OutboundPolicy } from '../net/outbound.js';
import { UpstreamClient } from '../upstream/client.js';
import { LocalRegistry, type LocalServices } from './local-registry.js';
import { ReplicationRunner } from './runner.js';
import { ReplicationSink } from './sink.js';

export interface Replication {
  store: ReplicationStore;
  runner: ReplicationRunner;
  sink: ReplicationSink;
}

export interface ReplicationDeps {
  registry: Omit<LocalServices, 'repositoryWithBlob'>;
  resolve?: Resolver;
  now: () => number;
  log?: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export function createReplication(config: BerthConfig, meta: MetadataDb, deps: ReplicationDeps): Replication {
  const policy = new OutboundPolicy(config.replication.allow);
  const guard: OutboundGuard = { policy, resolve: deps.resolve ?? systemResolver };
  const sealer = config.auth?.token ? signingKeySealer(config.auth.token, REPLICATION_CREDENTIALS) : null;
  const store = new ReplicationStore(meta, { sealer, now: deps.now, urlRefusal: (url) => policy.urlRefusal(url) });
  const { registry } = deps;
  const services: LocalServices = {
    manifests: registry.manifests,
    blobs: registry.blobs,
    uploads: registry.uploads,
    listing: registry.listing,
    deleteEnabled: registry.deleteEnabled,
    readOnly: registry.readOnly,
    repositoryWithBlob: (digest) => store.repositoryWithBlob(digest),
  };
  const runner = new ReplicationRunner({
    store,
    local: (origin) => new LocalRegistry(services, origin),
    remote: (p, credentials) =>
      new UpstreamClient(
        { url: p.remoteUrl, ...(credentials ? { username: credentials.username, password: credentials.password } : {}) },
        { guard, now: deps.now },
      ),
    now: deps.now,
    settings: { attempts: config.replication.attempts, backoff: config.replication.backoff, maxbackoff: config.replication.maxbackoff },
    log: deps.log,
  });
  return { store, runner, sink: new ReplicationSink(store) };
}
