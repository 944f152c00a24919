// The network rules in force on this replica: the configuration's, plus what administrators
// set per namespace through the API (rule-store.ts). The hook reads them from memory on every
// request; they are reloaded from the database after each change here and every few seconds
// (REFRESH_MS) for changes made on other replicas. A reload that fails keeps the rules in force.
import { compileRules, type AccessRules, type NetworkRulesConfig } from './access-rules.js';
import type { NetworkRuleStore } from './rule-store.js';

/** How soon a change made through another replica applies here. */
export const REFRESH_MS = 5_000;

export class LiveRules {
  private rules: AccessRules;

  constructor(
    private readonly config: NetworkRulesConfig,
    readonly store: NetworkRuleStore | null,
  ) {
    this.rules = compileRules(config);
  }

  current(): AccessRules {
    return this.rules;
  }

  /** Whether any rule can ever apply: the hook is installed only then. */
  get possible(): boolean {
    return this.store !== null || this.rules.active;
  }

  async reload(): Promise<void> {
    if (!this.store) return;
    this.rules = compileRules(this.config, await this.store.all());
  }
}
