// Who is calling: the one place that turns whatever credential a request carries into a
// Caller, for every surface (/v2, /token, /api/v1, the UI, /v1/search). A surface names the
// credentials it takes; a credential it does not take, or a wrong or unreadable one, is
// refused here (InvalidCredentials, 401), the same way on every surface.
//
//   Authorization: Basic user:password        password (htpasswd file, or an account)
//   Authorization: Basic user:berth_pat_…      access token or robot secret
//   Authorization: Bearer berth_pat_…          access token or robot secret
//   Authorization: Bearer <JWT>                registry token (Berth's own or an external issuer's)
//   Cookie: berth_session=… + X-Berth-CSRF     UI session (auth/sessions.ts)
import type { FastifyRequest } from 'fastify';
import { RegistryError } from '../errors/catalog.js';
import type { AccountStores } from '../metadata/accounts/index.js';
import { TokenError } from '../token/token-error.js';
import type { TokenVerifier, VerifiedToken } from '../token/tokens.js';
import { TOKEN_PREFIX, sha256Hex, type AccountService } from './accounts.js';
import { parseBasic, type HtpasswdVerifier } from './htpasswd.js';
import type { Principal } from './policy.js';
import { sessionPrincipal } from './sessions.js';

export type Credential = 'password' | 'access-token' | 'registry-token' | 'session';

export type Caller =
  | { kind: 'anonymous' }
  /** One of Berth's accounts, by password, access token (or robot secret), or UI session. */
  | { kind: 'account'; via: 'password' | 'access-token' | 'session'; principal: Principal }
  /** A registry token: its grants, and the subject it names. */
  | { kind: 'registry-token'; token: VerifiedToken }
  /** A user of the htpasswd file (htpasswd mode: every right). */
  | { kind: 'htpasswd'; user: string };

const ANONYMOUS: Caller = Object.freeze({ kind: 'anonymous' });

/** Credentials that are wrong, unreadable, or not taken by this surface: 401. */
export class InvalidCredentials extends RegistryError {
  constructor(
    readonly credential: Credential | 'unknown',
    message: string,
    /** For the log: why a registry token was refused. */
    readonly reason?: string,
  ) {
    super('UNAUTHORIZED', message);
  }
}

export interface IdentifierParts {
  /** htpasswd mode: Basic credentials are checked against the file. */
  htpasswd?: HtpasswdVerifier;
  /** Token mode: verifies registry tokens (Berth's own and trusted issuers'). */
  verifier?: TokenVerifier;
  /** The built-in accounts: passwords, access tokens, robot secrets, UI sessions. */
  accounts?: { service: AccountService; stores: Pick<AccountStores, 'users' | 'credentials' | 'sessions'> };
  /** Told of each wrong htpasswd password (metrics; the accounts count their own). */
  onLoginFailure?: () => void;
}

const CALLER = Symbol('berth.caller');
type Memo = FastifyRequest & { [CALLER]?: Promise<Caller> };

export class Identifier {
  constructor(private readonly parts: IdentifierParts) {}

  /**
   * The caller of `req` (worked out once per request; later calls get the same answer), taking
   * only the credentials in `accept`. Sets req.user for the access log.
   */
  identify(req: FastifyRequest, accept: readonly Credential[]): Promise<Caller> {
    const r = req as Memo;
    r[CALLER] ??= this.resolve(req, accept);
    return r[CALLER];
  }

  /** The account one of Berth's own registry tokens names: null for anonymous or external tokens, or an account gone or disabled. */
  async tokenAccount(t: VerifiedToken): Promise<Principal | null> {
    if (!t.builtin || t.subject === '' || !this.parts.accounts) return null;
    const user = await this.parts.accounts.stores.users.userByName(t.subject);
    if (!user || user.disabled) return null;
    // A registry token says who, not which access token it came from.
    return { userId: user.id, username: user.username, isAdmin: user.isAdmin, robotOrgId: user.robotOrgId };
  }

  private async resolve(req: FastifyRequest, accept: readonly Credential[]): Promise<Caller> {
    const header = req.headers.authorization;
    if (!header) {
      const a = this.parts.accounts;
      if (!a || !accept.includes('session')) return ANONYMOUS;
      const principal = await sessionPrincipal({ stores: a.stores, accounts: a.service, now: a.service.now }, req);
      if (!principal) return ANONYMOUS;
      req.user = principal.username;
      return { kind: 'account', via: 'session', principal };
    }
    const space = header.indexOf(' ');
    const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
    if (scheme === 'basic') {
      const creds = parseBasic(header);
      if (!creds) throw new InvalidCredentials('password', 'malformed Basic credentials');
      return this.secret(req, creds.user, creds.password, accept);
    }
    if (scheme === 'bearer') {
      const secret = header.slice(space + 1).trim();
      if (secret.startsWith(TOKEN_PREFIX) && !this.parts.htpasswd) return this.secret(req, null, secret, accept);
      // The /v2 hot path: no further async layer than the verifier's (cached) check.
      if (this.parts.verifier && !accept.includes('registry-token'))
        throw new InvalidCredentials('registry-token', 'registry tokens are for /v2: use a password or an access token');
      const token = await this.verifyRegistryToken(secret);
      if (token.subject) req.user = token.subject;
      return { kind: 'registry-token', token };
    }
    throw new InvalidCredentials('unknown', 'unsupported Authorization scheme');
  }

  /** A password, access token or robot secret; `user` null for a Bearer access token (found by its hash). */
  private async secret(req: FastifyRequest, user: string | null, secret: string, accept: readonly Credential[]): Promise<Caller> {
    const { htpasswd, accounts } = this.parts;
    const kind: Credential = !htpasswd && secret.startsWith(TOKEN_PREFIX) ? 'access-token' : 'password';
    if (!accept.includes(kind))
      throw new InvalidCredentials(kind, kind === 'password' ? 'this endpoint takes no password' : 'this endpoint takes no access token');
    if (htpasswd) {
      if (user !== null && (await htpasswd.verify(user, secret))) {
        req.user = user;
        return { kind: 'htpasswd', user };
      }
      if (user !== null) req.log.info({ user: user.slice(0, 64) }, 'authentication failed');
      this.parts.onLoginFailure?.();
      throw new InvalidCredentials(kind, 'invalid username or password');
    }
    // An external issuer decides who may do what; Berth keeps no accounts to check these against.
    if (!accounts) return ANONYMOUS;
    const username = user ?? (await this.tokenOwner(secret));
    const principal = await accounts.service.authenticate(username, secret, req.ip);
    req.user = principal.username;
    return { kind: 'account', via: principal.accessTokenId !== undefined ? 'access-token' : 'password', principal };
  }

  private async tokenOwner(secret: string): Promise<string> {
    const { stores } = this.parts.accounts!;
    const token = await stores.credentials.accessTokenByHash(sha256Hex(secret));
    const owner = token ? await stores.users.userById(token.userId) : null;
    return owner?.username ?? '';
  }

  /** A registry token that did not come in this request's header (search exchanges Basic credentials for one at an external issuer). */
  async verifyRegistryToken(secret: string): Promise<VerifiedToken> {
    if (!this.parts.verifier) throw new InvalidCredentials('registry-token', 'this registry takes no bearer tokens');
    try {
      return await this.parts.verifier.verify(secret);
    } catch (err) {
      if (err instanceof TokenError) throw new InvalidCredentials('registry-token', 'invalid token', err.message);
      throw err;
    }
  }
}
