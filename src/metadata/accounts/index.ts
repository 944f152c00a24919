// The account stores, one per concern, built once per MetadataDb in the composition path
// (auth/token-auth.ts). Each service takes only the stores it uses.
import type { MetadataDb } from '../database.js';
import { AuditLog } from './audit-log.js';
import { CredentialStore } from './credentials.js';
import { LoginFailureStore } from './login-failures.js';
import { OrgStore } from './orgs.js';
import { RepositoryAccessStore } from './repository-access.js';
import { RevocationStore } from './revocations.js';
import { SessionStore } from './sessions.js';
import { SigningKeyStore } from './signing-keys.js';
import { UserStore } from './users.js';

export interface AccountStores {
  /** Users, robots and the namespaces they share with organisations. */
  users: UserStore;
  /** Organisations, members and teams. */
  orgs: OrgStore;
  /** Repository rows, visibility, collaborators, the repositories a caller can see. */
  repositories: RepositoryAccessStore;
  /** Access tokens, robot secrets and refresh tokens. */
  credentials: CredentialStore;
  signingKeys: SigningKeyStore;
  loginFailures: LoginFailureStore;
  audit: AuditLog;
  /** Rights taken away, for registry tokens already issued (auth/revocations.ts). */
  revocations: RevocationStore;
  /** The web UI's sign-in sessions. */
  sessions: SessionStore;
}

export function accountStores(meta: MetadataDb): AccountStores {
  return {
    users: new UserStore(meta),
    orgs: new OrgStore(meta),
    repositories: new RepositoryAccessStore(meta),
    credentials: new CredentialStore(meta),
    signingKeys: new SigningKeyStore(meta),
    loginFailures: new LoginFailureStore(meta),
    audit: new AuditLog(meta),
    revocations: new RevocationStore(meta),
    sessions: new SessionStore(meta),
  };
}
