// Access control for /v2: what each request needs, and whether its bearer token
// grants it. Without token auth (open or htpasswd mode) everything authenticated
// is allowed. Private repositories answer exactly like missing ones.
import type { FastifyRequest } from 'fastify';
import type { ResourceScope } from '../auth/authorizer.js';
import type { Action, CatalogViewer } from '../auth/policy.js';
import { RegistryError } from '../errors/catalog.js';
import type { Revocations } from '../auth/revocations.js';
import type { UserStore } from '../metadata/accounts/users.js';
import { TokenError, type TokenVerifier, type VerifiedToken } from '../token/tokens.js';


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
  verifier: TokenVerifier;
  service: string;
  /** The token endpoint; null = this server's /token, resolved per request. */
  realm: string | null;
  /** Accounts, when the built-in issuer runs (to filter the catalog per caller). */
  users?: UserStore;
  /** Rights taken away since our tokens were issued. */
  revocations?: Revocations;
}

const TOKEN = Symbol('berth.token');
type WithToken = FastifyRequest & { [TOKEN]?: Promise<VerifiedToken | null> };

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
    const t = await this.verified(req);
    return t !== null && !this.revoked(t, name) && allows(t.access, 'repository', name, 'pull');
  }

  async catalogViewer(req: FastifyRequest): Promise<CatalogViewer> {
    const scope = 'registry:catalog:*';
    const t = await this.token(req, scope);
    if (!allows(t.access, 'registry', 'catalog', '*')) throw this.challenge(req, scope, 'insufficient_scope');
    if (!t.builtin) return 'all'; // an external issuer granted the catalog: it decided who sees it
    if (t.subject === '' || !this.opts.users) return { userId: null, all: false };
    const user = await this.opts.users.userByName(t.subject);
    if (!user || user.disabled) return { userId: null, all: false };
    return { userId: user.id, username: user.username, all: user.isAdmin };
  }

  private revoked(t: VerifiedToken, name: string): boolean {
    return t.builtin && this.opts.revocations?.repositoryRevoked(name, t.mark) === true;
  }

  /** The verified token, or a 401 challenge for `scope`. */
  private async token(req: FastifyRequest, scope: string | null): Promise<VerifiedToken> {
    const header = req.headers.authorization;
    if (!header || !/^bearer\s/i.test(header)) throw this.challenge(req, scope);
    const t = await this.verified(req);
    if (!t) throw this.challenge(req, scope, 'invalid_token');
    return t;
  }

  private verified(req: FastifyRequest): Promise<VerifiedToken | null> {
    const r = req as WithToken;
    r[TOKEN] ??= (async () => {
      const header = req.headers.authorization;
      if (!header || !/^bearer\s/i.test(header)) return null;
      try {
        const t = await this.opts.verifier.verify(header.slice(7).trim());
        req.user = t.subject || undefined;
        return t;
      } catch (err) {
        if (!(err instanceof TokenError)) throw err;
        req.log.info({ reason: err.message }, 'bearer token refused');
        return null;
      }
    })();
    return r[TOKEN];
  }

  private challenge(req: FastifyRequest, scope: string | null, error?: string, detail?: unknown, code: 'UNAUTHORIZED' | 'DENIED' = 'UNAUTHORIZED'): RegistryError {
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
