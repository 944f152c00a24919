// The caller's own pages: sign in, access tokens (created with scopes, a resource and
// an expiry; the secret is shown once), and what they watch with its new tags.
import { useState } from 'preact/hooks';
import { ApiError, api, errorText, setCsrf, ui } from './api.js';
import { Alert, CopyLine, LoadError, NeedSignIn, PageTitle, Spinner, Table, Time, navigate, repoPath, useAction, useLoad, useSession } from './components.js';

export function SignInPage({ next }: { next: string | null }) {
  const { user, setUser } = useSession();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const target = next?.startsWith('/ui/') && !next.startsWith('/ui/sign-in') ? next : '/ui/';
  if (user) {
    return (
      <div class="container narrow card">
        <PageTitle title="Signed in" />
        <p>
          You are signed in as <strong>{user.name}</strong>. <a href={target}>Continue</a>.
        </p>
      </div>
    );
  }
  return (
    <div class="container narrow">
      <div class="card">
        <PageTitle title="Sign in to Berth" />
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            setBusy(true);
            setError('');
            try {
              const r = await ui.signIn(username.trim(), password);
              setCsrf(r.csrf);
              setUser(r.user);
              navigate(target, true);
            } catch (err) {
              setError(err instanceof ApiError && err.status === 401 ? 'Wrong username or password.' : errorText(err));
            } finally {
              setBusy(false);
            }
          }}
        >
          <div class="field">
            <label for="username">Username</label>
            <input
              id="username"
              name="username"
              type="text"
              autoComplete="username"
              autoCapitalize="none"
              spellcheck={false}
              required
              value={username}
              onInput={(e) => setUsername(e.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for="password">Password</label>
            <input
              id="password"
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          </div>
          <Alert>{error}</Alert>
          <button type="submit" class="primary" style={{ width: '100%' }} disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
        <p class="small muted" style={{ marginTop: '1rem' }}>
          Sign in with your password. Access tokens are for <code>docker login</code> and the API.
        </p>
      </div>
    </div>
  );
}

interface Token {
  id: number;
  name: string;
  scopes: string[];
  resource: string | null;
  expiresAt: number | null;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export function TokensPage() {
  const { user } = useSession();
  const list = useLoad<{ tokens: Token[] } | null>(() => (user ? api.get('/user/tokens') : Promise.resolve(null)), [user?.name]);
  const [form, setForm] = useState({ name: '', scopes: ['pull'] as string[], resource: '', days: '90' });
  const [created, setCreated] = useState<{ name: string; secret: string } | null>(null);
  const act = useAction();
  if (!user) return <NeedSignIn what="manage your access tokens" />;
  const now = Date.now();
  return (
    <>
      <PageTitle title="Access tokens" />
      <p class="muted">
        Use a token instead of your password with <code>docker login -u {user.name}</code> or as a Bearer token on the API. Each is limited to the actions,
        repositories and time you choose.
      </p>
      <div class="grid two">
        <section class="card" aria-labelledby="tokens-h">
          <h2 id="tokens-h">Your tokens</h2>
          {list.error ? <LoadError error={list.error} /> : null}
          {!list.data ? (
            <Spinner />
          ) : list.data.tokens.length === 0 ? (
            <p class="muted">No tokens yet.</p>
          ) : (
            <Table columns={['Name', 'Scopes', 'Resource', 'Expires', 'Last used']} actions>
              {list.data.tokens.map((t) => {
                const dead = t.revokedAt !== null || (t.expiresAt !== null && t.expiresAt <= now);
                return (
                  <tr key={t.id}>
                    <td data-label="Name">
                      <strong>{t.name}</strong>{' '}
                      {t.revokedAt ? <span class="badge private">revoked</span> : dead ? <span class="badge private">expired</span> : null}
                    </td>
                    <td data-label="Scopes">{t.scopes.join(', ')}</td>
                    <td data-label="Resource" class="mono small">
                      {t.resource ?? 'all repositories'}
                    </td>
                    <td data-label="Expires">{t.expiresAt ? <Time ms={t.expiresAt} /> : 'never'}</td>
                    <td data-label="Last used">
                      <Time ms={t.lastUsedAt} />
                    </td>
                    <td>
                      {t.revokedAt ? null : (
                        <button
                          type="button"
                          class="small danger"
                          disabled={act.busy}
                          onClick={async () => {
                            if (
                              confirm(`Revoke the token "${t.name}"? Clients using it stop working.`) &&
                              (await act.run(() => api.del(`/user/tokens/${t.id}`)))
                            )
                              list.reload();
                          }}
                        >
                          Revoke <span class="sr-only">{t.name}</span>
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </Table>
          )}
        </section>
        <section class="card" aria-labelledby="new-token-h">
          <h2 id="new-token-h">New token</h2>
          {created ? (
            <div class="secret" role="status">
              <p>
                <strong>{created.name}</strong> was created. Copy its secret now: it is not shown again.
              </p>
              <CopyLine text={created.secret} what="token secret" />
            </div>
          ) : null}
          <form
            style={{ marginTop: '1rem' }}
            onSubmit={async (e) => {
              e.preventDefault();
              setCreated(null);
              await act.run(async () => {
                const r = await api.post<{ name: string; secret: string }>('/user/tokens', {
                  name: form.name.trim(),
                  scopes: form.scopes,
                  resource: form.resource.trim() || null,
                  ...(form.days ? { expiresInDays: Number(form.days) } : {}),
                });
                setCreated({ name: r.name, secret: r.secret });
                setForm({ ...form, name: '' });
                list.reload();
              });
            }}
          >
            <div class="field">
              <label for="t-name">Name</label>
              <input
                id="t-name"
                type="text"
                required
                maxLength={100}
                placeholder="ci"
                value={form.name}
                onInput={(e) => setForm({ ...form, name: e.currentTarget.value })}
              />
            </div>
            <fieldset>
              <legend>Scopes</legend>
              {['pull', 'push', 'delete'].map((s) => (
                <label class="check" key={s}>
                  <input
                    type="checkbox"
                    name="scopes"
                    value={s}
                    checked={form.scopes.includes(s)}
                    onChange={(e) => setForm({ ...form, scopes: e.currentTarget.checked ? [...form.scopes, s] : form.scopes.filter((x) => x !== s) })}
                  />
                  {s}
                </label>
              ))}
            </fieldset>
            <div class="field">
              <label for="t-resource">
                Repositories <span class="hint">empty = all; "{user.name}/*" = a namespace; or one repository</span>
              </label>
              <input
                id="t-resource"
                type="text"
                placeholder={`${user.name}/*`}
                value={form.resource}
                onInput={(e) => setForm({ ...form, resource: e.currentTarget.value })}
              />
            </div>
            <div class="field">
              <label for="t-days">Expires</label>
              <select id="t-days" value={form.days} onChange={(e) => setForm({ ...form, days: e.currentTarget.value })}>
                <option value="7">in 7 days</option>
                <option value="30">in 30 days</option>
                <option value="90">in 90 days</option>
                <option value="365">in a year</option>
                <option value="">never</option>
              </select>
            </div>
            <Alert>{act.error}</Alert>
            <button type="submit" class="primary" disabled={act.busy || form.scopes.length === 0}>
              Create token
            </button>
          </form>
        </section>
      </div>
    </>
  );
}

interface Notification {
  id: number;
  repository: string;
  tag: string;
  digest: string;
  pusher: string | null;
  at: number;
  unread: boolean;
}

export function NotificationsPage() {
  const { user } = useSession();
  const watching = useLoad<{ watching: { repository: string; source: string; since: number }[] } | null>(
    () => (user ? api.get('/user/watching') : Promise.resolve(null)),
    [user?.name],
  );
  const notes = useLoad<{ notifications: Notification[]; unread: number } | null>(
    () => (user ? api.get('/user/notifications?n=50') : Promise.resolve(null)),
    [user?.name],
  );
  const act = useAction();
  if (!user) return <NeedSignIn what="see what you watch" />;
  return (
    <>
      <PageTitle title="Watching" />
      <div class="grid two">
        <section class="card" aria-labelledby="notes-h">
          <div class="row spread">
            <h2 id="notes-h">New tags {notes.data?.unread ? <span class="badge">{notes.data.unread} new</span> : null}</h2>
            {notes.data?.unread ? (
              <button
                type="button"
                class="small"
                onClick={async () => {
                  if (await act.run(() => api.post('/user/notifications/seen'))) notes.reload();
                }}
              >
                Mark all read
              </button>
            ) : null}
          </div>
          <Alert>{act.error}</Alert>
          {notes.error ? <LoadError error={notes.error} /> : null}
          {!notes.data ? (
            notes.error ? null : (
              <Spinner />
            )
          ) : notes.data.notifications.length === 0 ? (
            <p class="muted">Nothing new. Star or watch a repository to hear about its new tags.</p>
          ) : (
            <ul class="results">
              {notes.data.notifications.map((n) => (
                <li key={n.id} class="row">
                  {n.unread ? <span class="badge public">new</span> : null}
                  <span class="grow">
                    <a href={repoPath(n.repository, `manifests/${n.tag}`)}>
                      {n.repository}:{n.tag}
                    </a>{' '}
                    <span class="small muted">{n.pusher ? `pushed by ${n.pusher}` : 'pushed'}</span>
                  </span>
                  <Time ms={n.at} />
                </li>
              ))}
            </ul>
          )}
        </section>
        <aside class="card" aria-labelledby="watching-h">
          <h2 id="watching-h">Repositories you watch</h2>
          {watching.error ? <LoadError error={watching.error} /> : null}
          {!watching.data ? (
            watching.error ? null : (
              <Spinner />
            )
          ) : watching.data.watching.length === 0 ? (
            <p class="muted">None yet.</p>
          ) : (
            <ul class="results">
              {watching.data.watching.map((w) => (
                <li key={w.repository}>
                  <a href={repoPath(w.repository)}>{w.repository}</a> <span class="small muted">({w.source === 'star' ? 'starred' : 'watching'})</span>
                </li>
              ))}
            </ul>
          )}
        </aside>
      </div>
    </>
  );
}
