// Accounts: creating users and robots, checking passwords and access tokens
// (with per-user and per-address failure limits), the first admin.
import { createHash, randomBytes } from 'node:crypto';
import type { AccountsConfig } from '../config/index.js';
import { RegistryError } from '../errors/catalog.js';
import { bcryptCompare, bcryptHash } from './bcrypt.js';
import type { AuditEntry } from '../metadata/accounts/audit-log.js';
import type { AccessTokenRow } from '../metadata/accounts/credentials.js';
import type { AccountStores } from '../metadata/accounts/index.js';
import type { UserRow } from '../metadata/accounts/users.js';
import type { MetadataDb, Tx } from '../metadata/database.js';
import { ACTIONS, type Action, type Principal } from './policy.js';
import { Revocations } from './revocations.js';

/** Lowercase, a valid repository path component, 2–64 characters. Robots are "<org>+<name>". */
const NAME_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
export const TOKEN_PREFIX = 'berth_pat_';
/** Refresh tokens (`docker login`'s identity token) start with this. */
export const REFRESH_PREFIX = 'berth_rt_';
const VERIFIED_TTL_MS = 60_000;

export function isValidAccountName(name: string): boolean {
  return name.length >= 2 && name.length <= 64 && NAME_RE.test(name);
}

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export function newSecret(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

function checkPassword(password: string): void {
  if (password.length < 8) throw new RegistryError('DENIED', 'password must be at least 8 characters', { status: 400 });
  if (password.length > 72) throw new RegistryError('DENIED', 'password must be at most 72 bytes (bcrypt)', { status: 400 });
}

export class AccountService {
  /** sha256(user, secret, stored hash) -> expiry: bcrypt once a minute per credential, never the secret. */
  private readonly verified = new Map<string, number>();
  /** A hash of a random string at the configured cost: unknown users take as long as known ones. */
  private readonly dummyHash: Promise<string>;
  /** Told of every failed sign-in (metrics; app.ts sets it). */
  onLoginFailure: (reason: 'invalid_credentials' | 'throttled') => void = () => {};

  constructor(
    private readonly stores: Pick<AccountStores, 'users' | 'credentials' | 'loginFailures' | 'audit' | 'revocations'>,
    private readonly meta: MetadataDb,
    private readonly cfg: AccountsConfig,
    /** Where changes that take rights away are recorded (a bare one, without a poller, for the CLI). */
    readonly revocations: Revocations = new Revocations(stores.revocations, { retainMs: 10 * 60_000 }),
    /** The clock of expiry, failure windows and recorded times (app.ts AppParts.now). */
    readonly now: () => number = Date.now,
  ) {
    this.dummyHash = bcryptHash(randomBytes(16).toString('hex'), cfg.bcryptcost);
  }

  hashPassword(password: string): Promise<string> {
    checkPassword(password);
    return bcryptHash(password, this.cfg.bcryptcost);
  }

  /** Creates the configured first admin when it does not exist yet (never resets a password). */
  async bootstrapAdmin(username: string, password: string): Promise<boolean> {
    if (await this.stores.users.userByName(username)) return false;
    try {
      await this.createUser({ username, password, isAdmin: true }, { actor: null, action: 'user.bootstrap', target: username });
      return true;
    } catch (err) {
      // Replicas starting together race for it; the one that lost finds it there.
      if (await this.stores.users.userByName(username)) return false;
      throw err;
    }
  }

  async createUser(u: { username: string; password: string; email?: string | null; isAdmin?: boolean }, audit: AuditEntry): Promise<UserRow> {
    if (!isValidAccountName(u.username)) throw new RegistryError('NAME_INVALID', 'invalid user name', { status: 400 });
    const hash = await this.hashPassword(u.password);
    const now = this.now();
    return this.meta.transaction(async (tx) => {
      if (!(await this.stores.users.claimNamespace(tx, u.username, 'user', now))) throw nameTaken();
      const id = await this.stores.users.createUser(tx, { username: u.username, passwordHash: hash, email: u.email, isAdmin: u.isAdmin }, now);
      await this.stores.audit.record(tx, { ...audit, detail: { admin: !!u.isAdmin } }, now);
      return (await this.stores.users.userById(id, tx))!;
    });
  }

  /** A robot account of an organisation; returns its one-time secret. */
  async createRobot(orgId: number, orgName: string, name: string, audit: AuditEntry): Promise<{ user: UserRow; secret: string }> {
    if (!isValidAccountName(name)) throw new RegistryError('NAME_INVALID', 'invalid robot name', { status: 400 });
    const username = `${orgName}+${name}`;
    const secret = newSecret();
    const now = this.now();
    // Robots never sign in with a password: theirs is a random hash that matches nothing.
    const unusable = await bcryptHash(randomBytes(32).toString('hex'), 4);
    return this.meta.transaction(async (tx) => {
      if (await this.stores.users.userByName(username, tx)) throw nameTaken();
      const id = await this.stores.users.createUser(tx, { username, passwordHash: unusable, robotOrgId: orgId }, now);
      await this.stores.credentials.createAccessToken(
        tx,
        { userId: id, name: 'robot secret', tokenHash: sha256Hex(secret), scopes: [...ACTIONS], resource: null, expiresAt: null },
        now,
      );
      await this.stores.audit.record(tx, audit, now);
      return { user: (await this.stores.users.userById(id, tx))!, secret };
    });
  }

  /** A new password ends everything signed in with the old one: refresh tokens, sessions, registry tokens. */
  async setPassword(user: UserRow, password: string, audit: AuditEntry): Promise<void> {
    const hash = await this.hashPassword(password);
    const now = this.now();
    await this.meta.transaction(async (tx) => {
      await this.stores.users.setPassword(tx, user.id, hash, now);
      await this.revocations.record(tx, [{ kind: 'subject', key: user.username }], now);
      await this.stores.audit.record(tx, audit, now);
    });
    await this.revocations.changed();
  }

  async createAccessToken(
    user: UserRow,
    t: { name: string; scopes: Action[]; resource: string | null; expiresAt: number | null },
    audit: AuditEntry,
  ): Promise<{ secret: string; token: AccessTokenRow }> {
    const secret = newSecret();
    const now = this.now();
    const id = await this.meta.transaction(async (tx) => {
      const id = await this.stores.credentials.createAccessToken(
        tx,
        { userId: user.id, name: t.name, tokenHash: sha256Hex(secret), scopes: t.scopes, resource: t.resource, expiresAt: t.expiresAt },
        now,
      );
      await this.stores.audit.record(tx, { ...audit, detail: { name: t.name, scopes: t.scopes, resource: t.resource, expiresAt: t.expiresAt } }, now);
      return id;
    });
    return { secret, token: (await this.stores.credentials.accessToken(id))! };
  }

  /**
   * Checks a username with a password or access token. Throws UNAUTHORIZED on a
   * mismatch and TOOMANYREQUESTS (with Retry-After) when the caller has failed too
   * often in the window; both look the same for unknown users.
   *
   * Passwords count against the user name and the address. Access tokens and robot
   * secrets (recognised by their prefix) are 256 random bits, which nobody guesses for
   * a particular user: they count against the address only, so wrong passwords typed
   * for a user name cannot lock that user's CI out.
   */
  async authenticate(username: string, secret: string, address: string): Promise<Principal> {
    const now = this.now();
    const user = await this.stores.users.userByName(username);
    if (secret.startsWith(TOKEN_PREFIX)) {
      const principal = await this.throttled(address, null, now, () => this.tokenPrincipal(user, secret, now));
      if (!principal) return this.failed(user, address, now);
      return principal;
    }
    // A password verified within the last minute skips bcrypt and the counters (clients send
    // Basic credentials with every token request).
    const cacheKey = user ? sha256Hex(`${username}\0${secret}\0${user.passwordHash}`) : null;
    if (cacheKey && user && !user.disabled && user.robotOrgId === null && (this.verified.get(cacheKey) ?? 0) > now) return this.principalOf(user);
    const principal = await this.throttled(address, username, now, () => this.passwordPrincipal(user, secret));
    if (!principal) return this.failed(user, address, now);
    if (cacheKey) {
      if (this.verified.size >= 10_000) this.verified.clear();
      this.verified.set(cacheKey, now + VERIFIED_TTL_MS);
    }
    return principal;
  }

  /**
   * The principal a refresh token stands for (`docker login`'s identity token), or null when it
   * is unknown, expired or revoked, or its user or access token is gone. Failures count against
   * the address, like access tokens.
   */
  async refresh(token: string, address: string): Promise<Principal | null> {
    const now = this.now();
    return this.throttled(address, null, now, async () => {
      if (!token.startsWith(REFRESH_PREFIX)) return null;
      const row = await this.stores.credentials.refreshToken(sha256Hex(token));
      if (!row || row.revokedAt !== null || row.expiresAt <= now) return null;
      const user = await this.stores.users.userById(row.userId);
      // A password change revokes refresh tokens; the time check also covers any written before it.
      if (!user || user.passwordChangedAt > row.createdAt) return null;
      return this.principalById(row.userId, row.accessTokenId);
    });
  }

  /**
   * Runs one attempt under the failure limits: of the address, and of the user name when it
   * is a password. The attempt is counted before it runs, so parallel guesses cannot get past
   * the limit; a success is forgiven (and clears the user name's count).
   */
  private async throttled<T>(address: string, username: string | null, now: number, attempt: () => Promise<T | null>): Promise<T | null> {
    const limits = [{ key: `addr:${address}`, limit: this.cfg.addresslimit }];
    if (username !== null) limits.push({ key: `user:${username.slice(0, 128)}`, limit: this.cfg.loginlimit });
    const failures = this.stores.loginFailures;
    const counts = await this.meta.transaction(
      async (tx) => {
        for (const { key } of limits) await failures.recordFailure(tx, key, now, this.cfg.loginwindow);
        return Promise.all(limits.map(({ key }) => failures.failures(key, now, this.cfg.loginwindow, tx)));
      },
      { durable: false },
    );
    for (const [i, f] of counts.entries()) {
      if (f.count > limits[i].limit) {
        // A refused attempt is not a guess: take the counts back.
        await this.meta.transaction(
          async (tx) => {
            for (const { key } of limits) await failures.forgiveFailure(tx, key);
          },
          { durable: false },
        );
        const retry = Math.max(1, Math.ceil((f.windowStart + this.cfg.loginwindow - now) / 1000));
        this.onLoginFailure('throttled');
        throw new RegistryError('TOOMANYREQUESTS', 'too many failed logins; try again later', { headers: { 'Retry-After': String(retry) } });
      }
    }
    const result = await attempt();
    if (result !== null) {
      await this.meta.transaction(
        async (tx) => {
          await failures.forgiveFailure(tx, limits[0].key);
          if (limits[1]) await failures.clearFailures(tx, limits[1].key);
        },
        { durable: false },
      );
    }
    return result;
  }

  /** Audits a failed login and throws UNAUTHORIZED. */
  private async failed(user: UserRow | null, address: string, now: number): Promise<never> {
    this.onLoginFailure('invalid_credentials');
    // Name only accounts that exist: a password typed into the user field is never stored.
    await this.meta.transaction(
      (tx) =>
        this.stores.audit.record(
          tx,
          { actor: null, action: 'login.failed', target: user ? user.username : null, address, detail: user ? undefined : { unknownUser: true } },
          now,
        ),
      { durable: false },
    );
    throw new RegistryError('UNAUTHORIZED', 'invalid username or password');
  }

  private async tokenPrincipal(user: UserRow | null, secret: string, now: number): Promise<Principal | null> {
    const token = await this.stores.credentials.accessTokenByHash(sha256Hex(secret));
    if (!token || !user || token.userId !== user.id || user.disabled) return null;
    if (token.revokedAt !== null || (token.expiresAt !== null && token.expiresAt <= now)) return null;
    // Best effort, and at most once a minute per token.
    if (token.lastUsedAt === null || token.lastUsedAt < now - 60_000) this.stores.credentials.touchAccessToken(token.id, now).catch(() => {});
    return this.principalOf(user, token);
  }

  private async passwordPrincipal(user: UserRow | null, secret: string): Promise<Principal | null> {
    // Unknown users and robots cost a bcrypt comparison at the configured cost too.
    const hash = user && user.robotOrgId === null ? user.passwordHash : await this.dummyHash;
    const ok = await bcryptCompare(secret, hash);
    if (!ok || !user || user.robotOrgId !== null || user.disabled) return null;
    return this.principalOf(user);
  }

  principalOf(user: UserRow, token?: AccessTokenRow): Principal {
    return {
      userId: user.id,
      username: user.username,
      isAdmin: user.isAdmin && !token,
      robotOrgId: user.robotOrgId,
      ...(token && user.robotOrgId === null ? { limits: { actions: token.scopes as Action[], resource: token.resource } } : {}),
      ...(token ? { accessTokenId: token.id } : {}),
    };
  }

  /** Rebuilds a principal for a refresh: null when the user or the access token it came from is gone. */
  async principalById(userId: number, accessTokenId: number | null): Promise<Principal | null> {
    const user = await this.stores.users.userById(userId);
    if (!user || user.disabled) return null;
    if (accessTokenId === null) return user.robotOrgId === null ? this.principalOf(user) : null;
    const token = await this.stores.credentials.accessToken(accessTokenId);
    if (!token || token.userId !== user.id || token.revokedAt !== null || (token.expiresAt !== null && token.expiresAt <= this.now())) return null;
    return this.principalOf(user, token);
  }

  async audit(entry: AuditEntry, tx?: Tx): Promise<void> {
    const now = this.now();
    if (tx) return this.stores.audit.record(tx, entry, now);
    await this.meta.transaction((t) => this.stores.audit.record(t, entry, now), { durable: false });
  }
}

function nameTaken(): RegistryError {
  return new RegistryError('DENIED', 'that name is already taken', { status: 409 });
}
