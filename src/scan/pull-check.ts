// The pull gate's "vulnerabilities" check (src/registry/pull-gate.ts): under an enforced policy, an
// image with findings at or above the policy's severity that its allow-list does not name is
// refused with DENIED, naming the policy, the severity and the count. An image without a report
// (never scanned, still queued, or its scan failed) gets the policy's `unscanned` rule; when it is
// refused, a scan is queued so it is not refused forever. Artifacts (signatures, SBOMs and other
// referrers) are always served; the configured scanner adapter's pulls skip every check (exceptFor in
// registry/pull-gate.ts).
import { namespaceOf } from '../auth/policy.js';
import { RegistryError } from '../errors/catalog.js';
import type { ScanStore } from '../metadata/scan-store.js';
import type { PullCheck, PullFacts } from '../registry/pull-gate.js';
import type { VulnerabilityPolicies } from './policies.js';
import { scannableKind } from './scanner.js';
import type { ScanLog, ScanService } from './service.js';
import { policyName, vulnerabilityRefusal, violations } from './verdict.js';

/** The actor of the registry tokens scanner adapters pull with (not an account name: those hold no ':'). */
export const SCANNER_ACTOR_PREFIX = 'scanner:';

export class VulnerabilityPullCheck implements PullCheck {
  readonly name = 'vulnerabilities';

  constructor(
    private readonly d: {
      policies: VulnerabilityPolicies;
      store: ScanStore;
      service: ScanService;
      log: Pick<ScanLog, 'info'>;
    },
  ) {}

  async check(facts: PullFacts): Promise<void> {
    const policy = await this.d.policies.effective(namespaceOf(facts.repository));
    if (!policy) return;
    const m = await this.d.store.manifest(facts.repository, facts.digest);
    if (!m || m.subject || !scannableKind(m.mediaType, m.artifactType)) return;
    const v = await this.d.service.vulnerabilities(facts.repository, facts.digest, m.mediaType);
    const enforce = policy.mode === 'enforce';
    if (!v.report || v.report.status === 'failed') {
      if (policy.unscanned === 'allow' || !enforce) return;
      if (!v.queued) await this.d.service.request(facts.repository, facts.digest, 'pull', facts.actor);
      const why = v.report ? 'its scan failed; it is scanned again' : v.queued ? 'its scan has not finished yet' : 'it has not been scanned; a scan is queued';
      throw new RegistryError('DENIED', `refused by ${policyName(policy)}: ${why} (unscanned images are refused; try again shortly)`);
    }
    const found = violations(policy, v.report.findings);
    if (found.length === 0) return;
    if (!enforce) {
      this.d.log.info(
        { repository: facts.repository, digest: facts.digest, policy: policy.scope, violations: found.length },
        'vulnerability policy (audit): would refuse',
      );
      return;
    }
    throw new RegistryError('DENIED', vulnerabilityRefusal(policy, found));
  }
}
