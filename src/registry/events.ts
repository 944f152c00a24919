// Registry events: what changed, recorded by the services inside the same
// transaction as the change itself (the outbox pattern), so a committed push
// always has its event and a rolled-back one never does. Webhooks, watchers
// and statistics consume them; the registry only produces them.
import type { Tx } from '../metadata/database.js';

export type RegistryEventType = 'push' | 'tag.delete' | 'manifest.delete' | 'repository.create' | 'repository.delete' | 'quota.warning' | 'signature.failed';

export interface RegistryEvent {
  type: RegistryEventType;
  repository: string;
  /** Set for pushes by tag and tag deletes. */
  tag?: string;
  digest?: string;
  mediaType?: string;
  artifactType?: string;
  size?: number;
  /** Account that made the change (null when unauthenticated or unknown). */
  actor: string | null;
  /** Client address. */
  address?: string;
  /** Milliseconds since the epoch. */
  at: number;
  /** For quota.warning: the namespace's usage after the push that crossed its warning level (bytes). */
  quota?: { namespace: string; used: number; warning: number; limit: number | null };
  /** Set when a retention policy made the change (tag.delete, manifest.delete). */
  retention?: RetentionOrigin;
  /** For signature.failed (`digest` is the signed image's): the signature and its verdict. */
  signature?: SignatureFailure;
}

/** A signature whose verdict is untrusted or invalid under a trust policy (src/trust/). */
export interface SignatureFailure {
  digest: string;
  format: string;
  status: 'untrusted' | 'invalid';
  signer: string | null;
  reason: string;
  /** The policy's label ("trust policy \"release\" (namespace acme)") and mode. */
  policy: string;
  mode: 'audit' | 'enforce';
}

/** The retention policy that made a change. */
export interface RetentionOrigin {
  namespace: string;
  policy: string;
}

/** Who made a change, as the HTTP layer knows it (or the retention policy that made it). */
export interface Origin {
  actor: string | null;
  address?: string;
  retention?: RetentionOrigin;
}

export interface RegistryEventSink {
  /** Called inside the change's transaction; must only write through `tx`. */
  record(tx: Tx, events: RegistryEvent[]): Promise<void>;
}

export const noEvents: RegistryEventSink = {
  async record() {},
};

/** Several consumers of the same events, each writing in the same transaction. */
export function combineSinks(sinks: RegistryEventSink[]): RegistryEventSink {
  return {
    async record(tx, events) {
      for (const s of sinks) await s.record(tx, events);
    },
  };
}
