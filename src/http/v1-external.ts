// Who may use /v1/search when an external issuer owns the accounts. Berth does not know that
// issuer's users, nor who may see which repository, so it lets the issuer decide, through a
// token for registry:catalog:search:
//   no credentials     401 with a Bearer challenge for that scope. podman then lists /v2/_catalog
//                      with its credentials (its fallback for any answer but 200); docker reports it.
//   Bearer token       the issuer's token (docker after `docker login`, when the issuer gave it a
//                      refresh token: dockerd fetches one for registry:catalog:search).
//   Basic credentials  exchanged at the issuer's realm for such a token, as a client would (docker
//                      after `docker login` to an issuer without refresh tokens sends Basic here).
// A token that grants catalog search (or *) sees every repository: the issuer decided, as for
// /v2/_catalog. Anything else is a 401 naming the scope; an issuer that cannot be asked, a 503.
import type { FastifyRequest } from 'fastify';
import { InvalidCredentials, type Identifier } from '../auth/identify.js';
import { RegistryError } from '../errors/catalog.js';
import type { Viewer } from '../index/store.js';
import { TokenEndpointError, requestToken } from '../token/token-request.js';
import type { VerifiedToken } from '../token/tokens.js';

export const SEARCH_SCOPE = 'registry:catalog:search';

export interface ExternalSearchOptions {
  /** Reads the request's own Bearer token (auth/identify.ts) and verifies exchanged ones. */
  identifier: Identifier;
  service: string;
  /** The issuer's token endpoint (auth.token.realm); null when none is configured. */
  realm: string | null;
}

export class ExternalSearchAccess {
  constructor(private readonly opts: ExternalSearchOptions) {}

  async viewer(req: FastifyRequest): Promise<Viewer> {
    const header = req.headers.authorization;
    if (!header) throw this.challenge(req);
    let verified: VerifiedToken;
    try {
      if (/^basic\s/i.test(header) && this.opts.realm) {
        let token: string | null;
        try {
          token = await requestToken(this.opts.realm, { service: this.opts.service, scope: SEARCH_SCOPE, authorization: header });
        } catch (err) {
          if (!(err instanceof TokenEndpointError)) throw err;
          req.log.warn({ reason: err.message }, 'search: the token issuer cannot be asked');
          throw new RegistryError('UNAVAILABLE', 'the token issuer cannot be reached to authorize the search');
        }
        if (!token) throw this.challenge(req, 'invalid_token');
        verified = await this.opts.identifier.verifyRegistryToken(token);
      } else {
        // The request's own credential: only a registry token will do.
        const caller = await this.opts.identifier.identify(req, ['registry-token']);
        if (caller.kind !== 'registry-token') throw this.challenge(req, 'invalid_token');
        verified = caller.token;
      }
    } catch (err) {
      if (!(err instanceof InvalidCredentials)) throw err;
      req.log.info({ reason: err.reason ?? err.message }, 'search: token refused');
      throw this.challenge(req, 'invalid_token');
    }
    const grants = verified.access.some((a) => a.type === 'registry' && a.name === 'catalog' && (a.actions.includes('search') || a.actions.includes('*')));
    if (!grants) throw this.challenge(req, 'insufficient_scope');
    req.user = verified.subject || undefined;
    return { all: true };
  }

  private challenge(req: FastifyRequest, error?: string): RegistryError {
    const realm = this.opts.realm ?? `${req.protocol}://${req.host || 'localhost'}/token`;
    const q = (s: string) => s.replace(/["\\]/g, '');
    const value = `Bearer realm="${q(realm)}",service="${q(this.opts.service)}",scope="${SEARCH_SCOPE}"${error ? `,error="${error}"` : ''}`;
    return new RegistryError('UNAUTHORIZED', undefined, { headers: { 'WWW-Authenticate': value } });
  }
}
