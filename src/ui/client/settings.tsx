// Repository settings for its administrators: visibility, description and README,
// comments on or off, collaborators, webhooks with their delivery log, and the repository's own
// signature trust policy (trust-policies.tsx).
import { useState } from 'preact/hooks';
import { api } from './api.js';
import { Alert, CopyLine, LoadError, Spinner, Table, Time, useAction, useLoad } from './components.js';
import type { RepoInfo } from './repository.js';
import { TrustPolicyCard } from './trust-policies.js';

export function RepositorySettings({ name, visibility, info, onChanged }: { name: string; visibility: string; info: RepoInfo; onChanged: () => void }) {
  return (
    <div class="stack">
      <General name={name} visibility={visibility} info={info} onChanged={onChanged} />
      <Collaborators name={name} />
      <Webhooks name={name} />
      <TrustPolicyCard path={`/repositories/${name}/trust-policy`} heading="Signature trust policy" canEdit id="repo-trust" />
    </div>
  );
}

function General({ name, visibility, info, onChanged }: { name: string; visibility: string; info: RepoInfo; onChanged: () => void }) {
  const vis = useAction();
  const desc = useAction();
  const comments = useAction();
  const [description, setDescription] = useState(info.description ?? '');
  const [readme, setReadme] = useState(info.readme ?? '');
  const [saved, setSaved] = useState('');
  return (
    <section class="card" aria-labelledby="general-h">
      <h2 id="general-h">General</h2>
      <fieldset>
        <legend>Visibility</legend>
        <p class="small muted">Private repositories are visible only to their owners, teams and collaborators.</p>
        <div class="row">
          <span class={`badge ${visibility}`}>{visibility}</span>
          <button
            type="button"
            disabled={vis.busy}
            onClick={async () => {
              const next = visibility === 'public' ? 'private' : 'public';
              if (next === 'public' && !confirm(`Make ${name} public? Anyone will be able to pull it.`)) return;
              if (await vis.run(() => api.patch(`/repositories/${name}`, { visibility: next }))) onChanged();
            }}
          >
            Make {visibility === 'public' ? 'private' : 'public'}
          </button>
        </div>
        <Alert>{vis.error}</Alert>
      </fieldset>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setSaved('');
          if (await desc.run(() => api.put(`/repositories/${name}/description`, { description, readme }))) {
            setSaved('Saved.');
            onChanged();
          }
        }}
      >
        <div class="field">
          <label for="s-desc">
            Short description <span class="hint">one line, at most 300 characters</span>
          </label>
          <input id="s-desc" type="text" maxLength={300} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="s-readme">
            README <span class="hint">Markdown</span>
          </label>
          <textarea id="s-readme" rows={10} value={readme} onInput={(e) => setReadme(e.currentTarget.value)} />
        </div>
        <Alert>{desc.error}</Alert>
        <Alert kind="ok">{saved}</Alert>
        <button type="submit" class="primary" disabled={desc.busy}>
          Save description
        </button>
      </form>
      <fieldset style={{ marginTop: '1rem' }}>
        <legend>Comments</legend>
        <label class="check">
          <input
            type="checkbox"
            checked={info.commentsEnabled}
            disabled={comments.busy}
            onChange={async (e) => {
              const enabled = e.currentTarget.checked;
              if (await comments.run(() => api.put(`/repositories/${name}/comments/settings`, { enabled }))) onChanged();
            }}
          />
          Allow comments
        </label>
        <Alert>{comments.error}</Alert>
      </fieldset>
    </section>
  );
}

function Collaborators({ name }: { name: string }) {
  const list = useLoad<{ collaborators: { name: string; permission: string }[] }>(() => api.get(`/repositories/${name}/collaborators`), [name]);
  const [user, setUser] = useState('');
  const [permission, setPermission] = useState('read');
  const act = useAction();
  return (
    <section class="card" aria-labelledby="collab-h">
      <h2 id="collab-h">Collaborators</h2>
      {list.error ? <LoadError error={list.error} /> : null}
      {!list.data ? (
        <Spinner />
      ) : list.data.collaborators.length === 0 ? (
        <p class="muted">No collaborators.</p>
      ) : (
        <Table columns={['User', 'Permission']} actions cards={false}>
          {list.data.collaborators.map((c) => (
            <tr key={c.name}>
              <td>{c.name}</td>
              <td>
                <label class="sr-only" for={`perm-${c.name}`}>
                  Permission of {c.name}
                </label>
                <select
                  id={`perm-${c.name}`}
                  value={c.permission}
                  onChange={async (e) => {
                    const p = e.currentTarget.value;
                    if (await act.run(() => api.put(`/repositories/${name}/collaborators/${c.name}`, { permission: p }))) list.reload();
                  }}
                >
                  <option value="read">read</option>
                  <option value="write">write</option>
                  <option value="admin">admin</option>
                </select>
              </td>
              <td>
                <button
                  type="button"
                  class="small danger"
                  onClick={async () => {
                    if (await act.run(() => api.del(`/repositories/${name}/collaborators/${c.name}`))) list.reload();
                  }}
                >
                  Remove <span class="sr-only">{c.name}</span>
                </button>
              </td>
            </tr>
          ))}
        </Table>
      )}
      <form
        class="row"
        style={{ marginTop: '1rem', alignItems: 'flex-end' }}
        onSubmit={async (e) => {
          e.preventDefault();
          if (await act.run(() => api.put(`/repositories/${name}/collaborators/${user.trim()}`, { permission }))) {
            setUser('');
            list.reload();
          }
        }}
      >
        <div class="grow">
          <label for="c-user">Add a user</label>
          <input id="c-user" type="text" required value={user} autoComplete="off" onInput={(e) => setUser(e.currentTarget.value)} />
        </div>
        <div>
          <label for="c-perm">Permission</label>
          <select id="c-perm" value={permission} onChange={(e) => setPermission(e.currentTarget.value)}>
            <option value="read">read</option>
            <option value="write">write</option>
            <option value="admin">admin</option>
          </select>
        </div>
        <button type="submit" class="primary" disabled={act.busy}>
          Add
        </button>
      </form>
      <Alert>{act.error}</Alert>
    </section>
  );
}

interface Hook {
  id: number;
  name: string | null;
  url: string;
  events: string[];
  tagPattern: string | null;
  format: string;
  active: boolean;
  createdAt: number;
}
interface Delivery {
  id: number;
  event: string;
  tag: string | null;
  status: string;
  attempts: number;
  createdAt: number;
  lastStatusCode: number | null;
  lastError: string | null;
}

const EVENTS = ['push', 'tag.delete', 'manifest.delete', 'repository.create', 'repository.delete'];
const FORMATS = [
  ['dockerhub', 'Docker Hub'],
  ['distribution', 'distribution notifications'],
  ['cloudevents', 'CloudEvents 1.0'],
];

function Webhooks({ name }: { name: string }) {
  const list = useLoad<{ webhooks: Hook[] }>(() => api.get(`/repositories/${name}/webhooks`), [name]);
  const [form, setForm] = useState({ url: '', name: '', tagPattern: '', format: 'dockerhub', events: ['push'] as string[] });
  const [secret, setSecret] = useState('');
  const [open, setOpen] = useState<number | null>(null);
  const act = useAction();
  if (list.error) {
    return (
      <section class="card" aria-labelledby="hooks-h">
        <h2 id="hooks-h">Webhooks</h2>
        <LoadError error={list.error} />
      </section>
    );
  }
  return (
    <section class="card" aria-labelledby="hooks-h">
      <h2 id="hooks-h">Webhooks</h2>
      <p class="small muted">Berth posts an event to each URL when tags are pushed or deleted, signed with the webhook's secret.</p>
      {!list.data ? (
        <Spinner />
      ) : list.data.webhooks.length === 0 ? (
        <p class="muted">No webhooks.</p>
      ) : (
        <ul class="results" aria-label="Webhooks">
          {list.data.webhooks.map((h) => (
            <li key={h.id} class="card" style={{ boxShadow: 'none' }}>
              <div class="row spread">
                <div class="grow">
                  <strong>{h.name || h.url}</strong>
                  {h.name ? <div class="small muted mono">{h.url}</div> : null}
                  <div class="meta">
                    <span>{h.events.join(', ')}</span>
                    <span>{h.format}</span>
                    {h.tagPattern ? <span>tags {h.tagPattern}</span> : null}
                    <span class={`badge ${h.active ? 'public' : ''}`}>{h.active ? 'active' : 'paused'}</span>
                  </div>
                </div>
                <div class="row">
                  <button type="button" class="small" aria-expanded={open === h.id ? 'true' : 'false'} onClick={() => setOpen(open === h.id ? null : h.id)}>
                    Deliveries
                  </button>
                  <button
                    type="button"
                    class="small"
                    onClick={async () => {
                      if (await act.run(() => api.patch(`/webhooks/${h.id}`, { active: !h.active }))) list.reload();
                    }}
                  >
                    {h.active ? 'Pause' : 'Resume'}
                  </button>
                  <button
                    type="button"
                    class="small danger"
                    onClick={async () => {
                      if (confirm('Delete this webhook?') && (await act.run(() => api.del(`/webhooks/${h.id}`)))) list.reload();
                    }}
                  >
                    Delete
                  </button>
                </div>
              </div>
              {open === h.id ? <Deliveries id={h.id} /> : null}
            </li>
          ))}
        </ul>
      )}
      <Alert>{act.error}</Alert>
      {secret ? (
        <div class="secret" role="status">
          <p>
            <strong>Webhook created.</strong> Its signing secret is shown only now:
          </p>
          <CopyLine text={secret} what="webhook secret" />
        </div>
      ) : null}
      <form
        style={{ marginTop: '1rem' }}
        onSubmit={async (e) => {
          e.preventDefault();
          setSecret('');
          await act.run(async () => {
            const r = await api.post<{ secret: string }>(`/repositories/${name}/webhooks`, {
              url: form.url.trim(),
              ...(form.name.trim() ? { name: form.name.trim() } : {}),
              ...(form.tagPattern.trim() ? { tagPattern: form.tagPattern.trim() } : {}),
              format: form.format,
              events: form.events,
            });
            setSecret(r.secret);
            setForm({ ...form, url: '', name: '', tagPattern: '' });
            list.reload();
          });
        }}
      >
        <h3>Add a webhook</h3>
        <div class="field">
          <label for="w-url">Payload URL</label>
          <input
            id="w-url"
            type="url"
            required
            placeholder="https://ci.example.org/hooks/berth"
            value={form.url}
            onInput={(e) => setForm({ ...form, url: e.currentTarget.value })}
          />
        </div>
        <div class="field">
          <label for="w-name">
            Name <span class="hint">optional</span>
          </label>
          <input id="w-name" type="text" value={form.name} onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} />
        </div>
        <fieldset>
          <legend>Events</legend>
          {EVENTS.map((ev) => (
            <label class="check" key={ev}>
              <input
                type="checkbox"
                checked={form.events.includes(ev)}
                onChange={(e) => setForm({ ...form, events: e.currentTarget.checked ? [...form.events, ev] : form.events.filter((x) => x !== ev) })}
              />
              {ev}
            </label>
          ))}
        </fieldset>
        <div class="field">
          <label for="w-tags">
            Tag pattern <span class="hint">optional, e.g. v*</span>
          </label>
          <input id="w-tags" type="text" value={form.tagPattern} onInput={(e) => setForm({ ...form, tagPattern: e.currentTarget.value })} />
        </div>
        <div class="field">
          <label for="w-format">Payload format</label>
          <select id="w-format" value={form.format} onChange={(e) => setForm({ ...form, format: e.currentTarget.value })}>
            {FORMATS.map(([v, l]) => (
              <option value={v} key={v}>
                {l}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" class="primary" disabled={act.busy || form.events.length === 0}>
          Add webhook
        </button>
      </form>
    </section>
  );
}

function Deliveries({ id }: { id: number }) {
  const list = useLoad<{ deliveries: Delivery[] }>(() => api.get(`/webhooks/${id}/deliveries?n=20`), [id]);
  const act = useAction();
  if (list.error) return <LoadError error={list.error} />;
  if (!list.data) return <Spinner />;
  if (list.data.deliveries.length === 0) return <p class="small muted">No deliveries yet.</p>;
  return (
    <Table columns={['Event', 'Status', 'Response', 'When']} actions style={{ marginTop: '.75rem' }}>
      {list.data.deliveries.map((d) => (
        <tr key={d.id}>
          <td data-label="Event">
            {d.event}
            {d.tag ? <span class="muted"> · {d.tag}</span> : null}
          </td>
          <td data-label="Status">
            <span class={`badge ${d.status === 'delivered' ? 'public' : d.status === 'dead' ? 'private' : ''}`}>{d.status}</span>{' '}
            <span class="small muted">{d.attempts} tries</span>
          </td>
          <td data-label="Response" class="small">
            {d.lastStatusCode ?? d.lastError ?? '—'}
          </td>
          <td data-label="When">
            <Time ms={d.createdAt} />
          </td>
          <td>
            <button
              type="button"
              class="small"
              disabled={act.busy}
              onClick={async () => {
                if (await act.run(() => api.post(`/webhooks/${id}/deliveries/${d.id}/redeliver`))) list.reload();
              }}
            >
              Redeliver
            </button>
          </td>
        </tr>
      ))}
    </Table>
  );
}
