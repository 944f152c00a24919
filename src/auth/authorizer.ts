// Gathers the facts policy.ts needs from the database and answers "may this
// principal do these actions on that repository?" for the token service, the
// REST API and the catalog.
import type { AccountStores } from '../metadata/accounts/index.js';
import type { RepositoryRow } from '../metadata/accounts/repository-access.js';
import {
  mayAdministerRepository,
  mayReadTagHistory,
  mayRestoreTag,
  namespaceOf,
  repositoryActions,
  type Action,
  type MirrorFacts,
  type Principal,
  type RepositoryFacts,
} from './policy.js';

/** One resource of a Docker token request or grant: `repository:name:pull,push`. */
export interface ResourceScope {
  type: string;
  name: string;
  actions: string[];
}

/** Parses `type:name:actions` scopes; names may not contain ':' but a type may carry a "(class)". */
export function parseScope(scope: string): ResourceScope | null {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return null;
  const type = scope.slice(0, first).replace(/\(.*\)$/, '');
  const name = scope.slice(first + 1, last);
  const actions = scope
    .slice(last + 1)
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  if (!name) return null;
  return { type, name, actions };
}

/** Which names are mirrored (src/mirror/routing.ts), given whether their namespace is an account's or organisation's. */
export type MirrorLookup = (name: string, localNamespace: boolean) => MirrorFacts | null;

export class Authorizer {
  constructor(
    private readonly stores: Pick<AccountStores, 'users' | 'orgs' | 'repositories'>,
    private readonly mirrorOf: MirrorLookup = () => null,
  ) {}

  async facts(principal: Principal | null, name: string): Promise<RepositoryFacts> {
    const ns = namespaceOf(name);
    const [repo, kind] = await Promise.all([this.stores.repositories.repository(name), this.stores.users.namespaceKind(ns)]);
    let orgRole: RepositoryFacts['orgRole'] = null;
    let teamPermissions: RepositoryFacts['teamPermissions'] = [];
    let collaborator: RepositoryFacts['collaborator'] = null;
    if (principal) {
      if (kind === 'org')
        [orgRole, teamPermissions] = await Promise.all([
          this.stores.orgs.orgRole(ns, principal.userId),
          this.stores.orgs.teamPermissions(ns, principal.userId),
        ]);
      if (repo) collaborator = await this.stores.repositories.collaborator(repo.id, principal.userId);
    }
    const mirror = this.mirrorOf(name, kind !== null);
    return { name, exists: repo !== null, visibility: repo?.visibility ?? 'private', namespaceKind: kind, orgRole, teamPermissions, collaborator, mirror };
  }

  async actions(principal: Principal | null, name: string): Promise<Set<Action>> {
    return repositoryActions(principal, await this.facts(principal, name));
  }

  /** Whether the principal administers the repository (policy.ts mayAdministerRepository). */
  async mayAdminister(principal: Principal | null, name: string): Promise<boolean> {
    return principal !== null && mayAdministerRepository(principal, await this.facts(principal, name));
  }

  /** Whether the principal may read the repository's tag history and restore its tags (policy.ts). */
  async tagAccess(principal: Principal | null, name: string): Promise<{ read: boolean; restore: boolean }> {
    const f = await this.facts(principal, name);
    return { read: f.exists && mayReadTagHistory(principal, f), restore: f.exists && mayRestoreTag(principal, f) };
  }

  /** The repository when the principal may at least pull it; null looks exactly like "does not exist". */
  async visibleRepository(principal: Principal | null, name: string): Promise<RepositoryRow | null> {
    const repo = await this.stores.repositories.repository(name);
    if (!repo) return null;
    return (await this.actions(principal, name)).has('pull') ? repo : null;
  }

  /**
   * What a token may carry for the requested scopes: each repository scope cut
   * down to the actions allowed; the catalog for everyone (it is filtered per caller).
   */
  async grant(principal: Principal | null, requested: ResourceScope[]): Promise<ResourceScope[]> {
    const out: ResourceScope[] = [];
    for (const r of requested) {
      if (r.type === 'repository') {
        const allowed = await this.actions(principal, r.name);
        const wanted = r.actions.includes('*') ? ['pull', 'push', 'delete'] : r.actions;
        const actions = wanted.filter((a) => allowed.has(a as Action));
        if (actions.length) merge(out, { type: r.type, name: r.name, actions });
      } else if (r.type === 'registry' && r.name === 'catalog' && r.actions.includes('*')) {
        merge(out, { type: 'registry', name: 'catalog', actions: ['*'] });
      }
    }
    return out;
  }
}

function merge(into: ResourceScope[], s: ResourceScope): void {
  const found = into.find((x) => x.type === s.type && x.name === s.name);
  if (!found) into.push({ ...s, actions: [...new Set(s.actions)] });
  else found.actions = [...new Set([...found.actions, ...s.actions])];
}
