// Builds token authentication from the configuration: the verifier every
// replica uses on /v2, and (with the built-in issuer) the accounts, key ring
// and token issuer behind /token and /api/v1.
import { readConfiguredFile, type BerthConfig } from '../config/index.js';
import { accountStores, type AccountStores } from '../metadata/accounts/index.js';
import type { MetadataDb } from '../metadata/database.js';
import { KeySealer, SIGNING_KEYS, type SealPurpose } from '../token/key-sealer.js';
import { KeyRing } from '../token/keys.js';
import { CLOCK_TOLERANCE_S, TokenIssuer, TokenVerifier } from '../token/tokens.js';
import { AccountService } from './accounts.js';
import { mirrorLookup } from '../mirror/routing.js';
import { Authorizer } from './authorizer.js';
import { Identifier } from './identify.js';
import { TokenAccess } from './registry-access.js';
import { Revocations } from './revocations.js';

/** What the built-in token service and the REST API need. */
export interface AccountServices {
  accounts: AccountService;
  stores: AccountStores;
  authorizer: Authorizer;
  keys: KeyRing;
  issuer: TokenIssuer;
  verifier: TokenVerifier;
  service: string;
  refreshTtlMs: number;
  revocations: Revocations;
  identifier: Identifier;
  /** The app's clock (app.ts AppParts.now): what the routes record and compare times with. */
  now: () => number;
}

/** Room for replicas' clocks disagreeing, on top of the verifier's tolerance. */
const CLOCK_SKEW_MS = 60_000;

export interface TokenAuth {
  access: TokenAccess;
  /** Null with an external issuer only (auth.token.builtin: false). */
  services: AccountServices | null;
  verifier: TokenVerifier;
  /** The token endpoint clients are sent to; null = this server's /token. */
  realm: string | null;
  /** Who is calling, for every surface. */
  identifier: Identifier;
}

export async function buildTokenAuth(config: BerthConfig, meta: MetadataDb, now: () => number = Date.now): Promise<TokenAuth> {
  const t = config.auth!.token!;
  const stores = accountStores(meta);
  let keys: KeyRing | undefined;
  let revocations: Revocations | undefined;
  if (t.builtin) {
    keys = new KeyRing(stores.signingKeys, meta, t.expiration, signingKeySealer(t), now);
    await keys.init();
    revocations = new Revocations(stores.revocations, { retainMs: t.expiration + CLOCK_TOLERANCE_S * 1000 + CLOCK_SKEW_MS, clock: now });
    await revocations.poll(); // the recent ones; app.ts starts the poller
  }
  const verifier = new TokenVerifier({
    revocations,
    issuer: t.issuer,
    service: t.service,
    keys,
    jwks: t.jwks || undefined,
    rootCertBundle: t.rootcertbundle || undefined,
    now,
  });
  const realm = t.realm || (config.http.host ? `${config.http.host}/token` : null);
  if (!keys || !revocations) {
    const identifier = new Identifier({ verifier });
    return { access: new TokenAccess({ identifier, service: t.service, realm }), services: null, verifier, realm, identifier };
  }

  const accounts = new AccountService(stores, meta, config.auth!.accounts, revocations, now);
  const identifier = new Identifier({ verifier, accounts: { service: accounts, stores } });
  const access = new TokenAccess({ identifier, service: t.service, realm, revocations });
  const a = config.auth!.accounts;
  const password = a.adminpassword || (a.adminpasswordfile ? readConfiguredFile('auth.accounts.adminpasswordfile', a.adminpasswordfile, 'utf8').trim() : '');
  if (password) await accounts.bootstrapAdmin(a.adminuser, password);
  return {
    access,
    verifier,
    realm,
    identifier,
    services: {
      accounts,
      stores,
      authorizer: new Authorizer(stores, mirrorLookup(config)),
      keys,
      issuer: new TokenIssuer(keys, t.issuer, t.expiration, now),
      verifier,
      service: t.service,
      refreshTtlMs: t.refreshexpiration,
      revocations,
      identifier,
      now,
    },
  };
}

/** The sealer for signing keys (or, under `purpose`, other secrets) at rest, when auth.token.signingkeysecret(file) is set. */
export function signingKeySealer(t: { signingkeysecret: string; signingkeysecretfile: string }, purpose: SealPurpose = SIGNING_KEYS): KeySealer | null {
  const secret =
    t.signingkeysecret || (t.signingkeysecretfile ? readConfiguredFile('auth.token.signingkeysecretfile', t.signingkeysecretfile, 'utf8').trim() : '');
  return secret ? new KeySealer(secret, purpose) : null;
}
