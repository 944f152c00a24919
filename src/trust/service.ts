// Signature trust as a service: which policy applies to a repository, the signatures a manifest
// has there, their verdicts (stored per subject, signature and policy version; computed when a
// signature is pushed, when a policy's keys change, or at pull time when missing), and the
// decision a pull gets. Verification itself is formats/index.ts (pure); this reads the bytes.
import { createHash } from 'node:crypto';
import type { Tx } from '../metadata/database.js';
import type { RegistryStore } from '../metadata/registry-store.js';
import { SIGNATURE_ARTIFACT_TYPES, SIGNATURE_TAG, type SignatureCandidate, type StoredPolicy, type TrustStore, type Verdict } from '../metadata/trust-store.js';
import { parseDigest } from '../oci/digest.js';
import type { RegistryEvent, RegistryEventSink } from '../registry/events.js';
import type { ManifestService } from '../registry/manifests.js';
import type { StorageDriver } from '../storage/driver.js';
import { blobKey } from '../storage/layout.js';
import { classifySignature, verifySignature, type TrustMaterial } from './formats/index.js';
import { applicablePolicy, compileMaterial, policyLabel, type MaterialInput, type TrustPolicy } from './policies.js';
import type { ScopeKind } from './schema.js';

/** Signature blobs are small; anything larger is not one (and is never read whole). */
const MAX_BLOB = 1024 * 1024;
const MAX_BLOBS = 16;
/** The version verdicts are stored under when no policy applies (nothing is trusted). */
export const NO_POLICY = '';
const EMPTY_MATERIAL: TrustMaterial = { keys: [] };
const POLICY_CACHE_MS = 1000;

export type TrustStatus = 'verified' | 'untrusted' | 'unsigned';

export interface SignatureView {
  digest: string;
  format: string;
  status: 'verified' | 'untrusted' | 'invalid';
  signer: string | null;
  reason: string;
  verifiedAt: number | null;
}

export interface Evaluation {
  status: TrustStatus;
  policy: TrustPolicy | null;
  signatures: SignatureView[];
  /** Verified through an index in the same repository that lists the manifest and is verified. */
  via?: string;
}

export interface TrustServiceDeps {
  store: TrustStore;
  registry: RegistryStore;
  manifests: Pick<ManifestService, 'body'>;
  storage: StorageDriver;
  /** The configuration file's policies (trust.policies). */
  configPolicies: TrustPolicy[];
  events: RegistryEventSink;
  now: () => number;
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** A verification was queued (the transaction may still be open): wakes this replica's job. */
  onQueued?: () => void;
}

export class TrustService {
  private readonly compiled = new Map<string, TrustMaterial>();
  /** The API's policies, read at most once a second (every pull asks): a change made elsewhere applies here within that. */
  private cached: { at: number; policies: Promise<TrustPolicy[]> } | null = null;

  constructor(private readonly d: TrustServiceDeps) {}

  get store(): TrustStore {
    return this.d.store;
  }

  async hasManifest(repository: string, digest: string): Promise<boolean> {
    return (await this.d.registry.manifestByDigest(repository, digest)) !== null;
  }

  /** Config policies, for listing next to the API's. */
  get configPolicies(): readonly TrustPolicy[] {
    return this.d.configPolicies;
  }

  /** The policy that applies to a repository (most specific scope wins), or null. */
  async policyFor(repository: string): Promise<TrustPolicy | null> {
    return applicablePolicy(repository, [...this.d.configPolicies, ...(await this.apiPolicies())]);
  }

  private apiPolicies(): Promise<TrustPolicy[]> {
    const now = Date.now();
    if (!this.cached || now - this.cached.at > POLICY_CACHE_MS) {
      const policies = this.d.store.allPolicies().then((rows) => rows.map((p) => this.fromStored(p)));
      this.cached = { at: now, policies };
      policies.catch(() => {
        if (this.cached?.policies === policies) this.cached = null;
      });
    }
    return this.cached.policies;
  }

  /** After this process changed a policy: read them again on the next pull. */
  forgetPolicies(): void {
    this.cached = null;
  }

  /** A stored (API) policy as a TrustPolicy; material compiled once per version. */
  fromStored(p: StoredPolicy): TrustPolicy {
    const input = JSON.parse(p.material) as MaterialInput;
    let material = this.compiled.get(p.version);
    if (!material) {
      try {
        material = compileMaterial(input).material;
      } catch (err) {
        // Material this version cannot use (stored by another one): nothing verifies under it, so an
        // enforce policy refuses rather than lets everything through; pulls do not fail with 500.
        this.d.log.error({ err, scope: `${p.scopeKind}:${p.scope}` }, 'trust: a stored policy cannot be compiled; nothing verifies under it');
        material = EMPTY_MATERIAL;
      }
      this.compiled.set(p.version, material);
    }
    return {
      source: 'api',
      name: p.scopeKind === 'global' ? 'global' : `${p.scopeKind} ${p.scope}`,
      scope: { kind: p.scopeKind, name: p.scope },
      mode: p.mode,
      input,
      material,
      version: p.version,
      createdBy: p.createdBy,
      updatedAt: p.updatedAt,
    };
  }

  /**
   * A manifest's signatures in a repository and their verdicts under the policy that applies,
   * computing (and storing) the missing ones. `parents`: when not verified itself, a verified index
   * in the repository that lists it verifies it too.
   */
  async evaluate(repository: string, digest: string, opts: { parents?: boolean; policy?: TrustPolicy | null } = {}): Promise<Evaluation> {
    const policy = opts.policy !== undefined ? opts.policy : await this.policyFor(repository);
    const candidates = await this.d.store.signatureCandidates(repository, digest);
    const signatures = await this.verdictsOf(repository, digest, candidates, policy);
    let status: TrustStatus = signatures.some((s) => s.status === 'verified') ? 'verified' : signatures.length ? 'untrusted' : 'unsigned';
    let via: string | undefined;
    if (status !== 'verified' && opts.parents && policy) {
      for (const parent of await this.d.store.parentIndexes(repository, digest)) {
        if ((await this.evaluate(repository, parent, { policy })).status === 'verified') {
          status = 'verified';
          via = parent;
          break;
        }
      }
    }
    return { status, policy, signatures, ...(via ? { via } : {}) };
  }

  /** Stored verdicts for a page of manifests (tag listings), computing the missing ones. */
  async summaries(repository: string, digests: string[]): Promise<Map<string, { status: TrustStatus; signers: string[] }>> {
    const policy = await this.policyFor(repository);
    const byDigest = await this.d.store.signatureCandidatesOf(repository, digests);
    const out = new Map<string, { status: TrustStatus; signers: string[] }>();
    for (const d of new Set(digests)) {
      const sigs = await this.verdictsOf(repository, d, byDigest.get(d) ?? [], policy);
      const verified = sigs.filter((s) => s.status === 'verified');
      const status: TrustStatus = verified.length ? 'verified' : sigs.length ? 'untrusted' : 'unsigned';
      const signers = [...new Set((verified.length ? verified : sigs).map((s) => s.signer).filter((s): s is string => s !== null))];
      out.set(d, { status, signers });
    }
    return out;
  }

  private async verdictsOf(repository: string, subject: string, candidates: SignatureCandidate[], policy: TrustPolicy | null): Promise<SignatureView[]> {
    if (candidates.length === 0) return [];
    const version = policy?.version ?? NO_POLICY;
    const stored = await this.d.store.verdicts(
      subject,
      candidates.map((c) => c.digest),
      version,
    );
    const views: SignatureView[] = [];
    for (const c of candidates) {
      const v = stored.get(c.digest) ?? (await this.verify(repository, c, policy));
      if (v) views.push(viewOf(v));
    }
    return views;
  }

  /**
   * Verifies one signature of `c.subject` under the policy, stores the verdict, and records
   * signature.failed in the same transaction when it is untrusted or invalid. Null when the
   * manifest is not a signature after all; a verdict not stored when the bytes could not be read.
   */
  async verify(
    repository: string,
    c: SignatureCandidate,
    policy: TrustPolicy | null,
    tx?: (fn: (tx: Tx) => Promise<void>) => Promise<void>,
  ): Promise<Verdict | null> {
    const now = this.d.now();
    const version = policy?.version ?? NO_POLICY;
    const base = { subjectDigest: c.subject, signatureDigest: c.digest, policyVersion: version, verifiedAt: now };
    const row = await this.d.registry.manifestByDigest(repository, c.digest);
    if (!row) return null;
    let doc: unknown;
    try {
      doc = JSON.parse((await this.d.manifests.body(row)).toString('utf8'));
    } catch (err) {
      this.d.log.warn({ err, repository, digest: c.digest }, 'trust: signature manifest unreadable');
      return { ...base, format: 'unknown', status: 'invalid', signer: null, reason: 'the signature manifest cannot be read' };
    }
    const kind = classifySignature(doc, c.tag);
    if (!kind) return null;
    if (kind.subjectDigest && kind.subjectDigest !== c.subject) {
      return this.store_(
        repository,
        { ...base, format: kind.format, status: 'invalid', signer: null, reason: `the signature names ${kind.subjectDigest}` },
        policy,
        tx,
      );
    }
    if (kind.blobs.length > MAX_BLOBS || kind.blobs.some((b) => b.size > MAX_BLOB)) {
      return this.store_(
        repository,
        { ...base, format: kind.format, status: 'invalid', signer: null, reason: 'signature blobs are too large or too many' },
        policy,
        tx,
      );
    }
    const blobs = new Map<string, Buffer>();
    try {
      for (const b of kind.blobs) blobs.set(b.digest, await this.readBlob(b.digest, b.size));
    } catch (err) {
      this.d.log.warn({ err, repository, digest: c.digest }, 'trust: signature blob unreadable');
      return { ...base, format: kind.format, status: 'invalid', signer: null, reason: `a signature blob cannot be read: ${(err as Error).message}` };
    }
    // A bundle's message signature signs the subject manifest's bytes themselves.
    if (kind.format === 'cosign-bundle') {
      const subjectRow = await this.d.registry.manifestByDigest(repository, c.subject);
      if (subjectRow) blobs.set(c.subject, await this.d.manifests.body(subjectRow));
    }
    let verdict: Verdict;
    try {
      const v = await verifySignature(kind, c.subject, blobs, policy?.material ?? EMPTY_MATERIAL, now);
      verdict = { ...base, format: kind.format, status: v.status, signer: v.signer, reason: v.reason };
    } catch (err) {
      verdict = { ...base, format: kind.format, status: 'invalid', signer: null, reason: `verification failed: ${(err as Error).message}` };
    }
    return this.store_(repository, verdict, policy, tx);
  }

  private async store_(repository: string, v: Verdict, policy: TrustPolicy | null, inTx?: (fn: (tx: Tx) => Promise<void>) => Promise<void>): Promise<Verdict> {
    const write = async (tx: Tx) => {
      const fresh = await this.d.store.recordVerdict(tx, v);
      if (fresh && policy && v.status !== 'verified') {
        const event: RegistryEvent = {
          type: 'signature.failed',
          repository,
          digest: v.subjectDigest,
          actor: null,
          at: v.verifiedAt,
          signature: {
            digest: v.signatureDigest,
            format: v.format,
            status: v.status,
            signer: v.signer,
            reason: v.reason,
            policy: policyLabel(policy),
            mode: policy.mode,
          },
        };
        await this.d.events.record(tx, [event]);
      }
    };
    if (inTx) await inTx(write);
    else await this.d.store.meta.transaction(write);
    return v;
  }

  /** A signature blob, whole (bounded by its descriptor's size) and checked against its digest. */
  private async readBlob(digest: string, size: number): Promise<Buffer> {
    const d = parseDigest(digest);
    const parts: Buffer[] = [];
    let n = 0;
    for await (const chunk of await this.d.storage.read(blobKey(d))) {
      n += (chunk as Buffer).length;
      if (n > Math.min(size, MAX_BLOB)) throw new Error('blob is longer than its descriptor says');
      parts.push(chunk as Buffer);
    }
    const bytes = Buffer.concat(parts);
    if (d.algorithm === 'sha256' && `sha256:${createHash('sha256').update(bytes).digest('hex')}` !== digest) throw new Error('blob does not match its digest');
    return bytes;
  }

  // ---- the pull gate ----

  /** Allows, or throws nothing but returns the refusal's message (enforce) / null. Audit mode never refuses. */
  async refusal(repository: string, digest: string): Promise<{ policy: TrustPolicy; message: string; evaluation: Evaluation } | null> {
    const policy = await this.policyFor(repository);
    if (!policy) return null;
    // Clients must fetch signatures (and other referrers) to verify them: never refused.
    if (await this.d.store.isSignatureArtifact(repository, digest)) return null;
    const ev = await this.evaluate(repository, digest, { parents: true, policy });
    if (ev.status === 'verified') return null;
    return { policy, evaluation: ev, message: `${policyLabel(policy)} refuses ${repository}@${digest}: ${whyNot(ev)}` };
  }

  // ---- verifications owed ----

  /** Queues the verification of a pushed signature, in the push's transaction. */
  async signaturePushed(tx: Tx, repository: string, digest: string, now: number): Promise<void> {
    await this.d.store.enqueue(tx, 'signature', `${repository}@${digest}`, now);
  }

  /** Queues re-verification of every signature under a policy whose material changed. */
  async policyChanged(tx: Tx, kind: ScopeKind, scope: string, now: number): Promise<void> {
    await this.d.store.enqueue(tx, 'scope', `${kind}:${scope}`, now);
  }

  /** Works off due items (any replica); returns how many were done. */
  async drain(limit = 32): Promise<number> {
    const now = this.d.now();
    const items = await this.d.store.claim(now, now + 60_000, limit);
    let done = 0;
    for (const item of items) {
      try {
        if (item.kind === 'signature') await this.verifyPushed(item.id, item.key);
        else await this.verifyScope(item.id, item.key);
        done++;
      } catch (err) {
        this.d.log.error({ err, item: item.key }, 'trust: verification failed; retried later');
        const attempts = item.attempts + 1;
        await this.d.store.retry(item.id, (err as Error).message, this.d.now() + Math.min(2 ** attempts * 1000, 600_000), attempts >= 10);
      }
    }
    return done;
  }

  private async verifyPushed(id: number, key: string): Promise<void> {
    const at = key.lastIndexOf('@');
    const repository = key.slice(0, at);
    const digest = key.slice(at + 1);
    const policy = await this.policyFor(repository);
    const subjects: SignatureCandidate[] = [];
    const row = await this.d.registry.manifestByDigest(repository, digest);
    if (row) {
      const subject = await this.d.store.subjectOf(repository, digest);
      if (subject) subjects.push({ digest, mediaType: row.mediaType, size: row.size, subject });
      for (const tag of await this.d.store.signatureTagsOf(repository, digest)) {
        subjects.push({ digest, mediaType: row.mediaType, size: row.size, tag, subject: `sha256:${tag.slice(7, 71)}` });
      }
    }
    // No policy: nothing to trust it with yet; a policy added later re-verifies its scope.
    if (policy) {
      for (const c of subjects) {
        if ((await this.d.store.verdicts(c.subject, [c.digest], policy.version)).size === 0) await this.verify(repository, c, policy);
      }
    }
    // Without a policy there is nothing to trust it with yet: a policy added later re-verifies its scope.
    // Verdicts are idempotent, so a crash before this line only repeats the work.
    await this.d.store.meta.transaction((tx) => this.d.store.finish(tx, id));
  }

  private async verifyScope(id: number, key: string): Promise<void> {
    const colon = key.indexOf(':');
    const kind = key.slice(0, colon) as ScopeKind;
    const scope = key.slice(colon + 1);
    let after = 0;
    for (;;) {
      const batch = await this.d.store.signaturesInScope(kind, scope, after, 200);
      if (batch.length === 0) break;
      after = batch[batch.length - 1].id;
      for (const s of batch) {
        const policy = await this.policyFor(s.repository);
        if (!policy) continue;
        const subject = await this.d.store.subjectOf(s.repository, s.digest);
        const row = await this.d.registry.manifestByDigest(s.repository, s.digest);
        if (!row) continue;
        const candidates: SignatureCandidate[] = [];
        if (subject) candidates.push({ digest: s.digest, mediaType: row.mediaType, size: row.size, subject });
        for (const tag of await this.d.store.signatureTagsOf(s.repository, s.digest))
          candidates.push({ digest: s.digest, mediaType: row.mediaType, size: row.size, tag, subject: `sha256:${tag.slice(7, 71)}` });
        for (const c of candidates) {
          if ((await this.d.store.verdicts(c.subject, [c.digest], policy.version)).size === 0) await this.verify(s.repository, c, policy);
        }
      }
    }
    await this.d.store.meta.transaction((tx) => this.d.store.finish(tx, id));
  }

  /** The registry event sink: a pushed signature is queued for verification in the push's transaction. */
  readonly sink: RegistryEventSink = {
    record: async (tx, events) => {
      for (const e of events) {
        if (e.type !== 'push' || !e.digest) continue;
        const signatureTag = e.tag !== undefined && SIGNATURE_TAG.test(e.tag);
        const signatureType = e.artifactType !== undefined && SIGNATURE_TYPES.has(e.artifactType);
        if (signatureTag || signatureType) {
          await this.signaturePushed(tx, e.repository, e.digest, e.at);
          this.d.onQueued?.();
        }
      }
    },
  };
}

const SIGNATURE_TYPES = new Set(SIGNATURE_ARTIFACT_TYPES);

function viewOf(v: Verdict): SignatureView {
  return { digest: v.signatureDigest, format: v.format, status: v.status, signer: v.signer, reason: v.reason, verifiedAt: v.verifiedAt };
}

/** Why an evaluation does not pass, in a sentence a client shows. */
export function whyNot(ev: Evaluation): string {
  if (ev.status === 'unsigned') return 'the image has no signature';
  const shown = ev.signatures.slice(0, 3).map((s) => `${s.format} signature ${s.digest.slice(0, 19)}… is ${s.status}: ${s.reason}`);
  const more = ev.signatures.length > 3 ? ` (and ${ev.signatures.length - 3} more)` : '';
  return `no signature verifies against the policy's keys or identities (${shown.join('; ')}${more})`;
}
