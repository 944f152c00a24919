// Helpers for the web UI tests: signing in over HTTP (cookie + CSRF token), calls
// with a session, and the database rows behind sessions.
import assert from 'node:assert/strict';
import { openMetadata } from '../../src/app.js';
import { sha256Hex } from '../../src/auth/accounts.js';
import type { TestServer } from '../helpers/api-server.js';
import { readJsonReply } from '../helpers/json-reply.js';

export interface Signed {
  /** The cookie's value (berth_session=…). */
  cookie: string;
  secret: string;
  csrf: string;
  setCookie: string;
}

export async function signIn(s: TestServer, username: string, password: string): Promise<Signed> {
  const res = await fetch(`${s.url}/ui/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-berth-csrf': 'sign-in' },
    body: JSON.stringify({ username, password }),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `sign in as ${username}: ${text}`);
  const setCookie = res.headers.get('set-cookie') ?? '';
  const m = /^berth_session=([^;]+)/.exec(setCookie);
  assert.ok(m, `session cookie in ${setCookie}`);
  return { cookie: `berth_session=${m[1]}`, secret: m[1], csrf: JSON.parse(text).csrf, setCookie };
}

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

/** A call with the session cookie; `csrf` undefined = no X-Berth-CSRF header. */
export async function withSession(
  s: TestServer,
  method: string,
  path: string,
  session: Signed | null,
  csrf: string | undefined,
  body?: unknown,
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (session) headers.cookie = session.cookie;
  if (csrf !== undefined) headers['x-berth-csrf'] = csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(s.url + path, { method, headers, body: body !== undefined ? JSON.stringify(body) : undefined, redirect: 'manual' });
  return readJsonReply(res);
}

/** The sessions table row of a cookie secret (by its SHA-256), read through a separate connection. */
export async function sessionRow(s: TestServer, secret: string): Promise<Record<string, unknown> | undefined> {
  const meta = await openMetadata(s.config);
  try {
    return await meta.db.selectFrom('sessions').selectAll().where('id', '=', sha256Hex(secret)).executeTakeFirst();
  } finally {
    await meta.close();
  }
}

export async function sessionCount(s: TestServer): Promise<number> {
  const meta = await openMetadata(s.config);
  try {
    const r = await meta.db
      .selectFrom('sessions')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  } finally {
    await meta.close();
  }
}
