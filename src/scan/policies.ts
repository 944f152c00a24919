// Which vulnerability policy applies to a namespace: its own (set through the API) combined with
// the global one from the configuration (scanning.policy). A namespace policy may only tighten the
// global one — the stricter mode, severity and unscanned rule win — except for its allow-list,
// which adds the advisories the namespace accepts to the global list. Without either, none.
import type { PolicyFields, ScanStore, VulnerabilityPolicy } from '../metadata/scan-store.js';
import type { PolicyMode, Severity, UnscannedRule } from './schema.js';
import { atOrAbove } from './verdict.js';

/** scanning.policy as the configuration gives it (mode 'off' = no global policy). */
export interface GlobalPolicySettings {
  mode: 'off' | PolicyMode;
  severity: Severity;
  allowlist: string[];
  unscanned: UnscannedRule;
}

export function combine(global: VulnerabilityPolicy | null, ns: VulnerabilityPolicy | null): VulnerabilityPolicy | null {
  if (!global || !ns) return ns ?? global;
  return {
    scope: ns.scope,
    mode: global.mode === 'enforce' || ns.mode === 'enforce' ? 'enforce' : 'audit',
    // The lower threshold refuses more.
    severity: atOrAbove(ns.severity, global.severity) ? global.severity : ns.severity,
    allowlist: [...new Set([...global.allowlist, ...ns.allowlist])],
    unscanned: global.unscanned === 'deny' || ns.unscanned === 'deny' ? 'deny' : 'allow',
    updatedBy: ns.updatedBy,
    updatedAt: ns.updatedAt,
  };
}

export class VulnerabilityPolicies {
  readonly global: VulnerabilityPolicy | null;

  constructor(
    private readonly store: ScanStore,
    settings: GlobalPolicySettings,
  ) {
    this.global =
      settings.mode === 'off'
        ? null
        : {
            scope: '*',
            mode: settings.mode,
            severity: settings.severity,
            allowlist: settings.allowlist,
            unscanned: settings.unscanned,
            updatedBy: null,
            updatedAt: null,
          };
  }

  /** The policy that applies to the namespace's repositories, or null. */
  async effective(namespace: string): Promise<VulnerabilityPolicy | null> {
    return combine(this.global, await this.store.policy(namespace));
  }
}

/** A namespace policy's fields as the API takes them, with defaults. */
export function policyFields(b: Partial<PolicyFields>): PolicyFields {
  return {
    severity: b.severity ?? 'high',
    mode: b.mode ?? 'enforce',
    allowlist: [...new Set((b.allowlist ?? []).map((x) => x.trim().toUpperCase()).filter((x) => x !== ''))].sort(),
    unscanned: b.unscanned ?? 'deny',
  };
}
