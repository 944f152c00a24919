// Rights taken away reach registry tokens already issued. A registry token is a signed list
// of grants that every replica trusts until it expires (minutes), and the verification
// cache makes checking it a map lookup. So a change that takes rights away also writes a
// revocation row in its transaction, naming a subject (a user or robot), a repository or a
// namespace; over-approximating is harmless, since a refused client fetches a new token,
// which carries the current rights.
//
// Ordering does not depend on clocks: the issuer reads the highest revocation id before it
// authenticates and authorizes, and puts it in the token (the `rev` claim). A token is
// refused when a revocation matching it has a higher id: that change was not visible when
// its grants were computed. Ids become visible in order (metadata/revocation-store.ts).
//
// Every process keeps the recent rows in memory, polls for new ones every second (so other
// replicas apply a change within about a second), and the process that made a change
// polls right after its commit, and has its sibling workers poll (revocation-relay.ts), so
// its replica applies it before it answers.
import type { RevocationKind, RevocationRow, RevocationStore } from '../metadata/accounts/revocations.js';
import type { Tx } from '../metadata/database.js';
import { namespaceOf } from './policy.js';

export type { RevocationKind };
export interface Revocation {
  kind: RevocationKind;
  key: string;
}

export interface RevocationOptions {
  /**
   * How long after a revocation a token issued before it can still be presented: the
   * token lifetime plus the verifier's clock tolerance, plus room for clock skew.
   */
  retainMs: number;
  /** Interval of the poll for other processes' revocations. */
  pollMs?: number;
  /** Milliseconds since the epoch (tests pass their own). */
  clock?: () => number;
}

/** Rows stay in the table this long beyond `retainMs` (a process starting up reads them). */
const KEEP_EXTRA_MS = 60 * 60_000;

interface Entry {
  /** The newest revocation of the key. */
  id: number;
  /** Local time after which no token issued before it is still valid. */
  until: number;
}

export class Revocations {
  private readonly subjects = new Map<string, Entry>();
  private readonly repositories = new Map<string, Entry>();
  private readonly namespaces = new Map<string, Entry>();
  /** The highest id applied; -1 until the first poll. */
  private last = -1;
  private queue: Promise<void> = Promise.resolve();
  private busy = false;
  private timer: NodeJS.Timeout | undefined;
  /** Counts record() calls, so a change can tell whether it wrote any (and call changed() after its commit). */
  written = 0;
  /** Makes the other workers of this replica poll (http.workers > 1). */
  private siblings: (() => Promise<void>) | null = null;

  private readonly now: () => number;

  constructor(
    private readonly store: RevocationStore,
    private readonly opts: RevocationOptions,
  ) {
    this.now = opts.clock ?? Date.now;
  }

  /** Writes revocations in the change's transaction. */
  async record(tx: Tx, rows: Revocation[], now = this.now()): Promise<void> {
    if (rows.length === 0) return;
    this.written++;
    await this.store.insert(tx, rows, now, this.opts.retainMs + KEEP_EXTRA_MS);
  }

  /** The mark for a token about to be issued: read before anything that decides its grants. */
  mark(): Promise<number> {
    return this.store.mark();
  }

  /** Applies the rows committed so far. Calls queue, so one made after a commit sees it. */
  poll(): Promise<void> {
    const run = this.queue.then(() => this.load());
    this.queue = run.catch(() => {});
    return run;
  }

  /** After a change that recorded revocations committed: this replica applies them before it answers. */
  async changed(): Promise<void> {
    await this.poll();
    await this.siblings?.();
  }

  relayTo(siblings: (() => Promise<void>) | null): void {
    this.siblings = siblings;
  }

  /** Polls every `pollMs` until stop(). */
  start(log: { error(obj: object, msg: string): void }): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      this.poll()
        .catch((err) => log.error({ err }, 'reading revocations failed'))
        .finally(() => (this.busy = false));
    }, this.opts.pollMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The subject's tokens with a mark below a revocation of the subject are void. */
  subjectRevoked(subject: string, mark: number): boolean {
    if (this.subjects.size === 0) return false;
    const e = this.subjects.get(subject);
    return e !== undefined && e.id > mark;
  }

  /** Grants on the repository in tokens with a mark below a revocation of it (or its namespace) are void. */
  repositoryRevoked(name: string, mark: number): boolean {
    if (this.repositories.size > 0) {
      const e = this.repositories.get(name);
      if (e !== undefined && e.id > mark) return true;
    }
    if (this.namespaces.size > 0) {
      const e = this.namespaces.get(namespaceOf(name));
      if (e !== undefined && e.id > mark) return true;
    }
    return false;
  }

  private async load(): Promise<void> {
    const now = this.now();
    // Starting up: rows younger than any token still valid (writers' clocks may be off a little).
    if (this.last < 0) this.last = (await this.store.firstSince(now - this.opts.retainMs * 2)) - 1;
    const rows = await this.store.after(this.last);
    for (const r of rows) this.apply(r, now);
    for (const m of [this.subjects, this.repositories, this.namespaces]) {
      for (const [k, e] of m) if (e.until <= now) m.delete(k);
    }
  }

  private apply(r: RevocationRow, now: number): void {
    const m = r.kind === 'subject' ? this.subjects : r.kind === 'repository' ? this.repositories : this.namespaces;
    m.set(r.key, { id: r.id, until: now + this.opts.retainMs });
    this.last = Math.max(this.last, r.id);
  }
}
