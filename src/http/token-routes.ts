// The built-in token service (Docker token authentication):
//   GET  /token  Basic or anonymous; service, scope…, offline_token + client_id → refresh_token
//   POST /token  OAuth2 form: grant_type=password | refresh_token (docker login, containerd)
//   GET  /.well-known/jwks.json  the public keys, for registries that trust this issuer.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { REFRESH_PREFIX, sha256Hex, type AccountService } from '../auth/accounts.js';
import { parseScope, type Authorizer, type ResourceScope } from '../auth/authorizer.js';
import type { Credential, Identifier } from '../auth/identify.js';
import type { Principal } from '../auth/policy.js';
import type { Revocations } from '../auth/revocations.js';
import { RegistryError } from '../errors/catalog.js';
import { OAuthError } from '../errors/oauth.js';
import type { AccountStores } from '../metadata/accounts/index.js';
import type { MetadataDb } from '../metadata/database.js';
import type { KeyRing } from '../token/keys.js';
import type { TokenIssuer } from '../token/tokens.js';
import { readLimited } from './body.js';

export interface TokenServiceDeps {
  accounts: AccountService;
  stores: Pick<AccountStores, 'users' | 'credentials'>;
  authorizer: Authorizer;
  issuer: TokenIssuer;
  keys: KeyRing;
  meta: MetadataDb;
  service: string;
  refreshTtlMs: number;
  revocations: Revocations;
  identifier: Identifier;
  /** The app's clock: refresh tokens' creation and expiry. */
  now: () => number;
  /** Told how each token request ended (metrics). */
  onTokenRequest?: (grant: 'basic' | 'password' | 'refresh_token' | 'other', outcome: TokenOutcome) => void;
}

export type TokenOutcome = 'issued' | 'invalid_credentials' | 'throttled' | 'invalid_request' | 'error';

/** The outcome word of a token request's error. */
function outcomeOf(err: unknown): TokenOutcome {
  // OAuthError is a RegistryError too: UNAUTHORIZED for invalid_grant, DENIED for the rest.
  if (err instanceof RegistryError)
    return err.code === 'TOOMANYREQUESTS' ? 'throttled' : err.code === 'UNAUTHORIZED' ? 'invalid_credentials' : 'invalid_request';
  return 'error';
}

/** Runs a token request's handler, telling `observe` how it ended. */
async function observed<T>(d: TokenServiceDeps, grant: () => 'basic' | 'password' | 'refresh_token' | 'other', handler: () => Promise<T>): Promise<T> {
  if (!d.onTokenRequest) return handler();
  try {
    const r = await handler();
    d.onTokenRequest(grant(), 'issued');
    return r;
  } catch (err) {
    d.onTokenRequest(grant(), outcomeOf(err));
    throw err;
  }
}

/** GET /token: a password or an access token (Basic, or an access token as Bearer), or nothing. */
const TOKEN_CREDENTIALS: readonly Credential[] = ['password', 'access-token'];

export function registerTokenRoutes(app: FastifyInstance, d: TokenServiceDeps): void {
  app.get('/token', async (req, reply) =>
    observed(
      d,
      () => 'basic',
      async () => {
        const q = new URLSearchParams(req.url.split('?')[1] ?? '');
        checkService(q.get('service'), d.service);
        // Before anything that decides the grants (auth/revocations.ts).
        const mark = await d.revocations.mark();
        const caller = await d.identifier.identify(req, TOKEN_CREDENTIALS);
        const principal = caller.kind === 'account' ? caller.principal : null;
        const scopes = q.getAll('scope').flatMap((s) => s.split(' '));
        const res = await issue(d, req, principal, scopes, mark);
        if (principal && q.get('offline_token') === 'true') {
          res.refresh_token = await newRefreshToken(d, principal, q.get('client_id') ?? '');
        }
        return sendJson(reply, res);
      },
    ),
  );

  app.post('/token', async (req, reply) => {
    let grantOf: 'password' | 'refresh_token' | 'other' = 'other';
    return observed(
      d,
      () => grantOf,
      async () => {
        let form: URLSearchParams;
        try {
          form = new URLSearchParams((await readLimited(req.raw, 64 * 1024)).toString('utf8'));
        } catch {
          throw new OAuthError(400, 'invalid_request', 'unreadable form body');
        }
        try {
          checkService(form.get('service'), d.service);
        } catch {
          throw new OAuthError(400, 'invalid_request', 'unknown service');
        }
        const scopes = form
          .getAll('scope')
          .flatMap((s) => s.split(' '))
          .filter(Boolean);
        const clientId = form.get('client_id') ?? '';
        const mark = await d.revocations.mark();
        let principal: Principal;
        let refresh: string | undefined;
        const grant = form.get('grant_type');
        if (grant === 'password' || grant === 'refresh_token') grantOf = grant;
        if (grant === 'password') {
          const username = form.get('username') ?? '';
          const password = form.get('password') ?? '';
          try {
            principal = await d.accounts.authenticate(username, password, req.ip);
          } catch (err) {
            if (err instanceof RegistryError && err.code === 'TOOMANYREQUESTS') throw err;
            throw new OAuthError(401, 'invalid_grant', 'invalid username or password');
          }
          if (form.get('access_type') === 'offline') refresh = await newRefreshToken(d, principal, clientId);
        } else if (grant === 'refresh_token') {
          const token = form.get('refresh_token') ?? '';
          const p = await d.accounts.refresh(token, req.ip);
          if (!p) throw new OAuthError(401, 'invalid_grant', 'refresh token is invalid, expired or revoked');
          principal = p;
          refresh = token;
        } else {
          throw new OAuthError(400, 'unsupported_grant_type', 'grant_type must be password or refresh_token');
        }
        const res = await issue(d, req, principal, scopes, mark);
        return sendJson(reply, {
          access_token: res.access_token,
          scope: scopes.join(' '),
          expires_in: res.expires_in,
          issued_at: res.issued_at,
          ...(refresh ? { refresh_token: refresh } : {}),
        });
      },
    );
  });

  app.get('/.well-known/jwks.json', async (_req, reply) => {
    return reply
      .header('Content-Type', 'application/json')
      .header('Cache-Control', 'max-age=60')
      .send(JSON.stringify(await d.keys.jwks()));
  });
}

function checkService(service: string | null, expected: string): void {
  if (service !== null && service !== '' && service !== expected) {
    throw new RegistryError('DENIED', 'unknown service', { status: 400 });
  }
}

interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
}

async function issue(d: TokenServiceDeps, req: FastifyRequest, principal: Principal | null, rawScopes: string[], mark: number): Promise<TokenResponse> {
  const requested = rawScopes.map(parseScope).filter((s): s is ResourceScope => s !== null);
  const granted = await d.authorizer.grant(principal, requested);
  const { token, expiresIn, issuedAt } = await d.issuer.issue(principal?.username ?? '', d.service, granted, mark);
  req.user = principal?.username;
  if (principal) {
    await d.accounts.audit({
      actor: principal.username,
      action: 'token.issue',
      address: req.ip,
      detail: {
        requested: rawScopes.slice(0, 20),
        granted: granted.map((g) => `${g.type}:${g.name}:${g.actions.join(',')}`),
        ...(principal.accessTokenId ? { accessToken: principal.accessTokenId } : {}),
      },
    });
  }
  return { token, access_token: token, expires_in: expiresIn, issued_at: issuedAt };
}

async function newRefreshToken(d: TokenServiceDeps, principal: Principal, clientId: string): Promise<string> {
  const token = REFRESH_PREFIX + randomBytes(32).toString('base64url');
  const now = d.now();
  await d.meta.transaction(async (tx) => {
    await d.stores.credentials.createRefreshToken(
      tx,
      {
        tokenHash: sha256Hex(token),
        userId: principal.userId,
        accessTokenId: principal.accessTokenId ?? null,
        clientId: clientId.slice(0, 200),
        expiresAt: now + d.refreshTtlMs,
      },
      now,
    );
  });
  return token;
}

function sendJson(reply: FastifyReply, body: object): FastifyReply {
  return reply.header('Content-Type', 'application/json').header('Cache-Control', 'no-store').send(JSON.stringify(body));
}
