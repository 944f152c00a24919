// Accounts: creating users and robots, checking passwords and access tokens
// (with per-user and per-address failure limits), the first admin.
import { createHash, randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import type { AccountsConfig } from '../config/index.js';
import { RegistryError } from '../errors/catalog.js';
import type { AccessTokenRow, AccountStore, AuditEntry, UserRow } from '../metadata/account-store.js';
import type { MetadataDb, Tx } from '../metadata/database.js';
import { ACTIONS, type Action, type Principal } from './policy.js';

/** Lowercase, a valid repository path component, 2–64 characters. Robots are "<org>+<name>". */
const NAME_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
export const TOKEN_PREFIX = 'berth_pat_';
const VERIFIED_TTL_MS = 60_000;
// A bcrypt hash of a random string: unknown users cost as much as known ones.
const DUMMY_HASH = '$2b$10$KptF1Qu3rXrRnVGc000lneVyn6e2zm1SqrpNtqOJevsJJFv6ZOcHe';

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

  constructor(
    readonly store: AccountStore,
    private readonly meta: MetadataDb,
    private readonly cfg: AccountsConfig,
  ) {}

  hashPassword(password: string): Promise<string> {
    checkPassword(password);
    return bcrypt.hash(password, this.cfg.bcryptcost);
  }

  /** Creates the configured first admin when it does not exist yet (never resets a password). */
  async bootstrapAdmin(username: string, password: string): Promise<boolean> {
    if (await this.store.userByName(username)) return false;
    await this.createUser({ username, password, isAdmin: true }, { actor: null, action: 'user.bootstrap', target: username });
    return true;
  }

  async createUser(u: { username: string; password: string; email?: string | null; isAdmin?: boolean }, audit: AuditEntry): Promise<UserRow> {
    if (!isValidAccountName(u.username)) throw new RegistryError('NAME_INVALID', 'invalid user name', { status: 400 });
    const hash = await this.hashPassword(u.password);
    const now = Date.now();
    return this.meta.transaction(async (tx) => {
      if (!(await this.store.claimNamespace(tx, u.username, 'user', now))) throw nameTaken();
      const id = await this.store.createUser(tx, { username: u.username, passwordHash: hash, email: u.email, isAdmin: u.isAdmin }, now);
      await this.store.audit(tx, { ...audit, detail: { admin: !!u.isAdmin } }, now);
      return (await this.store.userById(id, tx))!;
    });
  }

  /** A robot account of an organisation; returns its one-time secret. */
  async createRobot(orgId: number, orgName: string, name: string, audit: AuditEntry): Promise<{ user: UserRow; secret: string }> {
    if (!isValidAccountName(name)) throw new RegistryError('NAME_INVALID', 'invalid robot name', { status: 400 });
    const username = `${orgName}+${name}`;
    const secret = newSecret();
    const now = Date.now();
    // Robots never sign in with a password: theirs is a random hash that matches nothing.
    const unusable = await bcrypt.hash(randomBytes(32).toString('hex'), 4);
    return this.meta.transaction(async (tx) => {
      if (await this.store.userByName(username, tx)) throw nameTaken();
      const id = await this.store.createUser(tx, { username, passwordHash: unusable, robotOrgId: orgId }, now);
      await this.store.createAccessToken(tx, { userId: id, name: 'robot secret', tokenHash: sha256Hex(secret), scopes: [...ACTIONS], resource: null, expiresAt: null }, now);
      await this.store.audit(tx, audit, now);
      return { user: (await this.store.userById(id, tx))!, secret };
    });
  }

  async setPassword(user: UserRow, password: string, audit: AuditEntry): Promise<void> {
    const hash = await this.hashPassword(password);
    const now = Date.now();
    await this.meta.transaction(async (tx) => {
      await this.store.setPassword(tx, user.id, hash, now);
      await this.store.audit(tx, audit, now);
    });
  }

  async createAccessToken(
    user: UserRow,
    t: { name: string; scopes: Action[]; resource: string | null; expiresAt: number | null },
    audit: AuditEntry,
  ): Promise<{ secret: string; token: AccessTokenRow }> {
    const secret = newSecret();
    const now = Date.now();
    const id = await this.meta.transaction(async (tx) => {
      const id = await this.store.createAccessToken(tx, { userId: user.id, name: t.name, tokenHash: sha256Hex(secret), scopes: t.scopes, resource: t.resource, expiresAt: t.expiresAt }, now);
      await this.store.audit(tx, { ...audit, detail: { name: t.name, scopes: t.scopes, resource: t.resource, expiresAt: t.expiresAt } }, now);
      return id;
    });
    return { secret, token: (await this.store.accessToken(id))! };
  }

  /**
   * Checks a username with a password or access token. Throws UNAUTHORIZED on a
   * mismatch and TOOMANYREQUESTS (with Retry-After) when the user or the address
   * has failed too often in the window; both look the same for unknown users.
   */
  async authenticate(username: string, secret: string, address: string): Promise<Principal> {
    const now = Date.now();
    const keys = [`user:${username.slice(0, 128)}`, `addr:${address}`];
    const limits = [this.cfg.loginlimit, this.cfg.addresslimit];
    for (const [i, key] of keys.entries()) {
      const f = await this.store.failures(key, now, this.cfg.loginwindow);
      if (f.count >= limits[i]) {
        const retry = Math.max(1, Math.ceil((f.windowStart + this.cfg.loginwindow - now) / 1000));
        throw new RegistryError('TOOMANYREQUESTS', 'too many failed logins; try again later', { headers: { 'Retry-After': String(retry) } });
      }
    }
    const principal = await this.check(username, secret, now);
    await this.meta.transaction(
      async (tx) => {
        if (!principal) for (const key of keys) await this.store.recordFailure(tx, key, now, this.cfg.loginwindow);
        else await this.store.clearFailures(tx, keys[0]);
        if (!principal) await this.store.audit(tx, { actor: null, action: 'login.failed', target: username.slice(0, 128), address }, now);
      },
      { durable: false },
    );
    if (!principal) throw new RegistryError('UNAUTHORIZED', 'invalid username or password');
    return principal;
  }

  private async check(username: string, secret: string, now: number): Promise<Principal | null> {
    const user = await this.store.userByName(username);
    if (secret.startsWith(TOKEN_PREFIX)) {
      const token = await this.store.accessTokenByHash(sha256Hex(secret));
      if (!token || !user || token.userId !== user.id || user.disabled) return null;
      if (token.revokedAt !== null || (token.expiresAt !== null && token.expiresAt <= now)) return null;
      this.store.touchAccessToken(token.id, now).catch(() => {}); // best effort
      return this.principalOf(user, token);
    }
    const hash = user && user.robotOrgId === null ? user.passwordHash : DUMMY_HASH;
    const cacheKey = sha256Hex(`${username}\0${secret}\0${hash}`);
    const expiry = this.verified.get(cacheKey);
    const ok = (expiry !== undefined && expiry > now) || (await bcrypt.compare(secret, hash));
    if (!ok || !user || user.robotOrgId !== null || user.disabled) return null;
    if (this.verified.size >= 10_000) this.verified.clear();
    this.verified.set(cacheKey, now + VERIFIED_TTL_MS);
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
    const user = await this.store.userById(userId);
    if (!user || user.disabled) return null;
    if (accessTokenId === null) return user.robotOrgId === null ? this.principalOf(user) : null;
    const token = await this.store.accessToken(accessTokenId);
    if (!token || token.userId !== user.id || token.revokedAt !== null || (token.expiresAt !== null && token.expiresAt <= Date.now())) return null;
    return this.principalOf(user, token);
  }

  async audit(entry: AuditEntry, tx?: Tx): Promise<void> {
    const now = Date.now();
    if (tx) return this.store.audit(tx, entry, now);
    await this.meta.transaction((t) => this.store.audit(t, entry, now), { durable: false });
  }
}

function nameTaken(): RegistryError {
  return new RegistryError('DENIED', 'that name is already taken', { status: 409 });
}
