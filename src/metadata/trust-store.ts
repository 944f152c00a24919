// Signature trust in the database (src/trust/): the policies set through the API, the verdicts
// per (subject digest, signature digest, policy version), the signatures a manifest has in a
// repository (referrers of signature types, cosign's `sha256-<hex>.sig` tag), and the queue of
// verifications still owed, claimed with a lease so any replica catches up on them.
import { sql, type Selectable } from 'kysely';
import { chunks } from './chunks.js';
import type { MetadataDb, Tx } from './database.js';
import type { PendingKind, ScopeKind, TrustMode, TrustPoliciesTable, VerdictStatus } from '../trust/schema.js';
import '../trust/schema.js';

/** Referrer artifact types that may be signatures (the format parser has the last word). */
export const SIGNATURE_ARTIFACT_TYPES: readonly string[] = [
  'application/vnd.dev.cosign.artifact.sig.v1+json',
  'application/vnd.dev.sigstore.bundle.v0.3+json',
  'application/vnd.dev.sigstore.bundle+json;version=0.3',
  'application/vnd.dev.sigstore.bundle+json;version=0.2',
  'application/vnd.dev.sigstore.bundle+json',
  // cosign 2.5 wrote bundles with an empty artifact type (the empty config's media type).
  'application/vnd.oci.empty.v1+json',
  'application/vnd.cncf.notary.signature',
];

/** cosign's legacy signature tag of a subject digest. */
export const SIGNATURE_TAG = /^sha256-([0-9a-f]{64})\.sig$/;
export const signatureTagOf = (subject: string): string | null => (subject.startsWith('sha256:') ? `sha256-${subject.slice(7)}.sig` : null);

export interface StoredPolicy {
  id: number;
  scopeKind: ScopeKind;
  scope: string;
  mode: TrustMode;
  material: string;
  version: string;
  createdBy: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface Verdict {
  subjectDigest: string;
  signatureDigest: string;
  policyVersion: string;
  format: string;
  status: VerdictStatus;
  signer: string | null;
  reason: string;
  verifiedAt: number;
}

/** A manifest in a repository that may be a signature of a subject. */
export interface SignatureCandidate {
  digest: string;
  mediaType: string;
  size: number;
  /** The cosign legacy tag it was found under. */
  tag?: string;
  /** The subject it names (referrers) or its tag names (legacy). */
  subject: string;
}

export interface PendingItem {
  id: number;
  kind: PendingKind;
  key: string;
  attempts: number;
}

const POLICY_COLUMNS = ['id', 'scope_kind', 'scope', 'mode', 'material', 'version', 'created_by', 'created_at', 'updated_at'] as const;

function trustPolicyOf(r: Pick<Selectable<TrustPoliciesTable>, (typeof POLICY_COLUMNS)[number]>): StoredPolicy {
  return {
    id: Number(r.id),
    scopeKind: r.scope_kind,
    scope: r.scope,
    mode: r.mode,
    material: r.material,
    version: r.version,
    createdBy: r.created_by,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export class TrustStore {
  constructor(readonly meta: MetadataDb) {}

  private get db() {
    return this.meta.db;
  }

  // ---- policies ----

  async policy(kind: ScopeKind, scope: string, tx: Tx = this.db): Promise<StoredPolicy | null> {
    const r = await tx.selectFrom('trust_policies').select(POLICY_COLUMNS).where('scope_kind', '=', kind).where('scope', '=', scope).executeTakeFirst();
    return r ? trustPolicyOf(r) : null;
  }

  /** Every policy set through the API (one per scope: a small table). */
  async allPolicies(): Promise<StoredPolicy[]> {
    return (await this.db.selectFrom('trust_policies').select(POLICY_COLUMNS).orderBy('id').execute()).map(trustPolicyOf);
  }

  /** Creates or replaces the policy of a scope; returns the version it replaced (null when new). */
  async putPolicy(
    tx: Tx,
    p: { scopeKind: ScopeKind; scope: string; mode: TrustMode; material: string; version: string },
    actor: string | null,
    now: number,
  ): Promise<{ previousVersion: string | null }> {
    const current = await this.policy(p.scopeKind, p.scope, tx);
    if (current) {
      await tx
        .updateTable('trust_policies')
        .set({ mode: p.mode, material: p.material, version: p.version, updated_at: now })
        .where('id', '=', current.id)
        .execute();
      return { previousVersion: current.version };
    }
    await tx
      .insertInto('trust_policies')
      .values({
        scope_kind: p.scopeKind,
        scope: p.scope,
        mode: p.mode,
        material: p.material,
        version: p.version,
        created_by: actor,
        created_at: now,
        updated_at: now,
      })
      .execute();
    return { previousVersion: null };
  }

  async deletePolicy(tx: Tx, kind: ScopeKind, scope: string): Promise<boolean> {
    const r = await tx.deleteFrom('trust_policies').where('scope_kind', '=', kind).where('scope', '=', scope).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // ---- verdicts ----

  /** Stored verdicts of these signatures of `subject` under one policy version, by signature digest. */
  async verdicts(subject: string, signatures: string[], version: string, tx: Tx = this.db): Promise<Map<string, Verdict>> {
    const out = new Map<string, Verdict>();
    for (const chunk of chunks(signatures, 500)) {
      const rows = await tx
        .selectFrom('trust_verdicts')
        .selectAll()
        .where('subject_digest', '=', subject)
        .where('policy_version', '=', version)
        .where('signature_digest', 'in', chunk)
        .execute();
      for (const r of rows) out.set(r.signature_digest, verdictOf(r));
    }
    return out;
  }

  /** Records a verdict unless one is there already (another replica computed it); true when this one was written. */
  async recordVerdict(tx: Tx, v: Verdict): Promise<boolean> {
    const r = await tx
      .insertInto('trust_verdicts')
      .values({
        subject_digest: v.subjectDigest,
        signature_digest: v.signatureDigest,
        policy_version: v.policyVersion,
        format: v.format,
        status: v.status,
        signer: v.signer,
        reason: v.reason.slice(0, 1000),
        verified_at: v.verifiedAt,
      })
      .onConflict((oc) => oc.columns(['subject_digest', 'signature_digest', 'policy_version']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  // ---- what signs what, in a repository ----

  /** The manifests in `repository` that may sign `subject`: referrers of signature types, and cosign's tag. */
  async signatureCandidates(repository: string, subject: string, limit = 64): Promise<SignatureCandidate[]> {
    return (await this.signatureCandidatesOf(repository, [subject], limit)).get(subject) ?? [];
  }

  /** signatureCandidates for several subjects at once (a page of tags), by subject. */
  async signatureCandidatesOf(repository: string, subjects: string[], limitEach = 64): Promise<Map<string, SignatureCandidate[]>> {
    const out = new Map<string, SignatureCandidate[]>(subjects.map((s) => [s, []]));
    if (subjects.length === 0) return out;
    const add = (c: SignatureCandidate) => {
      const list = out.get(c.subject);
      if (list && list.length < limitEach && !list.some((x) => x.digest === c.digest)) list.push(c);
    };
    for (const chunk of chunks([...new Set(subjects)], 200)) {
      const referrers = await this.db
        .selectFrom('manifests as m')
        .innerJoin('repositories as r', 'r.id', 'm.repository_id')
        .select(['m.digest', 'm.media_type', 'm.size', 'm.subject_digest'])
        .where('r.name', '=', repository)
        .where('m.subject_digest', 'in', chunk)
        .where('m.artifact_type', 'in', [...SIGNATURE_ARTIFACT_TYPES])
        .orderBy('m.id')
        .execute();
      for (const r of referrers) add({ digest: r.digest, mediaType: r.media_type, size: Number(r.size), subject: r.subject_digest! });
      const tagNames = chunk.map(signatureTagOf).filter((t): t is string => t !== null);
      if (tagNames.length === 0) continue;
      const tagged = await this.db
        .selectFrom('tags as t')
        .innerJoin('repositories as r', 'r.id', 't.repository_id')
        .innerJoin('manifests as m', 'm.id', 't.manifest_id')
        .select(['t.name', 'm.digest', 'm.media_type', 'm.size'])
        .where('r.name', '=', repository)
        .where('t.name', 'in', tagNames)
        .execute();
      for (const t of tagged) {
        const hex = SIGNATURE_TAG.exec(t.name)?.[1];
        if (hex) add({ digest: t.digest, mediaType: t.media_type, size: Number(t.size), tag: t.name, subject: `sha256:${hex}` });
      }
    }
    return out;
  }

  /** A manifest clients must be able to fetch whatever its trust: a referrer, or one under cosign's signature tag. */
  async isSignatureArtifact(repository: string, digest: string): Promise<boolean> {
    const m = await this.db
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select(['m.id', 'm.subject_digest'])
      .where('r.name', '=', repository)
      .where('m.digest', '=', digest)
      .executeTakeFirst();
    if (!m) return false;
    if (m.subject_digest !== null) return true;
    const tags = await this.db.selectFrom('tags').select('name').where('manifest_id', '=', Number(m.id)).execute();
    return tags.some((t) => SIGNATURE_TAG.test(t.name));
  }

  /** Indexes in the repository that list `digest` as a child (docker pulls a child by digest after its index). */
  async parentIndexes(repository: string, digest: string, limit = 16): Promise<string[]> {
    const rows = await this.db
      .selectFrom('manifest_references as mr')
      .innerJoin('manifests as m', 'm.id', 'mr.manifest_id')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select('m.digest')
      .where('r.name', '=', repository)
      .where('mr.digest', '=', digest)
      .where('mr.kind', '=', 'manifest')
      .orderBy('m.id', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => r.digest);
  }

  /** The cosign signature tags pointing at a manifest in a repository. */
  async signatureTagsOf(repository: string, digest: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('tags as t')
      .innerJoin('repositories as r', 'r.id', 't.repository_id')
      .innerJoin('manifests as m', 'm.id', 't.manifest_id')
      .select('t.name')
      .where('r.name', '=', repository)
      .where('m.digest', '=', digest)
      .where('t.name', 'like', 'sha256-%.sig')
      .execute();
    return rows.map((r) => r.name).filter((n) => SIGNATURE_TAG.test(n));
  }

  /** The subject a referrer names, if the manifest is one. */
  async subjectOf(repository: string, digest: string): Promise<string | null> {
    const r = await this.db
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select('m.subject_digest')
      .where('r.name', '=', repository)
      .where('m.digest', '=', digest)
      .executeTakeFirst();
    return r?.subject_digest ?? null;
  }

  /**
   * Signatures under a scope after `after` (a manifest id), at most `limit`: referrers of signature types
   * and manifests under cosign's tag, with their repository. For re-verifying when a policy's keys change.
   */
  async signaturesInScope(kind: ScopeKind, scope: string, after: number, limit: number): Promise<{ id: number; repository: string; digest: string }[]> {
    let q = this.db
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select(['m.id', 'r.name', 'm.digest'])
      .where('m.id', '>', after)
      .where((eb) =>
        eb.or([
          eb.and([eb('m.subject_digest', 'is not', null), eb('m.artifact_type', 'in', [...SIGNATURE_ARTIFACT_TYPES])]),
          eb.exists(eb.selectFrom('tags as t').select('t.name').whereRef('t.manifest_id', '=', 'm.id').where('t.name', 'like', 'sha256-%.sig')),
        ]),
      )
      .orderBy('m.id')
      .limit(limit);
    if (kind === 'repository') q = q.where('r.name', '=', scope);
    else if (kind === 'namespace') q = q.where('r.namespace', '=', scope);
    const rows = await q.execute();
    return rows.map((r) => ({ id: Number(r.id), repository: r.name, digest: r.digest }));
  }

  // ---- work still owed ----

  /** Queues a verification (in the caller's transaction); one row per key, however often it is queued. */
  async enqueue(tx: Tx, kind: PendingKind, key: string, now: number): Promise<void> {
    await tx
      .insertInto('trust_pending')
      .values({ kind, key, created_at: now, next_attempt_at: now })
      .onConflict((oc) => oc.columns(['kind', 'key']).doUpdateSet({ next_attempt_at: now, attempts: 0 }))
      .execute();
  }

  /** Claims up to `limit` due items until `leaseUntil` (a conditional update: one replica gets each). */
  async claim(now: number, leaseUntil: number, limit: number): Promise<PendingItem[]> {
    const due = await this.db
      .selectFrom('trust_pending')
      .select(['id', 'kind', 'key', 'attempts', 'lease_until'])
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .orderBy('id')
      .limit(limit)
      .execute();
    const claimed: PendingItem[] = [];
    for (const r of due) {
      const u = await this.db
        .updateTable('trust_pending')
        .set({ lease_until: leaseUntil })
        .where('id', '=', r.id)
        .where((eb) => (r.lease_until === null ? eb('lease_until', 'is', null) : eb('lease_until', '=', r.lease_until)))
        .executeTakeFirst();
      if (Number(u.numUpdatedRows) > 0) claimed.push({ id: Number(r.id), kind: r.kind, key: r.key, attempts: Number(r.attempts) });
    }
    return claimed;
  }

  /** Done: the row goes (in the transaction that recorded the work's verdicts). */
  async finish(tx: Tx, id: number): Promise<void> {
    await tx.deleteFrom('trust_pending').where('id', '=', id).execute();
  }

  /** Failed: tried again at `retryAt`, or dropped after too many attempts. */
  async retry(id: number, error: string, retryAt: number, drop: boolean): Promise<void> {
    if (drop) {
      await this.db.deleteFrom('trust_pending').where('id', '=', id).execute();
      return;
    }
    await this.db
      .updateTable('trust_pending')
      .set((eb) => ({ attempts: eb('attempts', '+', 1), next_attempt_at: retryAt, lease_until: null, last_error: error.slice(0, 500) }))
      .where('id', '=', id)
      .execute();
  }

  async pendingCount(): Promise<number> {
    const r = await this.db.selectFrom('trust_pending').select(sql<number>`count(*)`.as('n')).executeTakeFirst();
    return Number(r?.n ?? 0);
  }
}

function verdictOf(r: {
  subject_digest: string;
  signature_digest: string;
  policy_version: string;
  format: string;
  status: VerdictStatus;
  signer: string | null;
  reason: string;
  verified_at: number;
}): Verdict {
  return {
    subjectDigest: r.subject_digest,
    signatureDigest: r.signature_digest,
    policyVersion: r.policy_version,
    format: r.format,
    status: r.status,
    signer: r.signer,
    reason: r.reason,
    verifiedAt: Number(r.verified_at),
  };
}
