// An error of the OAuth2 token endpoint (POST /token, RFC 6749 §5.2). Its response
// carries the OAuth fields for OAuth clients beside the registry's error list for
// Docker's error printer; src/http/error-response.ts writes it.
import { RegistryError } from './catalog.js';

export class OAuthError extends RegistryError {
  /** The RFC 6749 error: invalid_request, invalid_grant, unsupported_grant_type. */
  readonly oauth: string;

  constructor(status: 400 | 401, oauth: string, description: string) {
    super(status === 401 ? 'UNAUTHORIZED' : 'DENIED', description, { status });
    this.name = 'OAuthError';
    this.oauth = oauth;
  }
}
