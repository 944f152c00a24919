// Asks a token endpoint (an external issuer's realm) for a registry token the way
// c/image does: GET realm?service=…&scope=… with the caller's own Authorization header.
// The realm comes from the operator's configuration, so it is trusted like a
// notifications endpoint; redirects are refused and the wait is bounded.

export class TokenEndpointError extends Error {}

/** The token the endpoint issued, or null when it refused the credentials (4xx). Throws TokenEndpointError when it cannot be asked. */
export async function requestToken(
  realm: string,
  params: { service: string; scope: string; authorization: string; timeoutMs?: number },
): Promise<string | null> {
  const url = new URL(realm);
  url.searchParams.set('service', params.service);
  url.searchParams.set('scope', params.scope);
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { Authorization: params.authorization, Accept: 'application/json' },
      redirect: 'error',
      signal: AbortSignal.timeout(params.timeoutMs ?? 5000),
    });
  } catch (err) {
    throw new TokenEndpointError(`token endpoint ${url.origin}${url.pathname} unreachable: ${(err as Error).message}`);
  }
  const text = await res.text().catch(() => '');
  if (res.status >= 400 && res.status < 500) return null;
  if (res.status !== 200) throw new TokenEndpointError(`token endpoint ${url.origin}${url.pathname} answered ${res.status}`);
  try {
    const body = JSON.parse(text) as { token?: unknown; access_token?: unknown };
    const token = typeof body.token === 'string' ? body.token : body.access_token;
    if (typeof token === 'string' && token) return token;
  } catch {
    /* not JSON: below */
  }
  throw new TokenEndpointError(`token endpoint ${url.origin}${url.pathname} answered 200 without a token`);
}
