// Bearer-token load: GET /v2/ and manifest GET by tag with a registry token, on a second pair of
// servers in token-auth mode. Berth issues its own tokens (built-in issuer) and holds a few
// revocations of other subjects, repositories and namespaces, as a live registry does; the
// reference registry trusts a certificate whose key the bench signs its tokens with.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import { libtrustKeyId } from '../../src/token/tokens.js';
import { config } from '../lib/config.js';
import { wrkGet } from '../lib/load.js';
import { MANIFEST_ACCEPT, makeImage, pushImage, sha256 } from '../lib/registry.js';
import type { Results } from '../lib/results.js';
import { type Server, type ServerOptions, startServer } from '../lib/servers.js';
import { rounds } from './load.js';

const SERVICE = 'berth-bench';
const ISSUER = 'berth-bench-issuer';
const ADMIN = { user: 'admin', password: 'bench-admin-password' };
const REPO = 'bench/bearer';

/** Server options for token auth on both sides; writes the reference's certificate and key into `dir`. */
export function bearerServerOptions(dir: string): { berth: ServerOptions; reference: ServerOptions; keyPem: string; certPem: string } {
  fs.mkdirSync(dir, { recursive: true });
  const key = path.join(dir, 'issuer-key.pem');
  const cert = path.join(dir, 'issuer-cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=berth-bench',
    ],
    {
      stdio: 'ignore',
    },
  );
  return {
    berth: {
      env: {
        REGISTRY_AUTH: 'token',
        REGISTRY_AUTH_TOKEN_SERVICE: SERVICE,
        // Long enough for every round; the verification cache keeps a token until it expires.
        REGISTRY_AUTH_TOKEN_EXPIRATION: '1h',
        REGISTRY_AUTH_ACCOUNTS_ADMINPASSWORD: ADMIN.password,
        REGISTRY_AUTH_ACCOUNTS_BCRYPTCOST: '4',
      },
    },
    reference: {
      referenceYaml: [
        'auth:',
        '  token:',
        '    realm: http://127.0.0.1:9/token',
        `    service: ${SERVICE}`,
        `    issuer: ${ISSUER}`,
        `    rootcertbundle: ${cert}`,
      ],
    },
    keyPem: fs.readFileSync(key, 'utf8'),
    certPem: fs.readFileSync(cert, 'utf8'),
  };
}

export async function startBearerServers(workDir: string, berthCmd?: string): Promise<{ servers: Server[]; sign: (access: Access[]) => Promise<string> }> {
  const opts = bearerServerOptions(path.join(workDir, 'bearer-issuer'));
  const berth = await startServer('berth', config.selftest ? 'reference' : 'berth', path.join(workDir, 'bearer'), { ...opts.berth, berthCmd });
  const reference = await startServer('reference', 'reference', path.join(workDir, 'bearer'), opts.reference);
  const key = createPrivateKey(opts.keyPem);
  const kid = libtrustKeyId(new X509Certificate(opts.certPem).publicKey);
  const sign = (access: Access[]) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ access })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setSubject('bench')
      .setAudience(SERVICE)
      .setIssuedAt(now)
      .setNotBefore(now - 1)
      .setExpirationTime(now + 3600)
      .setJti(randomBytes(12).toString('hex'))
      .sign(key);
  };
  return { servers: [berth, reference], sign };
}

interface Access {
  type: string;
  name: string;
  actions: string[];
}

const basic = `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`;

async function berthToken(base: string, scopes: string[]): Promise<string> {
  const q = new URLSearchParams({ service: SERVICE });
  for (const s of scopes) q.append('scope', s);
  const res = await fetch(`${base}/token?${q}`, { headers: { Authorization: basic } });
  if (res.status !== 200) throw new Error(`GET /token: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

async function api(base: string, method: string, p: string, body?: unknown): Promise<void> {
  const res = await fetch(`${base}/api/v1${p}`, {
    method,
    headers: { Authorization: basic, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  await res.arrayBuffer();
  if (res.status >= 300) throw new Error(`${method} /api/v1${p}: HTTP ${res.status}`);
}

/** Rights taken away from others, so each check after a cache hit looks in non-empty maps (a no-op on builds without revocations). */
async function someRevocations(base: string, token: string): Promise<void> {
  await pushImage(base, 'bench/other', 'v1', makeImage(), { Authorization: `Bearer ${token}` });
  await api(base, 'PATCH', '/repositories/bench/other', { visibility: 'public' });
  await api(base, 'PATCH', '/repositories/bench/other', { visibility: 'private' });
  await api(base, 'POST', '/users', { username: 'gone', password: 'gone-password-1' });
  await api(base, 'DELETE', '/users/gone');
  await api(base, 'POST', '/orgs', { name: 'benchorg' });
  await api(base, 'POST', '/orgs/benchorg/teams', { name: 'devs', permission: 'write' });
  await api(base, 'PATCH', '/orgs/benchorg/teams/devs', { permission: 'read' });
}

/** Tokens for each server: one with no grants (GET /v2/), one to pull REPO. Pushes the image first. */
async function prepare(s: Server, sign: (access: Access[]) => Promise<string>): Promise<{ base: string; pull: string; digest: string }> {
  const img = makeImage();
  const own = s.column === 'berth' && !config.selftest;
  const push = own
    ? await berthToken(s.base, [`repository:${REPO}:pull,push`, 'repository:bench/other:pull,push'])
    : await sign([{ type: 'repository', name: REPO, actions: ['pull', 'push'] }]);
  await pushImage(s.base, REPO, 'latest', img, { Authorization: `Bearer ${push}` });
  if (own) await someRevocations(s.base, push);
  const base = own ? await berthToken(s.base, []) : await sign([]);
  const pull = own ? await berthToken(s.base, [`repository:${REPO}:pull`]) : await sign([{ type: 'repository', name: REPO, actions: ['pull'] }]);
  // Correctness before speed: both tokens work, and the tag resolves to the bytes pushed.
  const v2 = await fetch(`${s.base}/v2/`, { headers: { Authorization: `Bearer ${base}` } });
  await v2.arrayBuffer();
  if (v2.status !== 200) throw new Error(`bearer GET /v2/: HTTP ${v2.status}`);
  const get = await fetch(`${s.base}/v2/${REPO}/manifests/latest`, { headers: { Authorization: `Bearer ${pull}`, Accept: MANIFEST_ACCEPT } });
  const body = Buffer.from(await get.arrayBuffer());
  if (get.status !== 200 || sha256(body) !== img.digest) throw new Error(`bearer manifest GET: HTTP ${get.status}, digest ${sha256(body)}`);
  return { base, pull, digest: img.digest };
}

export async function bearerSection(servers: Server[], res: Results, sign: (access: Access[]) => Promise<string>): Promise<void> {
  const tokens = new Map<Server, { base: string; pull: string }>();
  for (const s of servers) await res.guard(s, 'bearer', async () => void tokens.set(s, await prepare(s, sign)));
  const ready = servers.filter((s) => tokens.has(s));
  await rounds(
    ready,
    res,
    'bearer GET /v2/ (wrk)',
    'bearer_base',
    (s, secs) => wrkGet(`${s.base}/v2/`, { Authorization: `Bearer ${tokens.get(s)!.base}` }, secs, config.connections),
    'bearer',
  );
  await rounds(
    [...ready].reverse(),
    res,
    'bearer manifest GET (wrk)',
    'bearer_manifest',
    (s, secs) =>
      wrkGet(`${s.base}/v2/${REPO}/manifests/latest`, { Authorization: `Bearer ${tokens.get(s)!.pull}`, Accept: MANIFEST_ACCEPT }, secs, config.connections),
    'bearer',
  );
  res.note(
    'Bearer rows: a second pair of servers with token auth. Berth runs its built-in issuer and holds revocations of another subject, repository and namespace; ' +
      "the reference trusts a certificate (auth.token.rootcertbundle) whose key signs the bench's tokens. Same wrk settings as the manifest GET row.",
  );
}
