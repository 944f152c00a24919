// `berth scrub`: garbage collection's other direction. Checks that every object the database
// knows (blob rows, manifest bodies) is in storage with the recorded size and, deep, the right
// digest; reports what is missing or corrupt and which manifests that breaks; and, repairing,
// makes the database forget each lost object so HEAD answers 404 and clients upload it again.
// No CLI here (src/cli/scrub-command.ts prints and exits).
//
// A registry may be serving meanwhile. Without repair nothing is written. Each repair is one
// transaction that looks at storage again first, because a concurrent upload may have put the
// object back: writers store bytes before they record rows, so an object seen missing inside
// the transaction was missing when the rows went, and a writer that stores it later records
// its rows again after ours.
import type { MetadataDb } from '../metadata/database.js';
import { ScrubStore, type Forgotten, type KnownObject, type ManifestUse } from '../metadata/scrub-store.js';
import { newHasher, parseDigest, type Digest } from '../oci/digest.js';
import { noEvents, type RegistryEventSink } from '../registry/events.js';
import { NotFoundError, type StorageDriver } from '../storage/driver.js';
import { blobKey, blobKeyPrefix } from '../storage/layout.js';

/** Parallel checks: enough to hide S3 HEAD latency, few enough for one disk or one gateway. */
export const DEFAULT_CONCURRENCY = 32;
/** Who the events of a repair name. */
export const SCRUB_ACTOR = '(scrub)';

export interface ScrubOptions {
  /** Also read every object and compare its digest (streamed, never buffered). */
  deep?: boolean;
  /** Make the database forget lost objects (see ScrubStore.forget); corrupt objects are deleted first. */
  repair?: boolean;
  /** Repair even when storage holds none of the objects sampled first (a misconfigured store would otherwise lose every row). */
  force?: boolean;
  /** Objects checked at once. */
  concurrency?: number;
  /** Consumers of the manifest.delete events a repair records (webhooks, the index). */
  events?: RegistryEventSink;
  now?: () => number;
  /** After each object. */
  onProgress?: (p: ScrubProgress) => void;
  /** Each problem once confirmed (and repaired, when repairing). */
  onProblem?: (p: ScrubProblem) => void;
}

export interface ScrubProgress {
  checked: number;
  total: number;
  bytes: number;
  problems: number;
}

/** missing: not in storage; size: stored size differs; digest: the bytes hash to another digest. */
export type ProblemKind = 'missing' | 'size' | 'digest';

export interface ScrubProblem {
  digest: string;
  /** A manifest body (some repository holds a manifest with this digest) or any other blob. */
  object: 'blob' | 'manifest';
  kind: ProblemKind;
  /** The size the database records. */
  size: number;
  actualSize?: number;
  actualDigest?: string;
  /** Repositories that may read it as a blob. */
  repositories: string[];
  /** Manifests that cannot be pulled whole without it. */
  manifests: ManifestUse[];
  repair?: RepairOutcome;
}

export type RepairOutcome =
  /** The database forgot it (and the corrupt bytes were deleted first). */
  | ({ result: 'forgotten'; deletedObject: boolean } & Forgotten)
  /** Storage had it again when the repair looked (a concurrent upload): nothing changed. */
  | { result: 'restored' }
  /** Left alone, and why. */
  | { result: 'skipped'; reason: string };

export interface Unpullable extends ManifestUse {
  /** Lost or corrupt objects it needs (its own digest when its body is the lost one). */
  lacks: string[];
}

export interface ScrubReport {
  deep: boolean;
  objects: number;
  bytes: number;
  ms: number;
  missing: { count: number; bytes: number };
  corrupt: { count: number; bytes: number };
  problems: ScrubProblem[];
  unpullable: Unpullable[];
  /** Totals of the repairs; null when not repairing. */
  repaired: { objects: number; deletedObjects: number; blobRows: number; links: number; manifests: number; tags: number; restored: number } | null;
}

export class ScrubRefusedError extends Error {
  readonly status = 400; // a refusal the CLI prints as one line
}

interface Finding {
  kind: ProblemKind;
  actualSize?: number;
  actualDigest?: string;
}

export async function scrub(storage: StorageDriver, meta: MetadataDb, opts: ScrubOptions = {}): Promise<ScrubReport> {
  const started = performance.now();
  const store = new ScrubStore(meta);
  const now = opts.now ?? Date.now;
  const events = opts.events ?? noEvents;
  const deep = !!opts.deep;
  const concurrency = Math.max(1, Math.floor(opts.concurrency ?? DEFAULT_CONCURRENCY));
  const total = await store.countObjects();
  if (opts.repair && !opts.force) {
    const sampled = await noneStored(storage, store, concurrency);
    if (sampled > 0) {
      throw new ScrubRefusedError(
        `storage holds none of the first ${sampled} of the ${total} objects the database knows: check the storage configuration (bucket, root directory); if the store really lost them all, repair with --force`,
      );
    }
  }

  const report: ScrubReport = {
    deep,
    objects: 0,
    bytes: 0,
    ms: 0,
    missing: { count: 0, bytes: 0 },
    corrupt: { count: 0, bytes: 0 },
    problems: [],
    unpullable: [],
    repaired: opts.repair ? { objects: 0, deletedObjects: 0, blobRows: 0, links: 0, manifests: 0, tags: 0, restored: 0 } : null,
  };
  const unpullable = new Map<string, Unpullable>();

  /** Checks one object, or takes `listed` (what a storage listing said) as the first look. */
  const checkOne = async (obj: KnownObject, listed?: { size: number } | null): Promise<void> => {
    const digest = parseDigest(obj.digest);
    const finding = listed === undefined ? await examine(storage, digest, obj.size, deep) : fromListing(listed, obj.size);
    // Looked at again before it counts: the row may have gone meanwhile (a manifest or repository
    // deleted, a collection), or the object may have arrived (an upload finishing).
    const confirmed = finding && (await confirm(storage, store, digest, finding, now()));
    report.objects++;
    report.bytes += obj.size;
    if (confirmed) {
      const problem: ScrubProblem = {
        digest: obj.digest,
        object: (await store.isManifest(obj.digest)) ? 'manifest' : 'blob',
        kind: confirmed.finding.kind,
        size: confirmed.size,
        ...(confirmed.finding.actualSize !== undefined ? { actualSize: confirmed.finding.actualSize } : {}),
        ...(confirmed.finding.actualDigest !== undefined ? { actualDigest: confirmed.finding.actualDigest } : {}),
        repositories: await store.linkedRepositories(obj.digest),
        manifests: await store.manifestsNeeding(obj.digest),
      };
      const tally = problem.kind === 'missing' ? report.missing : report.corrupt;
      tally.count++;
      tally.bytes += problem.size;
      for (const m of problem.manifests) {
        const key = `${m.repository}@${m.digest}`;
        const u = unpullable.get(key) ?? { ...m, lacks: [] };
        u.lacks.push(obj.digest);
        unpullable.set(key, u);
      }
      if (opts.repair) {
        problem.repair = await repair(storage, store, events, digest, problem, now);
        const r = report.repaired!;
        if (problem.repair.result === 'forgotten') {
          r.objects++;
          r.deletedObjects += problem.repair.deletedObject ? 1 : 0;
          r.blobRows += problem.repair.blobRows;
          r.links += problem.repair.links;
          r.manifests += problem.repair.manifests;
          r.tags += problem.repair.tags;
        } else if (problem.repair.result === 'restored') r.restored++;
      }
      report.problems.push(problem);
      opts.onProblem?.(problem);
    }
    opts.onProgress?.({ checked: report.objects, total, bytes: report.bytes, problems: report.problems.length });
  };

  if (deep) await inParallel(store.objects(), concurrency, (obj) => checkOne(obj));
  else {
    // One listing per digest prefix (S3: a request per 1,000 objects instead of a HEAD each), a
    // prefix's rows checked against it; only what it lacks or sizes differently is looked at again.
    await inParallel(shards(), Math.min(concurrency, SHARD_CONCURRENCY), async (shard) => {
      const stored = new Map<string, number>();
      for await (const o of storage.list(shard.prefix)) stored.set(o.key, o.size);
      for await (const obj of store.blobRows(shard.from, shard.to)) {
        const size = stored.get(blobKey(parseDigest(obj.digest)));
        await checkOne(obj, size === undefined ? null : { size });
      }
    });
    await inParallel(store.orphanBodies(), concurrency, (obj) => checkOne(obj));
  }
  report.problems.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  report.unpullable = [...unpullable.values()].sort((a, b) =>
    a.repository !== b.repository ? (a.repository < b.repository ? -1 : 1) : a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0,
  );
  for (const u of report.unpullable) u.lacks.sort();
  report.ms = performance.now() - started;
  return report;
}

/** Listings at once in a shallow scrub: each holds its prefix's keys (1/256 of the store) in memory. */
const SHARD_CONCURRENCY = 16;

interface Shard {
  /** Storage prefix, e.g. blobs/sha256/ab/. */
  prefix: string;
  /** The digests under it: from <= digest < to. */
  from: string;
  to: string;
}

/** The content-addressed key space cut by algorithm and first two hex digits (storage/layout.ts). */
async function* shards(): AsyncGenerator<Shard> {
  for (const algorithm of ['sha256', 'sha512']) {
    for (let i = 0; i < 256; i++) {
      const hex = i.toString(16).padStart(2, '0');
      // ':' sorts before every hex digit and ';' right after ':', so this range is exactly the prefix.
      const to = i === 255 ? `${algorithm};` : `${algorithm}:${(i + 1).toString(16).padStart(2, '0')}`;
      yield { prefix: blobKeyPrefix(algorithm, hex), from: `${algorithm}:${hex}`, to };
    }
  }
}

function fromListing(listed: { size: number } | null, size: number): Finding | null {
  if (!listed) return { kind: 'missing' };
  return listed.size === size ? null : { kind: 'size', actualSize: listed.size };
}

/** What is wrong with the stored object, or null when it is as recorded. */
async function examine(storage: StorageDriver, digest: Digest, size: number, deep: boolean): Promise<Finding | null> {
  const key = blobKey(digest);
  const stat = await storage.stat(key);
  if (!stat) return { kind: 'missing' };
  if (stat.size !== size) return { kind: 'size', actualSize: stat.size };
  if (!deep) return null;
  const hashed = await hashObject(storage, key, digest);
  if (!hashed) return { kind: 'missing' };
  if (hashed.size !== size) return { kind: 'size', actualSize: hashed.size };
  if (hashed.hex !== digest.hex) return { kind: 'digest', actualDigest: `${digest.algorithm}:${hashed.hex}` };
  return null;
}

/** Streams the object through the digest's hash; null when it is gone. */
async function hashObject(storage: StorageDriver, key: string, digest: Digest): Promise<{ hex: string; size: number } | null> {
  const hash = newHasher(digest.algorithm);
  let size = 0;
  try {
    for await (const chunk of await storage.read(key)) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  } catch (err) {
    if (err instanceof NotFoundError) return null;
    throw err;
  }
  return { hex: hash.digest('hex'), size };
}

/** The finding again with the database's current size, or null when it no longer holds. */
async function confirm(
  storage: StorageDriver,
  store: ScrubStore,
  digest: Digest,
  finding: Finding,
  now: number,
): Promise<{ finding: Finding; size: number } | null> {
  const size = await store.knownSize(digest.value, now);
  if (size === null) return null;
  const stat = await storage.stat(blobKey(digest));
  if (finding.kind === 'missing') return stat ? null : { finding, size };
  if (!stat) return { finding: { kind: 'missing' }, size };
  if (finding.kind === 'size') return stat.size === size ? null : { finding: { kind: 'size', actualSize: stat.size }, size };
  return { finding, size };
}

async function repair(
  storage: StorageDriver,
  store: ScrubStore,
  events: RegistryEventSink,
  digest: Digest,
  problem: ScrubProblem,
  now: () => number,
): Promise<RepairOutcome> {
  const key = blobKey(digest);
  let deletedObject = false;
  if (problem.kind !== 'missing') {
    // Corrupt bytes must go too: an upload of the digest finds an object there and keeps it. Checked
    // once more first, since writers only store verified bytes and one may have replaced them.
    const still = await examine(storage, digest, problem.size, problem.kind === 'digest');
    if (!still) return { result: 'restored' };
    if (still.kind !== 'missing') {
      await storage.delete(key);
      deletedObject = true;
    }
  }
  const at = now();
  return store.meta.transaction(async (tx): Promise<RepairOutcome> => {
    // Inside the transaction (a read, so PostgreSQL may run it again): a writer stores bytes before
    // it records rows, so what is missing now was missing when these rows go.
    // And the database again: a writer protects a digest before it writes the bytes, and the collector
    // marks a blob 'deleting' before it deletes them; either way the rows are not ours to remove.
    if (await store.beingWritten(tx, digest.value, at)) return { result: 'skipped', reason: 'an upload is writing it now' };
    if ((await store.knownSize(digest.value, at, tx)) === null) return { result: 'skipped', reason: 'deleted or being garbage-collected meanwhile' };
    const stat = await storage.stat(key);
    if (stat && stat.size === problem.size) return { result: 'restored' };
    if (stat) return { result: 'skipped', reason: `storage holds ${stat.size} bytes under ${key} again, ${problem.size} expected; run scrub again` };
    const forgotten = await store.forget(tx, digest.value, at);
    await events.record(
      tx,
      forgotten.manifestRepositories.map((repository) => ({ type: 'manifest.delete' as const, repository, digest: digest.value, actor: SCRUB_ACTOR, at })),
    );
    return { result: 'forgotten', deletedObject, ...forgotten };
  });
}

/**
 * How many objects were sampled when storage holds none of the first (up to) SAMPLE the database
 * knows, else 0. A typo in the bucket or root directory makes every object look lost, and a repair
 * would then forget them all.
 */
async function noneStored(storage: StorageDriver, store: ScrubStore, concurrency: number): Promise<number> {
  let sampled = 0;
  let found = false;
  await inParallel(take(store.objects(), SAMPLE), concurrency, async (obj) => {
    sampled++;
    if (!found && (await storage.stat(blobKey(parseDigest(obj.digest))))) found = true;
  });
  return found ? 0 : sampled;
}

const SAMPLE = 1000;

async function* take<T>(items: AsyncIterable<T>, n: number): AsyncGenerator<T> {
  if (n <= 0) return;
  let i = 0;
  for await (const item of items) {
    yield item;
    if (++i >= n) return;
  }
}

/** Runs `fn` over `items` with at most `n` at a time; the first failure stops the rest and is thrown. */
async function inParallel<T>(items: AsyncIterable<T>, n: number, fn: (item: T) => Promise<void>): Promise<void> {
  const it = items[Symbol.asyncIterator]();
  let failed = false;
  const worker = async () => {
    while (!failed) {
      const next = await it.next();
      if (next.done) return;
      try {
        await fn(next.value);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: n }, worker));
}
