// Access control for /v2: what each request needs, and whether the caller's registry
// token grants it (identify() in auth/identify.ts finds the token). Without token auth
// (open or htpasswd mode) everything authenticated is allowed. Private repositories
// answer exactly like missing ones.
import type { FastifyRequest } from 'fastify';
import { RegistryError } from '../errors/catalog.js';
import type { VerifiedToken } from '../token/tokens.js';
import type { ResourceScope } from './authorizer.js';
import { InvalidCredentials, type Caller, type Credential, type Identifier } from './identify.js';
import type { Action, CatalogViewer } from './policy.js';
import type { Revocations } from './revocations.js';

/** /v2 in token mode takes registry tokens only; clients get them from the realm. */
const V2_CREDENTIALS: readonly Credential[] = ['registry-token'];

export interface AccessControl {
  /** GET /v2/: is the caller authenticated the way this registry wants? */
  base(req: FastifyRequest): Promise<void>;
  /** Throws 401/403 unless the caller may take `action` on the repository. */
  require(req: FastifyRequest, name: string, action: Action): Promise<void>;
  /** For a mount's source repository: false falls back to a plain upload. */
  mayPull(req: FastifyRequest, name: string): Promise<boolean>;
  catalogViewer(req: FastifyRequest): Promise<CatalogViewer>;
}

export const openAccess: AccessControl = {
  async base() {},
  async require() {},
  async mayPull() {
    return true;
  },
  async catalogViewer() {
    return 'all';
  },
};

export interface TokenAccessOptions {
  identifier: Identifier;
  service: string;
  /** The token endpoint; null = this server's /token, resolved per request. */
  realm: string | null;
  /** Rights taken away since our tokens were issued. */
  revocations?: Revocations;
}

export class TokenAccess implements AccessControl {
  constructor(private readonly opts: TokenAccessOptions) {}

  async base(req: FastifyRequest): Promise<void> {
    await this.token(req, null);
  }

  async require(req: FastifyRequest, name: string, action: Action): Promise<void> {
    // Docker asks for pull and push together when pushing; one token then serves both.
    const wanted = action === 'push' ? 'pull,push' : action;
    const scope = `repository:${name}:${wanted}`;
    const t = await this.token(req, scope);
    // Rights on the repository taken away after the token was issued: a new token carries the current ones.
    if (this.revoked(t, name)) throw this.challenge(req, scope, 'invalid_token');
    if (allows(t.access, 'repository', name, action)) return;
    // 401 either way, so a client holding a token for other scopes fetches a new one. A signed-in
    // caller refused a write reads DENIED, whether or not the repository exists.
    const code = t.subject !== '' && action !== 'pull' ? 'DENIED' : 'UNAUTHORIZED';
    throw this.challenge(req, scope, 'insufficient_scope', [{ Type: 'repository', Name: name, Action: action }], code);
  }

  async mayPull(req: FastifyRequest, name: string): Promise<boolean> {
    const t = await this.verified(req).catch((err) => {
      if (err instanceof InvalidCredentials) return null;
      throw err;
    });
    return t !== null && !this.revoked(t, name) && allows(t.access, 'repository', name, 'pull');
  }

  async catalogViewer(req: FastifyRequest): Promise<CatalogViewer> {
    const scope = 'registry:catalog:*';
    const t = await this.token(req, scope);
    if (!allows(t.access, 'registry', 'catalog', '*')) throw this.challenge(req, scope, 'insufficient_scope');
    if (!t.builtin) return 'all'; // an external issuer granted the catalog: it decided who sees it
    const who = await this.opts.identifier.tokenAccount(t);
    return who ? { userId: who.userId, username: who.username, all: who.isAdmin } : { userId: null, all: false };
  }

  private revoked(t: VerifiedToken, name: string): boolean {
    return t.builtin && this.opts.revocations?.repositoryRevoked(name, t.mark) === true;
  }

  /** The verified token, or a 401 challenge for `scope` (error="invalid_token" when one was presented and refused). */
  private async token(req: FastifyRequest, scope: string | null): Promise<VerifiedToken> {
    let caller: Caller;
    try {
      caller = await this.opts.identifier.identify(req, V2_CREDENTIALS);
    } catch (err) {
      if (!(err instanceof InvalidCredentials)) throw err;
      if (err.credential !== 'registry-token') throw this.challenge(req, scope);
      req.log.info({ reason: err.reason ?? err.message }, 'bearer token refused');
      throw this.challenge(req, scope, 'invalid_token');
    }
    if (caller.kind !== 'registry-token') throw this.challenge(req, scope);
    return caller.token;
  }

  /** The caller's registry token; null when there is none. */
  private async verified(req: FastifyRequest): Promise<VerifiedToken | null> {
    const caller = await this.opts.identifier.identify(req, V2_CREDENTIALS);
    return caller.kind === 'registry-token' ? caller.token : null;
  }

  private challenge(
    req: FastifyRequest,
    scope: string | null,
    error?: string,
    detail?: unknown,
    code: 'UNAUTHORIZED' | 'DENIED' = 'UNAUTHORIZED',
  ): RegistryError {
    const realm = this.opts.realm ?? `${req.protocol}://${req.host || 'localhost'}/token`;
    let value = `Bearer realm="${q(realm)}",service="${q(this.opts.service)}"`;
    if (scope) value += `,scope="${q(scope)}"`;
    if (error) value += `,error="${error}"`;
    return new RegistryError(code, undefined, { status: 401, detail, headers: { 'WWW-Authenticate': value } });
  }
}

function q(s: string): string {
  return s.replace(/["\\]/g, '');
}

function allows(access: ResourceScope[], type: string, name: string, action: string): boolean {
  return access.some((a) => a.type === type && a.name === name && (a.actions.includes(action) || a.actions.includes('*')));
}
