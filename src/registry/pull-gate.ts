// The one place where a manifest is refused to a reader for what it is rather than for who asks
// (signature trust, vulnerability policy). The HTTP layer calls every check after resolving the
// manifest and before answering; a check refuses by throwing RegistryError('DENIED', …) with a
// message naming the policy, which clients show to their users.

export interface PullFacts {
  /** The repository whose content is served (the cache's name for a mirrored one). */
  repository: string;
  digest: string;
  mediaType: string;
  /** The tag asked for, when the reference was a tag. */
  tag?: string;
  /** Signed-in account, if any (audit and messages only: the decision is about the content). */
  actor: string | null;
  head: boolean;
}

export interface PullCheck {
  /** A short name for logs ("trust", "vulnerabilities"). */
  readonly name: string;
  /** Resolves to allow; throws RegistryError('DENIED', message naming the policy) to refuse. */
  check(facts: PullFacts): Promise<void>;
}

/**
 * The checks, skipped for one actor: the configured scanner adapter, whose pull-only tokens
 * (subject `scanner:NAME`, never an account name) must read an image to scan it, whatever it holds.
 */
export function exceptFor(actor: string | null, checks: readonly PullCheck[]): PullCheck[] {
  if (actor === null) return [...checks];
  return checks.map((c) => ({ name: c.name, check: (f: PullFacts) => (f.actor === actor ? Promise.resolve() : c.check(f)) }));
}

/** Runs the checks in order; the first refusal wins. */
export async function checkPull(checks: readonly PullCheck[], facts: PullFacts): Promise<void> {
  for (const c of checks) await c.check(facts);
}
