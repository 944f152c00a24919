// Who may do what to a repository: a pure function of facts gathered from the
// database (authorizer.ts gathers them). No I/O, so every rule is unit-tested.

export type Action = 'pull' | 'push' | 'delete';
export const ACTIONS: readonly Action[] = ['pull', 'push', 'delete'];
export type Permission = 'read' | 'write' | 'admin';

/** Actions each repository permission grants. */
export const PERMISSION_ACTIONS: Record<Permission, Action[]> = {
  read: ['pull'],
  write: ['pull', 'push'],
  admin: ['pull', 'push', 'delete'],
};

/** Restrictions of a personal access token or robot secret used instead of a password. */
export interface TokenLimits {
  actions: Action[];
  /** null = any repository; "ns/*" = that namespace; otherwise one repository name. */
  resource: string | null;
}

export interface Principal {
  userId: number;
  username: string;
  isAdmin: boolean;
  /** Set for robot accounts. */
  robotOrgId: number | null;
  /** Set when the caller authenticated with an access token rather than a password. */
  limits?: TokenLimits;
  /** The access token (or robot secret) the caller signed in with, if any. */
  accessTokenId?: number;
}

/** Who is listing repositories: everyone's, or those one caller may see (userId null = anonymous). */
export type CatalogViewer = 'all' | { userId: number | null; username?: string; all: boolean };

export interface RepositoryFacts {
  name: string;
  /** The repository exists (has been created by a push). */
  exists: boolean;
  visibility: 'public' | 'private';
  /** Kind of the namespace that owns the name, or null when nobody owns it. */
  namespaceKind: 'user' | 'org' | null;
  /** Caller's role in the owning organisation, if any. */
  orgRole: 'owner' | 'member' | null;
  /** Permissions of the caller's teams in the owning organisation. */
  teamPermissions: Permission[];
  /** The caller's collaborator permission on this repository. */
  collaborator: Permission | null;
  /** Set when the name is served from an upstream registry (src/mirror/routing.ts): a read-only mirror. */
  mirror?: MirrorFacts | null;
}

/** A mirrored name: from which upstream, and whether anonymous callers may pull through it (mirror.anonymous). */
export interface MirrorFacts {
  upstream: string;
  anonymous: boolean;
}

export function namespaceOf(repository: string): string {
  const i = repository.indexOf('/');
  return i < 0 ? repository : repository.slice(0, i);
}

/** True when `to` grants less than `from` (null = nothing). */
export function lowers(from: Permission | null, to: Permission | null): boolean {
  return (from ? PERMISSION_ACTIONS[from].length : 0) > (to ? PERMISSION_ACTIONS[to].length : 0);
}

function union(into: Set<Action>, perm: Permission | null | undefined): void {
  if (perm) for (const a of PERMISSION_ACTIONS[perm]) into.add(a);
}

/**
 * A mirrored name is read-only for everyone (administrators too: its content is the upstream's);
 * the router answers any other action with 405 naming the upstream.
 */
export function mirrorAllows(action: Action): boolean {
  return action === 'pull';
}

/** Actions `principal` (null = anonymous) may take on the repository. */
export function repositoryActions(principal: Principal | null, f: RepositoryFacts): Set<Action> {
  if (f.mirror) return mirrorActions(principal, f.name, f.mirror);
  const out = new Set<Action>();
  const publicPull = f.exists && f.visibility === 'public';
  if (publicPull) out.add('pull');
  if (!principal) return out;

  if (principal.isAdmin) {
    for (const a of ACTIONS) out.add(a);
  } else {
    const ns = namespaceOf(f.name);
    if (f.namespaceKind === 'user' && ns === principal.username && principal.robotOrgId === null) {
      for (const a of ACTIONS) out.add(a);
    } else if (f.namespaceKind === 'org') {
      if (f.orgRole === 'owner') for (const a of ACTIONS) out.add(a);
      else if (f.orgRole === 'member') out.add('pull');
      for (const p of f.teamPermissions) union(out, p);
    }
    // Collaborators act on an existing repository; they cannot create one.
    if (f.exists) union(out, f.collaborator);
  }
  // What does not exist yet is readable only by those who may create it (a push starts by
  // checking which blobs are already there); to everyone else it looks like a private repository.
  if (!f.exists && !out.has('push')) out.delete('pull');
  return principal.limits ? restrict(out, principal.limits, f.name, publicPull) : out;
}

/** Any signed-in caller may pull through the mirror; anonymous callers when mirror.anonymous allows it. */
export function mayPullMirror(signedIn: boolean, m: Pick<MirrorFacts, 'anonymous'>): boolean {
  return signedIn || m.anonymous;
}

/** Pull within the token's limits, for whoever mayPullMirror. */
function mirrorActions(principal: Principal | null, name: string, m: MirrorFacts): Set<Action> {
  const out = new Set<Action>();
  if (mayPullMirror(principal !== null, m)) for (const a of ACTIONS) if (mirrorAllows(a)) out.add(a);
  return principal?.limits ? restrict(out, principal.limits, name, m.anonymous) : out;
}

function restrict(actions: Set<Action>, limits: TokenLimits, repository: string, publicPull: boolean): Set<Action> {
  const out = new Set<Action>();
  if (resourceMatches(limits.resource, repository)) {
    for (const a of actions) if (limits.actions.includes(a)) out.add(a);
  }
  // A token never sees less than anonymous does.
  if (publicPull) out.add('pull');
  return out;
}

export function resourceMatches(resource: string | null, repository: string): boolean {
  if (resource === null) return true;
  if (resource.endsWith('/*')) return repository.startsWith(resource.slice(0, -1));
  return resource === repository;
}

/**
 * True when the principal administers the repository: its visibility, collaborators,
 * webhooks, description, comment settings and comments. Site administrators, the user
 * whose namespace it is, owners of the owning organisation, and teams or collaborators
 * with `admin`. Only a person signed in with a password: an access token (however wide
 * its limits — no limit grants administration) and a robot's secret never administer,
 * since administering changes who may see and do what.
 */
export function mayAdministerRepository(principal: Principal | null, f: RepositoryFacts): boolean {
  if (!principal || principal.limits || principal.accessTokenId !== undefined || principal.robotOrgId !== null) return false;
  if (!f.exists) return false;
  if (principal.isAdmin) return true;
  if (f.namespaceKind === 'user') return namespaceOf(f.name) === principal.username || f.collaborator === 'admin';
  if (f.namespaceKind === 'org' && (f.orgRole === 'owner' || f.teamPermissions.includes('admin'))) return true;
  return f.collaborator === 'admin';
}

/** True when the principal may create repositories in (and administer) the namespace. */
export function canAdministerNamespace(principal: Principal | null, ns: string, kind: 'user' | 'org' | null, orgRole: 'owner' | 'member' | null): boolean {
  if (!principal || principal.limits) return false;
  if (principal.isAdmin) return true;
  if (kind === 'user') return ns === principal.username && principal.robotOrgId === null;
  return kind === 'org' && orgRole === 'owner';
}

/**
 * True when the principal may set or remove a namespace's network rules (src/net/): system
 * administrators signed in with a password, since a namespace's allow list replaces the
 * operator's global one for it.
 */
export function mayManageNetworkRules(principal: Principal | null): boolean {
  return mayManageQuotas(principal);
}

/**
 * True when the principal may set, change or remove storage quotas: administrators signed
 * in with a password (a quota decides what everybody in a namespace may push).
 */
export function mayManageQuotas(principal: Principal | null): boolean {
  if (!principal?.isAdmin) return false;
  return !principal.limits && principal.accessTokenId === undefined && principal.robotOrgId === null;
}

/**
 * True when the principal may read, create, change, delete and run replication policies:
 * administrators signed in with a password. A policy reads or writes every repository it
 * selects and holds another registry's credentials, so no access token, robot or namespace
 * owner may manage one.
 */
export function mayManageReplication(principal: Principal | null): boolean {
  if (!principal?.isAdmin) return false;
  return !principal.limits && principal.accessTokenId === undefined && principal.robotOrgId === null;
}

/**
 * True when the principal may read a namespace's storage usage and quota: administrators, the
 * user whose namespace it is, and members of the organisation (owners or not). Robots never;
 * an access token only when it is not limited to other repositories. Everyone else is told
 * nothing, whatever the visibility of the namespace's repositories.
 */
export function mayReadNamespaceUsage(principal: Principal | null, ns: string, kind: 'user' | 'org' | null, orgRole: 'owner' | 'member' | null): boolean {
  if (!principal || principal.robotOrgId !== null) return false;
  if (principal.limits && principal.limits.resource !== null && !principal.limits.resource.startsWith(`${ns}/`)) return false;
  if (principal.isAdmin) return true;
  if (kind === 'user') return ns === principal.username;
  return kind === 'org' && orgRole !== null;
}

/** Who may read a repository's tag history: whoever may pull the repository (others are told it does not exist). */
export function mayReadTagHistory(principal: Principal | null, f: RepositoryFacts): boolean {
  return repositoryActions(principal, f).has('pull');
}

/**
 * Who may restore a tag to an earlier digest: whoever may push to the repository, since a restore
 * is what pushing that manifest under the tag again would do (an access token needs `push`).
 */
export function mayRestoreTag(principal: Principal | null, f: RepositoryFacts): boolean {
  return repositoryActions(principal, f).has('push');
}

/**
 * Who may see a namespace's rules (immutable-tag rules, retention policies) and dry-run its
 * retention policies: its user, members of its organisation, and site administrators. Anyone
 * else is told the namespace has none to show (404).
 */
export function mayViewNamespaceRules(principal: Principal | null, ns: string, kind: 'user' | 'org' | null, orgRole: 'owner' | 'member' | null): boolean {
  if (!principal || !kind) return false;
  if (principal.isAdmin) return true;
  if (kind === 'user') return ns === principal.username && principal.robotOrgId === null;
  return orgRole !== null;
}

/**
 * Who may create, change and remove a namespace's rules (immutable-tag rules, retention policies)
 * and run its retention policies for real: the namespace's administrators (canAdministerNamespace),
 * signed in with a password: a rule decides what every pusher of the namespace may do or keep, so
 * no access token or robot secret changes one.
 */
export function mayManageNamespaceRules(principal: Principal | null, ns: string, kind: 'user' | 'org' | null, orgRole: 'owner' | 'member' | null): boolean {
  if (!principal || principal.accessTokenId !== undefined || principal.robotOrgId !== null) return false;
  return canAdministerNamespace(principal, ns, kind, orgRole);
}

/**
 * Who may set, change or remove the registry-wide trust policy (signature verification for every
 * repository without a policy of its own): administrators signed in with a password.
 */
export function mayManageRegistryTrust(principal: Principal | null): boolean {
  if (!principal?.isAdmin) return false;
  return !principal.limits && principal.accessTokenId === undefined && principal.robotOrgId === null;
}

/**
 * Who may set, change or remove a repository's trust policy: its administrators
 * (mayAdministerRepository: signed in with a password). A namespace's trust policy is one of the
 * namespace's rules (mayManageNamespaceRules).
 */
export function mayManageRepositoryTrust(principal: Principal | null, f: RepositoryFacts): boolean {
  return mayAdministerRepository(principal, f);
}

/**
 * Who may read a repository's trust policy and the signatures of its manifests with their
 * verdicts: whoever may pull it (a refused pull names the policy anyway).
 */
export function mayReadRepositoryTrust(principal: Principal | null, f: RepositoryFacts): boolean {
  return repositoryActions(principal, f).has('pull');
}

/** Who may read an image's vulnerability report and SBOM: whoever may pull the repository (others are told it does not exist). */
export function mayReadScanReport(principal: Principal | null, f: RepositoryFacts): boolean {
  return repositoryActions(principal, f).has('pull');
}

/**
 * Who may ask for a scan of an image now: whoever may push to the repository (a scan writes its
 * report and pushes the SBOM there, as a push of the image would have queued it).
 */
export function mayRequestScan(principal: Principal | null, f: RepositoryFacts): boolean {
  return repositoryActions(principal, f).has('push');
}
