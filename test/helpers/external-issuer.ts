// A small external token issuer for tests, in the style of docker_auth: a token endpoint
// (GET with Basic credentials, as c/image and `docker login` ask; POST with a password or
// refresh token grant, as docker and containerd do) that signs ES256 JWTs, and the JWKS
// file Berth is configured to trust (auth.token.builtin: false, auth.token.jwks).
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

export interface IssuerUser {
  password: string;
  /** Repositories below this prefix ("ci/") may be pulled and pushed. */
  repositories?: string;
  /** May list and search the catalog (registry:catalog:*). */
  catalog?: boolean;
}

export interface ExternalIssuer {
  /** The token endpoint, for auth.token.realm. */
  realm: string;
  issuer: string;
  service: string;
  jwksFile: string;
  /** Berth's auth section for this issuer. */
  config: { token: { builtin: false; jwks: string; issuer: string; service: string; realm: string } };
  /** Whether offline_token=true and refresh grants get a refresh token (docker then stores an identity token). */
  refreshTokens: boolean;
  /** A token for `sub` with exactly `access`. */
  mint(sub: string, access: Access[]): Promise<string>;
  /** Every request the endpoint answered: method, scopes asked, who (user or "" for anonymous), status. */
  readonly requests: { method: string; scopes: string[]; user: string; status: number }[];
  close(): Promise<void>;
}

export interface Access {
  type: string;
  name: string;
  actions: string[];
}

export async function startExternalIssuer(dir: string, users: Record<string, IssuerUser>, opts: { refreshTokens?: boolean } = {}): Promise<ExternalIssuer> {
  const issuer = 'test-external-issuer';
  const service = 'berth-external';
  const pair = await generateKeyPair('ES256', { extractable: true });
  const jwksFile = path.join(dir, 'issuer-jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'test-1', alg: 'ES256', use: 'sig' }] }));
  const refresh = new Map<string, string>();
  const requests: ExternalIssuer['requests'] = [];

  const mint = (sub: string, access: Access[]) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ access })
      .setProtectedHeader({ alg: 'ES256', kid: 'test-1' })
      .setIssuer(issuer)
      .setAudience(service)
      .setSubject(sub)
      .setIssuedAt(now)
      .setNotBefore(now - 1)
      .setExpirationTime(now + 300)
      .setJti(randomBytes(8).toString('hex'))
      .sign(pair.privateKey);
  };

  /** What `user` gets of the scopes asked ("repository:ci/app:pull,push", "registry:catalog:search"). */
  const grant = (user: string, scopes: string[]): Access[] => {
    const u = users[user];
    const out: Access[] = [];
    for (const scope of scopes) {
      const m = /^([a-z]+):(.+):([a-z*,]+)$/.exec(scope);
      if (!m || !u) continue;
      const [, type, name, actions] = m;
      const wanted = actions.split(',');
      let allowed: string[] = [];
      if (type === 'repository' && u.repositories && name.startsWith(u.repositories)) allowed = wanted.filter((a) => ['pull', 'push'].includes(a));
      if (type === 'registry' && name === 'catalog' && u.catalog) allowed = wanted;
      if (allowed.length) out.push({ type, name, actions: allowed });
    }
    return out;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://issuer');
      const form = new URLSearchParams(req.method === 'POST' ? Buffer.concat(chunks).toString() : '');
      const params = req.method === 'POST' ? form : url.searchParams;
      const scopes = params
        .getAll('scope')
        .flatMap((s) => s.split(' '))
        .filter(Boolean);
      const answer = (status: number, body: object, user: string) => {
        requests.push({ method: req.method ?? '', scopes, user, status });
        res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
      };
      if (url.pathname !== '/token') return answer(404, { error: 'not found' }, '');
      let user = '';
      const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
      if (req.method === 'GET' && basic) {
        const [name, ...rest] = Buffer.from(basic[1], 'base64').toString().split(':');
        if (users[name]?.password !== rest.join(':')) return answer(401, { error: 'invalid credentials' }, name);
        user = name;
      } else if (req.method === 'POST' && form.get('grant_type') === 'password') {
        const name = form.get('username') ?? '';
        if (users[name]?.password !== form.get('password')) return answer(401, { error: 'invalid_grant' }, name);
        user = name;
      } else if (req.method === 'POST' && form.get('grant_type') === 'refresh_token') {
        user = refresh.get(form.get('refresh_token') ?? '') ?? '';
        if (!user) return answer(401, { error: 'invalid_grant' }, '');
      } else if (req.method === 'POST') {
        return answer(400, { error: 'unsupported_grant_type' }, '');
      }
      const token = await mint(user || 'anonymous', grant(user, scopes));
      const body: Record<string, unknown> = { token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() };
      const offline = params.get('offline_token') === 'true' || params.get('access_type') === 'offline';
      if (self.refreshTokens && user && (offline || form.get('grant_type') === 'refresh_token')) {
        const r = form.get('refresh_token') ?? randomBytes(16).toString('hex');
        refresh.set(r, user);
        body.refresh_token = r;
      }
      answer(200, body, user);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  const self: ExternalIssuer = {
    refreshTokens: opts.refreshTokens ?? false,
    realm,
    issuer,
    service,
    jwksFile,
    config: { token: { builtin: false, jwks: jwksFile, issuer, service, realm } },
    mint,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return self;
}
