// htpasswd files with bcrypt hashes, as `htpasswd -Bbn` writes them ($2y$).
// The file is re-read when it changes; successful checks are remembered for a
// short time because bcrypt costs tens of milliseconds and clients send Basic
// credentials on every request.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { unreadableFile } from '../config/index.js';
import { bcryptCompare } from './bcrypt.js';

const CACHE_TTL_MS = 60_000;
const MAX_CACHE = 10_000;
// A valid hash of a random string: unknown users cost as much as known ones.
const DUMMY_HASH = '$2b$10$KptF1Qu3rXrRnVGc000lneVyn6e2zm1SqrpNtqOJevsJJFv6ZOcHe';

export class HtpasswdVerifier {
  private users = new Map<string, string>();
  private mtimeMs = -1;
  private checkedAt = 0;
  /** sha256(user:password) -> expiry; never the secret itself. */
  private readonly verified = new Map<string, number>();

  constructor(
    private readonly path: string,
    /** The clock of the re-check throttle and the verified cache (app.ts AppParts.now). */
    private readonly now: () => number = Date.now,
  ) {
    this.reload(true);
  }

  async verify(user: string, password: string): Promise<boolean> {
    this.reload(false);
    const key = createHash('sha256').update(`${user}\0${password}`).digest();
    const cacheKey = key.toString('base64');
    const expiry = this.verified.get(cacheKey);
    const now = this.now();
    if (expiry !== undefined && expiry > now) return true;

    const hash = this.users.get(user);
    // bcrypt's own comparison is constant-time; the dummy keeps unknown users indistinguishable.
    const ok = await bcryptCompare(password, normalise(hash ?? DUMMY_HASH));
    if (!ok || hash === undefined) return false;
    if (this.verified.size >= MAX_CACHE) this.verified.clear();
    this.verified.set(cacheKey, now + CACHE_TTL_MS);
    return true;
  }

  private reload(force: boolean): void {
    const now = this.now();
    if (!force && now - this.checkedAt < 1000) return;
    this.checkedAt = now;
    let mtimeMs: number;
    try {
      mtimeMs = statSync(this.path).mtimeMs;
    } catch (err) {
      if (force) throw unreadableFile('auth.htpasswd.path', this.path, err);
      return; // keep the last good copy while the file is being replaced
    }
    if (mtimeMs === this.mtimeMs) return;
    const users = new Map<string, string>();
    for (const line of readFileSync(this.path, 'utf8').split(/\r?\n/)) {
      const trimmed = line.trim();
      if (trimmed === '' || trimmed.startsWith('#')) continue;
      const i = trimmed.indexOf(':');
      if (i <= 0) continue;
      const hash = trimmed.slice(i + 1);
      if (/^\$2[abxy]\$\d\d\$/.test(hash)) users.set(trimmed.slice(0, i), hash);
    }
    this.users = users;
    this.mtimeMs = mtimeMs;
    this.verified.clear(); // a changed file may have revoked someone
  }
}

/** node's bcrypt understands $2a$/$2b$; $2y$ (Apache's name) is the same algorithm. */
function normalise(hash: string): string {
  return hash.startsWith('$2y$') || hash.startsWith('$2x$') ? `$2b$${hash.slice(4)}` : hash;
}

/** Parses an Authorization: Basic header; null when absent or malformed. */
export function parseBasic(header: string | undefined): { user: string; password: string } | null {
  if (!header || !/^basic\s/i.test(header)) return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return null;
  return { user: decoded.slice(0, i), password: decoded.slice(i + 1) };
}
