// Administrators' pages: users (create, disable, make admin) and the comment
// moderation queue (approve or reject held and reported comments); quotas are in quotas.tsx,
// replication policies in replication.tsx, the global trust and vulnerability policies in trust-policies.tsx.
import { useState } from 'preact/hooks';
import { api } from './api.js';
import { Alert, LoadError, NeedSignIn, PageTitle, Spinner, Table, Time, repoPath, useAction, useLoad, useSession } from './components.js';

export function AdminTabs({ current }: { current: 'users' | 'moderation' | 'quotas' | 'replication' | 'security' }) {
  return (
    <nav class="tabs" aria-label="Administration">
      <a href="/ui/admin/users" aria-current={current === 'users' ? 'page' : undefined}>
        Users
      </a>
      <a href="/ui/admin/moderation" aria-current={current === 'moderation' ? 'page' : undefined}>
        Moderation
      </a>
      <a href="/ui/admin/quotas" aria-current={current === 'quotas' ? 'page' : undefined}>
        Quotas
      </a>
      <a href="/ui/admin/replication" aria-current={current === 'replication' ? 'page' : undefined}>
        Replication
      </a>
      <a href="/ui/admin/security" aria-current={current === 'security' ? 'page' : undefined}>
        Security
      </a>
    </nav>
  );
}

interface UserRow {
  name: string;
  email: string | null;
  admin: boolean;
  disabled: boolean;
  robotOf: string | null;
  createdAt: number;
}

export function UsersPage() {
  const { user } = useSession();
  const [after, setAfter] = useState<string[]>([]);
  const last = after[after.length - 1];
  const list = useLoad<{ users: UserRow[]; next?: string } | null>(
    () => (user?.admin ? api.get(`/users?n=50${last ? `&last=${encodeURIComponent(last)}` : ''}`) : Promise.resolve(null)),
    [user?.name, last],
  );
  const [form, setForm] = useState({ username: '', password: '', email: '', admin: false });
  const [created, setCreated] = useState('');
  const act = useAction();
  if (!user) return <NeedSignIn what="administer Berth" />;
  if (!user.admin) return <Alert>Administrators only.</Alert>;
  const patch = (u: UserRow, body: object) => act.run(() => api.patch(`/users/${u.name}`, body)).then((ok) => ok && list.reload());
  return (
    <>
      <PageTitle title="Administration" />
      <AdminTabs current="users" />
      <div class="grid two">
        <section class="card" aria-labelledby="users-h">
          <h2 id="users-h">Users</h2>
          <Alert>{act.error}</Alert>
          {list.error ? <LoadError error={list.error} /> : null}
          {!list.data ? (
            <Spinner />
          ) : (
            <Table columns={['User', 'Role', 'Created']} actions>
              {list.data.users.map((u) => (
                <tr key={u.name}>
                  <td data-label="User">
                    <strong>{u.name}</strong>
                    {u.email ? <div class="small muted">{u.email}</div> : null}
                  </td>
                  <td data-label="Role">
                    <span class="chips">
                      {u.robotOf ? <span class="badge">robot of {u.robotOf}</span> : null}
                      {u.admin ? <span class="badge public">admin</span> : null}
                      {u.disabled ? <span class="badge private">disabled</span> : null}
                      {!u.robotOf && !u.admin && !u.disabled ? <span class="badge">user</span> : null}
                    </span>
                  </td>
                  <td data-label="Created">
                    <Time ms={u.createdAt} />
                  </td>
                  <td>
                    {u.robotOf ? null : (
                      <div class="row">
                        <button type="button" class="small" disabled={act.busy} onClick={() => patch(u, { admin: !u.admin })}>
                          {u.admin ? 'Remove admin' : 'Make admin'} <span class="sr-only">{u.name}</span>
                        </button>
                        <button
                          type="button"
                          class={`small ${u.disabled ? '' : 'danger'}`}
                          disabled={act.busy || u.name === user.name}
                          onClick={() => patch(u, { disabled: !u.disabled })}
                        >
                          {u.disabled ? 'Enable' : 'Disable'} <span class="sr-only">{u.name}</span>
                        </button>
                      </div>
                    )}
                  </td>
                </tr>
              ))}
            </Table>
          )}
          <div class="pager">
            <button type="button" class="small" disabled={after.length === 0} onClick={() => setAfter(after.slice(0, -1))}>
              Previous
            </button>
            <button type="button" class="small" disabled={!list.data?.next} onClick={() => list.data?.next && setAfter([...after, list.data.next])}>
              Next
            </button>
          </div>
        </section>
        <section class="card" aria-labelledby="new-user-h">
          <h2 id="new-user-h">New user</h2>
          <form
            onSubmit={async (e) => {
              e.preventDefault();
              setCreated('');
              const ok = await act.run(() =>
                api.post('/users', {
                  username: form.username.trim(),
                  password: form.password,
                  ...(form.email.trim() ? { email: form.email.trim() } : {}),
                  admin: form.admin,
                }),
              );
              if (ok) {
                setCreated(`${form.username.trim()} was created.`);
                setForm({ username: '', password: '', email: '', admin: false });
                list.reload();
              }
            }}
          >
            <div class="field">
              <label for="u-name">Username</label>
              <input
                id="u-name"
                type="text"
                required
                autoComplete="off"
                autoCapitalize="none"
                value={form.username}
                onInput={(e) => setForm({ ...form, username: e.currentTarget.value })}
              />
            </div>
            <div class="field">
              <label for="u-password">Password</label>
              <input
                id="u-password"
                type="password"
                required
                autoComplete="new-password"
                value={form.password}
                onInput={(e) => setForm({ ...form, password: e.currentTarget.value })}
              />
            </div>
            <div class="field">
              <label for="u-email">
                Email <span class="hint">optional</span>
              </label>
              <input id="u-email" type="email" value={form.email} onInput={(e) => setForm({ ...form, email: e.currentTarget.value })} />
            </div>
            <div class="field">
              <label class="check">
                <input type="checkbox" checked={form.admin} onChange={(e) => setForm({ ...form, admin: e.currentTarget.checked })} /> Administrator
              </label>
            </div>
            <Alert kind="ok">{created}</Alert>
            <button type="submit" class="primary" disabled={act.busy}>
              Create user
            </button>
          </form>
        </section>
      </div>
    </>
  );
}

interface Held {
  id: number;
  repository: string;
  author: string;
  html: string;
  status: string;
  createdAt: number;
  reportCount?: number;
  reports: { user: string; reason: string | null }[];
}

export function ModerationPage() {
  const { user } = useSession();
  const list = useLoad<{ comments: Held[] } | null>(() => (user?.admin ? api.get('/moderation/comments?n=100') : Promise.resolve(null)), [user?.name]);
  const act = useAction();
  if (!user) return <NeedSignIn what="moderate comments" />;
  if (!user.admin) return <Alert>Administrators only.</Alert>;
  const decide = async (c: Held, what: 'approve' | 'reject') => {
    if (await act.run(() => api.post(`/moderation/comments/${c.id}/${what}`))) list.reload();
  };
  return (
    <>
      <PageTitle title="Administration" />
      <AdminTabs current="moderation" />
      <section class="card" aria-labelledby="queue-h">
        <h2 id="queue-h">Comments waiting for a moderator</h2>
        <p class="small muted">First comments of new accounts, and comments enough people reported, wait here until approved or rejected.</p>
        <Alert>{act.error}</Alert>
        {list.error ? <LoadError error={list.error} /> : null}
        {!list.data ? (
          list.error ? null : (
            <Spinner />
          )
        ) : list.data.comments.length === 0 ? (
          <p class="empty">The queue is empty.</p>
        ) : (
          <ul class="results" aria-label="Held comments">
            {list.data.comments.map((c) => (
              <li class="card" key={c.id} style={{ boxShadow: 'none' }}>
                <div class="row small muted">
                  <strong style={{ color: 'var(--text)' }}>{c.author}</strong>
                  <span>
                    on <a href={repoPath(c.repository, 'comments')}>{c.repository}</a>
                  </span>
                  <Time ms={c.createdAt} />
                  {c.reports.length ? <span class="badge private">{c.reports.length} reports</span> : null}
                </div>
                <div class="body" dangerouslySetInnerHTML={{ __html: c.html }} />
                {c.reports.length ? (
                  <ul class="small muted">
                    {c.reports.map((r, i) => (
                      <li key={i}>
                        {r.user}: {r.reason ?? 'no reason given'}
                      </li>
                    ))}
                  </ul>
                ) : null}
                <div class="row">
                  <button type="button" class="small primary" disabled={act.busy} onClick={() => decide(c, 'approve')}>
                    Approve
                  </button>
                  <button type="button" class="small danger" disabled={act.busy} onClick={() => decide(c, 'reject')}>
                    Reject
                  </button>
                </div>
              </li>
            ))}
          </ul>
        )}
      </section>
    </>
  );
}
