// The pull gate's "trust" check (registry/pull-gate.ts): under an enforce policy, a manifest
// without a signature that verifies (itself, or through a verified index in the same repository
// that lists it) is refused with DENIED naming the policy and why; under audit it is served and
// the verdicts are only recorded. Signatures and other referrers are always served.
import { RegistryError } from '../errors/catalog.js';
import type { PullCheck, PullFacts } from '../registry/pull-gate.js';
import type { TrustService } from './service.js';

export function trustPullCheck(trust: TrustService, log: { warn(obj: object, msg: string): void }): PullCheck {
  return {
    name: 'trust',
    async check(facts: PullFacts) {
      const refused = await trust.refusal(facts.repository, facts.digest);
      if (!refused) return;
      if (refused.policy.mode === 'enforce') throw new RegistryError('DENIED', refused.message);
      // Audit: served; HEAD and GET of one pull would log twice, so only the GET is logged.
      if (!facts.head)
        log.warn(
          { repository: facts.repository, digest: facts.digest, actor: facts.actor, trust: refused.evaluation.status },
          `trust (audit): ${refused.message}`,
        );
    },
  };
}
