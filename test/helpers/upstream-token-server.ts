// The token server of a token-authenticated upstream (docker-registry with `auth.token`), the way
// Docker Hub and every token registry work: the registry answers 401 with
// `WWW-Authenticate: Bearer realm=…,service=…,scope=…`, the client fetches a JWT here and retries.
// docker-registry 2.8 trusts JWTs whose `x5c` header chains to a certificate of its `rootcertbundle`,
// so this server makes a self-signed certificate (openssl) and signs with its key.
// A configured user gets every action asked for; anonymous callers get `pull` (unless refused).
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { SignJWT, importPKCS8 } from 'jose';
import { BIN } from './clients.js';
import { tempDir } from './shared.js';

const execFileP = promisify(execFile);

export interface TokenServerOptions {
  /** user → password; these get every action they ask for (pull, push, delete, catalog). */
  users?: Record<string, string>;
  /** Whether anonymous callers get `pull` on every repository (default true, as on Docker Hub). */
  anonymousPull?: boolean;
  /** Signature algorithm (default ES256). */
  alg?: 'ES256' | 'RS256';
  /** Token lifetime in seconds (default 300). */
  expiresIn?: number;
}

export interface TokenRequest {
  method: string;
  /** "" for anonymous callers */
  user: string;
  scopes: string[];
  /** 200, 401 (bad credentials) or 400 */
  status: number;
  /** what was granted: "repository:library/tiny:pull" … */
  granted: string[];
}

export interface UpstreamTokenServer {
  /** http://127.0.0.1:PORT/token — auth.token.realm */
  realm: string;
  service: string;
  issuer: string;
  /** PEM file with the signing certificate — auth.token.rootcertbundle */
  rootCertBundle: string;
  /** Every request answered, in order. */
  readonly requests: TokenRequest[];
  /** Requests answered with a token (optionally only those of `user`; "" = anonymous). */
  count(user?: string): number;
  /** A token for `sub` with exactly `access`, signed as the server signs. */
  mint(sub: string, access: { type: string; name: string; actions: string[] }[]): Promise<string>;
  /** `docker-registry` environment (REGISTRY_AUTH=token …) trusting this server. */
  registryEnv(): Record<string, string>;
  close(): Promise<void>;
}

export async function startUpstreamTokenServer(opts: TokenServerOptions = {}): Promise<UpstreamTokenServer> {
  const alg = opts.alg ?? 'ES256';
  const users = opts.users ?? {};
  const anonymousPull = opts.anonymousPull ?? true;
  const expiresIn = opts.expiresIn ?? 300;
  const dir = tempDir('upstream-token');
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  const keyArgs = alg === 'ES256' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['-newkey', 'rsa:2048'];
  await execFileP(BIN.openssl, [
    'req',
    '-x509',
    ...keyArgs,
    '-nodes',
    '-sha256',
    '-days',
    '2',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-subj',
    '/CN=berth-test-upstream-token',
  ]);
  const key = await importPKCS8(fs.readFileSync(keyFile, 'utf8'), alg);
  const certDer = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(fs.readFileSync(certFile, 'utf8'))![1].replace(/\s+/g, '');
  const issuer = 'berth-test-upstream-issuer';
  const service = 'berth-test-upstream';
  const requests: TokenRequest[] = [];

  const mint: UpstreamTokenServer['mint'] = (sub, access) => {
    const now = Math.floor(Date.now() / 1000);
    // docker-registry 2.8 reads `aud` as one string, so a single audience
    return new SignJWT({ access })
      .setProtectedHeader({ alg, typ: 'JWT', x5c: [certDer] })
      .setIssuer(issuer)
      .setAudience(service)
      .setSubject(sub)
      .setIssuedAt(now)
      .setNotBefore(now - 5)
      .setExpirationTime(now + expiresIn)
      .setJti(randomBytes(8).toString('hex'))
      .sign(key);
  };

  const grant = (user: string, scopes: string[]) => {
    const out: { type: string; name: string; actions: string[] }[] = [];
    for (const scope of scopes) {
      // repository:library/tiny:pull,push — the name may hold a port ("host:5000/x") in theory, so split from both ends
      const first = scope.indexOf(':');
      const last = scope.lastIndexOf(':');
      if (first < 0 || last <= first) continue;
      const type = scope.slice(0, first);
      const name = scope.slice(first + 1, last);
      const wanted = scope
        .slice(last + 1)
        .split(',')
        .filter(Boolean);
      const actions = user ? wanted : type === 'repository' && anonymousPull ? wanted.filter((a) => a === 'pull') : [];
      if (actions.length) out.push({ type, name, actions });
    }
    return out;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://token');
      const form = new URLSearchParams(req.method === 'POST' ? Buffer.concat(chunks).toString() : '');
      const params = req.method === 'POST' ? form : url.searchParams;
      const scopes = params
        .getAll('scope')
        .flatMap((s) => s.split(' '))
        .filter(Boolean);
      const answer = (status: number, body: object, user: string, granted: string[] = []) => {
        requests.push({ method: req.method ?? '', user, scopes, status, granted });
        res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
      };
      if (url.pathname !== '/token') return answer(404, { errors: [{ code: 'NOT_FOUND' }] }, '');
      let user = '';
      const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
      if (basic) {
        const text = Buffer.from(basic[1], 'base64').toString();
        const name = text.slice(0, text.indexOf(':'));
        if (!(name in users) || users[name] !== text.slice(text.indexOf(':') + 1)) return answer(401, { errors: [{ code: 'UNAUTHORIZED' }] }, name);
        user = name;
      } else if (req.method === 'POST' && form.get('grant_type') === 'password') {
        const name = form.get('username') ?? '';
        if (!(name in users) || users[name] !== form.get('password')) return answer(401, { error: 'invalid_grant' }, name);
        user = name;
      } else if (req.method === 'POST' && form.get('grant_type') !== null) {
        return answer(400, { error: 'unsupported_grant_type' }, '');
      }
      const access = grant(user, scopes);
      void mint(user || 'anonymous', access).then(
        (token) =>
          answer(
            200,
            { token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() },
            user,
            access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`),
          ),
        (e: Error) => answer(500, { error: e.message }, user),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  return {
    realm,
    service,
    issuer,
    rootCertBundle: certFile,
    requests,
    count: (user) => requests.filter((r) => r.status === 200 && (user === undefined || r.user === user)).length,
    mint,
    registryEnv: () => ({
      REGISTRY_AUTH: 'token',
      REGISTRY_AUTH_TOKEN_REALM: realm,
      REGISTRY_AUTH_TOKEN_SERVICE: service,
      REGISTRY_AUTH_TOKEN_ISSUER: issuer,
      REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE: certFile,
    }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
